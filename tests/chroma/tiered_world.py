"""Placed Chroma bases for the kit and the harness: tiered (about half the workspaces
promoted) and per-tenant.

:class:`HalfPromoted` is the real :class:`~sentinel_vectors_chroma.PlacedChromaBackend`
(tiered placement, the registry): of the workspaces it sees, the first, third, fifth...
are promoted with the real promoter the first time they are seen (empty, so the settle
and grace are short), so the conformance suite and the leak harness run every rule with
some workspaces in their own collection and some in the shared one, in one world.
:class:`PerTenant` is the same binding under ``per_tenant``: every workspace in its own
collection, created on first use (what :func:`~sentinel_vectors_chroma.placed_collection`
does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.placement import Placement
from sentinel_vectors.scope import Scope
from sentinel_vectors_chroma import PlacedChromaBackend, ScopedCollection, promote_workspace_sync
from sentinel_vectors_chroma.promotion import REGISTRY_SUFFIX


class PlacedWorld(PlacedChromaBackend):
    """A placed base of documents, with native readers over all its collections."""

    mode = "shared"

    def __init__(self, client: Any, base: str, **options: Any) -> None:
        super().__init__(
            client, base, placement=Placement(self.mode), resource_type="document", **options
        )

    def places_of(self) -> list[Any]:
        """The base's collections holding records (shared and own; not the registry)."""
        return [
            self.client.get_collection(c.name)
            for c in self.client.list_collections()
            if c.name.startswith(self.base) and not c.name.endswith(REGISTRY_SUFFIX)
        ]

    def stored(self, key: str, value: str) -> list[Mapping[str, Any]]:
        """Every stored metadata with ``key == value``, in any of the base's collections."""
        out: list[Mapping[str, Any]] = []
        for collection in self.places_of():
            got = collection.get(where={key: value}, include=["metadatas"])
            out += [dict(m or {}) for m in got["metadatas"]]
        return out

    def drop(self) -> None:
        """Delete every collection of the base (the registry included)."""
        for c in self.client.list_collections():
            if c.name.startswith(self.base):
                self.client.delete_collection(c.name)


class HalfPromoted(PlacedWorld):
    """Tiered; every other workspace promoted on first sight (the first one included)."""

    mode = "tiered"

    def __init__(self, client: Any, base: str, **options: Any) -> None:
        super().__init__(client, base, **options)
        self._seen: set[str] = set()

    def scoped(self, auth: AuthContext) -> ScopedCollection:
        ws = Scope.of(auth, resource_type=self.resource_type).workspace_id
        if ws not in self._seen:
            promote = len(self._seen) % 2 == 0
            self._seen.add(ws)
            if promote:
                promote_workspace_sync(
                    self.client, self.base, ws, settle=0.02, grace=0.02, lease=0.01
                )
        return super().scoped(auth)


class PerTenant(PlacedWorld):
    """``per_tenant``: each workspace in its own ``<base>__ws_<hex>``, created on first use."""

    mode = "per_tenant"

    def drop(self) -> None:
        """Delete the base's collections, after checking nothing reached the shared one
        (so the rules that ran really ran on per-workspace collections)."""
        assert self.places.shared.count() == 0, "a per_tenant write reached the shared collection"
        super().drop()
