"""Whole resources: the chunk index's removal, count and claim check over one resource.

Selected by the stamped resource key (never a caller-writable key), with the selection
built by the core's :meth:`~sentinel_vectors.policy.TenancyPolicy.resource_filter`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from qdrant_client import models

from sentinel_vectors.engine import AskAccess, Step
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Access
from sentinel_vectors_qdrant.base import ID_BATCH, ClientBase
from sentinel_vectors_qdrant.filtering import to_filter

__all__ = ["Resources"]


class Resources(ClientBase):
    """The lifecycle's whole-resource operations (private: for the chunk index only)."""

    def _resource_scroll_filter(
        self, access: Access, resource_id: str, keep: Collection[str] = ()
    ) -> models.Filter | None:
        flt = self._policy.resource_filter(access, resource_id)
        if flt is None:
            return None
        native = to_filter(self._compiler, flt)
        if keep:
            native = models.Filter(
                must=[native],
                must_not=[models.HasIdCondition(has_id=[self._ids.physical(i) for i in keep])],
            )
        return native

    def _resource_points(
        self, collection_name: str, flt: models.Filter
    ) -> Step[list[models.Record]]:
        out: list[models.Record] = []
        offset: Any = None
        while True:
            raw, offset = yield self._native(
                "scroll",
                collection_name=collection_name,
                scroll_filter=flt,
                limit=ID_BATCH,
                offset=offset,
                with_payload=[WORKSPACE_KEY, OWNER_KEY, self.scope.resource_key],
                with_vectors=False,
            )
            out.extend(raw)
            if offset is None:
                return out

    def _count_resource(self, collection_name: str, resource_id: str) -> Step[int]:
        """How many points of one resource the caller may view (0 if out of reach)."""
        access = yield AskAccess("view")
        flt = self._resource_scroll_filter(access, resource_id)
        if flt is None:
            return 0
        found = yield self._native(
            "count", collection_name=collection_name, count_filter=flt, exact=True
        )
        return int(found.count)

    def _remove_resource(
        self, collection_name: str, resource_id: str, keep: Collection[str] = ()
    ) -> Step[int]:
        """Delete every point of the resource in the workspace but ``keep``, if editable.

        Selected by the stamped resource key (not a caller-writable key), so payload
        changes (``clear_payload``, ``overwrite_payload``) cannot hide a point from it.
        """
        access = yield AskAccess("edit")
        flt = self._resource_scroll_filter(access, resource_id, keep)
        if flt is None:
            return 0
        found = yield from self._resource_points(collection_name, flt)
        if found:
            yield self._native(
                "delete",
                collection_name=collection_name,
                points_selector=models.FilterSelector(filter=flt),
                wait=True,
            )
        return len(found)

    def _resource_owners(self, collection_name: str, resource_id: str) -> Step[set[object]]:
        """Owners of the resource's points in the workspace, whatever the caller may see.

        For the lifecycle's claim check only; never returned to a caller.
        """
        full = Access(action="view", full=True, resource_ids=frozenset())
        flt = self._resource_scroll_filter(full, resource_id)
        assert flt is not None
        return {
            (r.payload or {}).get(OWNER_KEY)
            for r in (yield from self._resource_points(collection_name, flt))
        }
