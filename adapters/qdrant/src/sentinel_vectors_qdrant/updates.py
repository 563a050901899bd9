"""Updates and deletes of stored points: which points a write selects, and the write.

A write names points by id or by filter (:meth:`Updates._selection`, checked before any
network call). :meth:`Updates._targets` turns that into the stored points the caller may
edit: a named point it may not view is absent (invariant 9), one it may view but not
edit raises; a filter reaches editable points only. The native write then runs by stored
id under the edit filter once more (:meth:`Updates._apply_to`), so a point moved out of
the caller's reach in between is skipped by Qdrant (invariant 10). Tenancy keys are never
changed in place; the core's :class:`~sentinel_vectors.policy.TenancyPolicy` decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from sentinel_vectors.engine import AskAccess, Step
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter
from sentinel_vectors.scope import OWNER_KEY, Access
from sentinel_vectors_qdrant.base import ID_BATCH, OPS_BATCH, ClientBase
from sentinel_vectors_qdrant.filtering import NEUTRAL, CallerFilter, to_filter, with_ids
from sentinel_vectors_qdrant.points import ID_KEY, LogicalId, PayloadView, PointIds, check_payload
from sentinel_vectors_qdrant.results import completed

__all__ = ["PointsSelectorArg", "Updates"]

PointsSelectorArg = (
    Sequence[Any] | models.PointIdsList | models.FilterSelector | models.Filter | Filter
)
"""What the write methods accept to select points: ids, a filter, or a native selector."""


@dataclass
class _Selection:
    """Points a write targets: named ids, or a filter."""

    ids: dict[str, LogicalId] | None
    caller: CallerFilter


class Updates(ClientBase):
    """Updates and deletes of both scoped clients, as workflows (see ``client``)."""

    def update_vectors(
        self,
        collection_name: str,
        points: Sequence[models.PointVectors],
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Replace the named vectors of existing points the caller may edit.

        Every id must name an existing point of the caller's workspace that it may view
        (as natively, a missing point is an error, and a hidden one is missing), editable
        by the caller; otherwise nothing is written.
        """
        if isinstance(points, str | bytes) or not isinstance(points, Sequence) or not points:
            raise InvalidInputError("points must be a non-empty list of models.PointVectors")
        space = yield from self._space(collection_name)
        pids: list[str] = []
        logical: dict[str, LogicalId] = {}
        vectors: list[Any] = []
        for i, point in enumerate(points):
            if not isinstance(point, models.PointVectors):
                raise InvalidInputError(
                    f"points[{i}] must be a models.PointVectors, got {type(point).__name__}"
                )
            lid, _ = PointIds.logical(point.id, what=f"points[{i}].id")
            pid = self._ids.physical(point.id)
            if pid in logical:
                raise InvalidInputError(f"points repeat id {point.id!r}; pass each point once")
            vector = space.point_vector(point.vector, what=f"points[{i}].vector")
            if isinstance(vector, Mapping) and not vector:
                raise InvalidInputError(f"points[{i}].vector names no vector to update")
            pids.append(pid)
            logical[pid] = lid
            vectors.append(vector)
        # A point the caller may not view is missing, exactly like an absent id.
        edit, reached = yield from self._reach(collection_name, logical)
        found = {str(record.id) for record in reached}
        missing = [logical[p] for p in pids if p not in found]
        if missing:
            raise InvalidInputError(
                f"no point {missing[0]!r} in the caller's workspace; update_vectors only "
                f"changes existing points. Nothing was written."
            )
        # Invariant 10: a point moved out of the caller's editable scope after the check
        # is skipped by Qdrant, not overwritten.
        allowed = self._policy.overwritable(edit)
        if allowed is None:
            return completed()
        result: models.UpdateResult = yield self._native(
            "update_vectors",
            collection_name=collection_name,
            update_filter=to_filter(self._compiler, allowed),
            points=[
                models.PointVectors(id=pid, vector=vec)
                for pid, vec in zip(pids, vectors, strict=True)
            ],
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )
        return result

    def delete(
        self,
        collection_name: str,
        points_selector: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Delete points the caller may edit, by ids or by filter.

        Named ids of points the caller may not view are treated as absent (invariant 9);
        named points it may view but not edit raise
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted; a filter
        only ever reaches editable points.
        """
        return (
            yield from self._update_selected(
                "delete",
                collection_name,
                points_selector,
                lambda selector: {"points_selector": selector},
                wait=wait,
                ordering=ordering,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
        )

    def delete_vectors(
        self,
        collection_name: str,
        vectors: Sequence[str],
        points: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Delete named vectors of points the caller may edit."""
        if isinstance(vectors, str) or not isinstance(vectors, Sequence) or not vectors:
            raise InvalidInputError("vectors must be a non-empty list of vector names")
        space = yield from self._space(collection_name)
        names: list[str] = []
        for v in vectors:
            if not isinstance(v, str):
                raise InvalidInputError(f"vector names must be strings, got {v!r}")
            names.append(space.check_name(v, what="delete_vectors"))
        return (
            yield from self._update_selected(
                "delete_vectors",
                collection_name,
                points,
                lambda selector: {"vectors": list(names), "points": selector},
                wait=wait,
                ordering=ordering,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
        )

    def set_payload(
        self,
        collection_name: str,
        payload: Mapping[str, Any],
        points: PointsSelectorArg,
        key: str | None = None,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Merge ``payload`` into points the caller may edit (below ``key`` if given).

        Tenancy keys may be repeated only with each point's stored values; they are never
        changed in place (delete the point and upsert it again to move it).
        """
        values = check_payload(payload, what="payload")
        if key is not None:
            self._check_keys([key])
        else:  # a value a typed index would not hold (sentinel_vectors_qdrant.typed)
            yield from self._space(collection_name)
            self._typed[collection_name].check(values, what="payload")
        selection = self._selection(points)
        edit, targets = yield from self._targets(collection_name, selection)
        if key is None and values.keys() & self.scope.reserved_keys:
            self._policy.check_partial_update(
                [values] * len(targets),
                {i: self._existing(r) for i, r in enumerate(targets)},
            )
            values = {k: v for k, v in values.items() if k not in self.scope.reserved_keys}
        if not values:
            return completed()
        return (
            yield from self._apply_to(
                "set_payload",
                collection_name,
                targets,
                edit,
                lambda selector: {"payload": values, "points": selector, "key": key},
                wait=wait,
                ordering=ordering,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
        )

    def overwrite_payload(
        self,
        collection_name: str,
        payload: Mapping[str, Any],
        points: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Replace the payload of points the caller may edit; tenancy keys are kept."""
        values = check_payload(payload, what="payload")
        yield from self._space(collection_name)  # a value a typed index would not hold
        self._typed[collection_name].check(values, what="payload")
        return (
            yield from self._overwrite(
                collection_name,
                values,
                points,
                wait=wait,
                ordering=ordering,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
        )

    def clear_payload(
        self,
        collection_name: str,
        points_selector: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Remove every payload key but the tenancy keys from points the caller may edit."""
        return (
            yield from self._overwrite(
                collection_name,
                {},
                points_selector,
                wait=wait,
                ordering=ordering,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
        )

    def delete_payload(
        self,
        collection_name: str,
        keys: Sequence[str],
        points: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Remove payload ``keys`` from points the caller may edit; tenancy keys stay."""
        if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys:
            raise InvalidInputError("keys must be a non-empty list of payload keys")
        self._check_keys(keys)
        key_list = list(keys)
        return (
            yield from self._update_selected(
                "delete_payload",
                collection_name,
                points,
                lambda selector: {"keys": key_list, "points": selector},
                wait=wait,
                ordering=ordering,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
        )

    def _selection(self, selector: object) -> _Selection:
        """Parse a points selector (before any network call)."""
        if isinstance(selector, models.PointIdsList):
            selector = selector.points
        elif isinstance(selector, models.FilterSelector):
            selector = selector.filter
        if isinstance(selector, (models.Filter, Mapping, *NEUTRAL)):
            return _Selection(ids=None, caller=self._caller_filter(selector))
        if isinstance(selector, str | bytes) or not isinstance(selector, Sequence):
            raise InvalidInputError(
                "points must be a list of point ids, models.PointIdsList, models.FilterSelector "
                f"or a filter; got {type(selector).__name__}"
            )
        ids: dict[str, LogicalId] = {}
        for i, value in enumerate(selector):
            lid, _ = PointIds.logical(value, what=f"points[{i}]")
            ids[self._ids.physical(value)] = lid
        return _Selection(ids=ids, caller=CallerFilter())

    def _targets(
        self, collection_name: str, selection: _Selection
    ) -> Step[tuple[Access, list[models.Record]]]:
        """``edit`` access and the stored points a write reaches; named but uneditable
        points raise (hidden ones are absent ids, invariant 9)."""
        if selection.ids is not None:
            return (yield from self._reach(collection_name, selection.ids))
        edit = yield AskAccess("edit")
        flt = self._scoped_filter(edit, selection.caller)
        if flt is None:
            return edit, []
        view = PayloadView.of([OWNER_KEY], self.scope.resource_key)
        out: list[models.Record] = []
        offset: Any = None
        while True:
            raw, offset = yield self._native(
                "scroll",
                collection_name=collection_name,
                scroll_filter=flt,
                limit=ID_BATCH,
                offset=offset,
                with_payload=view.fetch,
                with_vectors=False,
            )
            for record in raw:
                payload = record.payload or {}
                if self._policy.recheck(payload, edit, str(record.id), collection=collection_name):
                    out.append(record)
            if offset is None:
                return edit, out

    def _update_selected(
        self,
        method: str,
        collection_name: str,
        points: object,
        arguments: Callable[[models.FilterSelector], dict[str, Any]],
        **options: Any,
    ) -> Step[models.UpdateResult]:
        selection = self._selection(points)
        edit, targets = yield from self._targets(collection_name, selection)
        return (
            yield from self._apply_to(method, collection_name, targets, edit, arguments, **options)
        )

    def _apply_to(
        self,
        method: str,
        collection_name: str,
        targets: list[models.Record],
        edit: Access,
        arguments: Callable[[models.FilterSelector], dict[str, Any]],
        **options: Any,
    ) -> Step[models.UpdateResult]:
        """Run a native write on ``targets``: by id, and under the edit filter once more."""
        tenancy = self._scoped_filter(edit, CallerFilter())
        if tenancy is None or not targets:
            return completed()
        pids = [str(r.id) for r in targets]
        result = completed()
        for start in range(0, len(pids), ID_BATCH):
            selector = models.FilterSelector(
                filter=with_ids(tenancy, pids[start : start + ID_BATCH])
            )
            result = yield self._native(
                method, collection_name=collection_name, **arguments(selector), **options
            )
        return result

    def _overwrite(
        self,
        collection_name: str,
        values: dict[str, Any],
        points: object,
        **options: Any,
    ) -> Step[models.UpdateResult]:
        selection = self._selection(points)
        edit, targets = yield from self._targets(collection_name, selection)
        existing = {i: self._existing(r) for i, r in enumerate(targets)}
        checked = self._policy.check_partial_update([values] * len(targets), existing)
        tenancy = self._scoped_filter(edit, CallerFilter())
        if tenancy is None or not targets:
            return completed()
        ops: list[models.OverwritePayloadOperation] = []
        for i, (record, row) in enumerate(zip(targets, checked, strict=True)):
            # The core keeps the stored tenancy keys; the point id key is Qdrant's own.
            payload = {
                **self._policy.keep_tenancy(row, existing[i]),
                ID_KEY: (record.payload or {}).get(ID_KEY),
            }
            ops.append(
                models.OverwritePayloadOperation(
                    overwrite_payload=models.SetPayload(
                        payload=payload, filter=with_ids(tenancy, [str(record.id)])
                    )
                )
            )
        results: list[models.UpdateResult] = [completed()]
        for start in range(0, len(ops), OPS_BATCH):
            results = yield self._native(
                "batch_update_points",
                collection_name=collection_name,
                update_operations=ops[start : start + OPS_BATCH],
                wait=options.get("wait", True),
                ordering=options.get("ordering"),
            )
        return results[-1]
