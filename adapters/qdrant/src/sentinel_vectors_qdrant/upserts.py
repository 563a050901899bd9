"""Upserts: point preparation, the conditional write, and rollback.

``upsert`` and ``upload_points`` check everything before the first native request: ids,
vectors and payloads here (:meth:`Upserts._prepare_points`), then the engine's write
workflow (:func:`sentinel_vectors.engine.put`: edit access, the write rule, the probe of
stored points, stamping, all decided by :class:`~sentinel_vectors.policy.TenancyPolicy`).
The write is conditional (invariant 10, :meth:`Upserts._write_points`): new ids go in
``insert_only`` requests, replaced ones in ``update_only`` requests under the filter a
stored point must still match; every batch is read back, and points another writer
changed in between raise :class:`~sentinel_vectors.errors.WriteConflictError` after this
call's points are rolled back (:meth:`Upserts._rollback`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic_core import to_jsonable_python
from qdrant_client import models

from sentinel_vectors.engine import Step
from sentinel_vectors.engine.writes import put
from sentinel_vectors.errors import InvalidInputError, WriteConflictError
from sentinel_vectors.filters import Filter
from sentinel_vectors.policy import AUDIT_LOGGER, ExistingRecord
from sentinel_vectors.validation import check_positive_int
from sentinel_vectors_qdrant.base import ID_BATCH, ClientBase
from sentinel_vectors_qdrant.filtering import to_filter
from sentinel_vectors_qdrant.points import ID_KEY, LogicalId, PointIds, check_payload
from sentinel_vectors_qdrant.results import completed

__all__ = ["Upserts", "as_structs", "unbatch"]

_audit = logging.getLogger(AUDIT_LOGGER)


@dataclass
class _Point:
    logical: LogicalId
    pid: str
    vector: Any
    payload: dict[str, Any]


class Upserts(ClientBase):
    """The upserts of both scoped clients, as workflows (see ``client``)."""

    def upsert(
        self,
        collection_name: str,
        points: models.Batch | Sequence[models.PointStruct],
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.UpdateResult]:
        """Insert or replace points, stamped with the caller's workspace, owner and resource.

        Each payload must name its resource under the resource key. Everything is checked
        before the one native ``upsert`` request: ids, vector names and sizes, payloads,
        tenancy keys and the write rule. If the request fails, points it may have
        written are rolled back (see ``docs/qdrant.md``) and the error is re-raised.
        The write is conditional (invariant 10): a point another writer created or moved
        out of the caller's editable scope after the check is left as it is and
        :class:`~sentinel_vectors.errors.WriteConflictError` is raised, nothing written.
        """
        prepared = yield from self._prepare_points(collection_name, points)
        return (
            yield from self._put(
                collection_name,
                prepared,
                None,
                wait=wait,
                ordering=ordering,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
                max_retries=0,
            )
        )

    def upload_points(
        self,
        collection_name: str,
        points: Iterable[models.PointStruct],
        batch_size: int = 64,
        parallel: int = 1,
        method: str | None = None,
        max_retries: int = 3,
        wait: bool = False,
        shard_key_selector: Any = None,
    ) -> Step[None]:
        """Upload points in batches of ``batch_size`` upsert requests.

        Unlike the native method, every point is validated and authorized before the first
        batch is sent (the iterable is read whole), batches are sent one after another
        (``parallel`` and ``method`` are accepted and ignored), and if a batch still fails
        after ``max_retries`` retries, the batches already written are rolled back.
        Requests always wait (``wait`` is ignored): each batch is read back to verify
        the conditional write (see :meth:`upsert`).
        """
        check_positive_int(batch_size, what="batch_size")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be a non-negative int, got {max_retries!r}")
        if isinstance(points, models.Batch) or not isinstance(points, Iterable):
            raise InvalidInputError("upload_points takes an iterable of models.PointStruct")
        prepared = yield from self._prepare_points(collection_name, list(points))
        yield from self._put(
            collection_name,
            prepared,
            batch_size,
            wait=wait,
            ordering=None,
            shard_key_selector=shard_key_selector,
            timeout=None,
            max_retries=max_retries,
        )

    def _prepare_points(self, collection_name: str, points: object) -> Step[list[_Point]]:
        """Validate ids, vectors and payloads of an upsert (no permission call yet)."""
        structs = as_structs(points)
        if not structs:
            raise InvalidInputError("points may not be empty")
        space = yield from self._space(collection_name)
        out: list[_Point] = []
        seen: set[str] = set()
        for i, point in enumerate(structs):
            lid, _ = PointIds.logical(point.id, what=f"points[{i}].id")
            pid = self._ids.physical(point.id)
            if pid in seen:
                raise InvalidInputError(f"points repeat id {point.id!r}; pass each point once")
            seen.add(pid)
            vector = space.point_vector(point.vector, what=f"points[{i}].vector")
            payload = check_payload(point.payload, what=f"points[{i}].payload")
            self._typed[collection_name].check(payload, what=f"points[{i}].payload")
            out.append(_Point(lid, pid, vector, payload))
        return out

    def _put(
        self,
        collection_name: str,
        prepared: list[_Point],
        batch_size: int | None,
        **options: Any,
    ) -> Step[models.UpdateResult]:
        """The engine's write workflow (:func:`sentinel_vectors.engine.put`): edit access,
        the write rule, the probe of stored points, stamping; then :class:`_UpsertTarget`
        writes conditionally (invariant 10)."""
        target = _UpsertTarget(self, collection_name, prepared, batch_size, options)
        yield from put(
            self._policy,
            target,
            "upsert",
            ids=[PointIds.logical(p.logical)[1] for p in prepared],
            pids=[p.pid for p in prepared],
            metadatas=[p.payload for p in prepared],
        )
        return target.result

    def _write_points(
        self,
        collection_name: str,
        batches: list[list[models.PointStruct]],
        snapshots: dict[str, models.Record],
        overwritable: models.Filter | None,
        *,
        wait: bool,
        ordering: models.WriteOrdering | None,
        shard_key_selector: Any,
        timeout: int | None,
        max_retries: int,
    ) -> Step[models.UpdateResult]:
        """Send conditional upsert requests in order; roll back what was sent on a failure.

        Invariant 10: points the check found absent go in an ``insert_only`` request,
        points it found (``snapshots``) in an ``update_only`` request whose
        ``update_filter`` is what a stored point must still match to be replaced. Qdrant
        skips a point another writer created or changed in between without saying so: each
        batch is read back, and a point not holding this write raises
        :class:`WriteConflictError` after the points this call wrote are rolled back.
        Requests always wait (``wait`` is ignored): a write is verified once applied.
        """
        del wait
        result = completed()
        sent: list[models.PointStruct] = []
        for batch in batches:
            sent.extend(batch)
            fresh = [p for p in batch if str(p.id) not in snapshots]
            known = [p for p in batch if str(p.id) in snapshots]
            requests: list[tuple[list[models.PointStruct], dict[str, Any]]] = []
            if fresh:
                requests.append((fresh, {"update_mode": models.UpdateMode.INSERT_ONLY}))
            if known and overwritable is not None:
                mode = models.UpdateMode.UPDATE_ONLY
                requests.append((known, {"update_mode": mode, "update_filter": overwritable}))
            for points, condition in requests:
                attempt = 0
                while True:
                    try:
                        result = yield self._native(
                            "upsert",
                            collection_name=collection_name,
                            points=points,
                            wait=True,
                            ordering=ordering,
                            shard_key_selector=shard_key_selector,
                            timeout=timeout,
                            **condition,
                        )
                        break
                    except Exception as exc:
                        if attempt < max_retries:
                            attempt += 1
                            continue
                        yield from self._rollback(collection_name, sent, snapshots, exc)
                        raise
            holding = yield from self._holding(collection_name, batch)
            if len(holding) != len(batch):
                conflict = WriteConflictError(
                    "another writer created or changed a point with one of these ids after the "
                    "write was checked; it was left as it is and nothing of this call was "
                    "written. Read the points again and retry."
                )
                yield from self._rollback(collection_name, sent, snapshots, conflict)
                raise conflict
        return result

    def _holding(self, collection_name: str, points: list[models.PointStruct]) -> Step[set[str]]:
        """The ids among ``points`` whose stored payload is the one this call sent."""
        sent = {str(p.id): to_jsonable_python(p.payload) for p in points}
        stored = yield from self._records(collection_name, list(sent), with_vectors=False)
        return {
            pid
            for pid, payload in sent.items()
            if pid in stored and to_jsonable_python(stored[pid].payload) == payload
        }

    def _rollback(
        self,
        collection_name: str,
        sent: list[models.PointStruct],
        snapshots: dict[str, models.Record],
        error: Exception,
    ) -> Step[None]:
        """Undo upsert requests that failed or preceded a failure: restore, or delete new ids.

        Only points that hold this call's write are touched: a point another writer put
        under one of the ids (which a conditional request skipped) is left as it is.
        """
        restore: list[models.PointStruct] = []
        fresh: list[models.ExtendedPointId] = []
        try:
            ours = yield from self._holding(collection_name, sent)
            for p in sent:
                pid = str(p.id)
                if pid not in ours:
                    continue
                if pid in snapshots:
                    restore.append(
                        models.PointStruct(
                            id=pid,
                            vector=cast(Any, snapshots[pid].vector or {}),
                            payload=snapshots[pid].payload,
                        )
                    )
                else:
                    fresh.append(pid)
            for start in range(0, len(restore), ID_BATCH):
                yield self._native(
                    "upsert",
                    collection_name=collection_name,
                    points=restore[start : start + ID_BATCH],
                    wait=True,
                )
            for start in range(0, len(fresh), ID_BATCH):
                yield self._native(
                    "delete",
                    collection_name=collection_name,
                    points_selector=models.PointIdsList(points=fresh[start : start + ID_BATCH]),
                    wait=True,
                )
        except Exception as undo:
            _audit.error(
                "sentinel-vectors could not roll back a failed upsert; points may be partly "
                "written",
                extra={
                    "event": "sentinel_vectors.rollback_failed",
                    "workspace_id": self.scope.workspace_id,
                    "collection": collection_name,
                    "points": len(sent),
                },
            )
            error.add_note(f"sentinel-vectors: rolling back the partial write failed too: {undo!r}")
        else:
            error.add_note(
                f"sentinel-vectors: the write failed; {len(restore)} replaced point(s) were "
                f"restored and {len(fresh)} new point(s) removed"
            )


def as_structs(points: object) -> list[models.PointStruct]:
    """``list[PointStruct]`` from an upsert's ``points`` (a list or a ``models.Batch``)."""
    if isinstance(points, models.Batch):
        return unbatch(points)
    if isinstance(points, str | bytes | Mapping) or not isinstance(points, Sequence):
        raise InvalidInputError(
            f"points must be a list of models.PointStruct or a models.Batch, got "
            f"{type(points).__name__}"
        )
    for i, point in enumerate(points):
        if not isinstance(point, models.PointStruct):
            raise InvalidInputError(
                f"points[{i}] must be a models.PointStruct, got {type(point).__name__}"
            )
    return list(points)


def unbatch(batch: models.Batch) -> list[models.PointStruct]:
    """The points of a ``models.Batch`` (one vector and payload per id)."""
    n = len(batch.ids)
    vectors = batch.vectors
    if batch.payloads is not None and len(batch.payloads) != n:
        raise InvalidInputError(f"got {n} ids but {len(batch.payloads)} payloads; pass one per id")
    per_point: list[Any]
    if isinstance(vectors, Mapping):
        for name, column in vectors.items():
            if len(column) != n:
                raise InvalidInputError(
                    f"got {n} ids but {len(column)} vectors named {name!r}; pass one per id"
                )
        per_point = [{name: column[i] for name, column in vectors.items()} for i in range(n)]
    elif isinstance(vectors, list):
        if len(vectors) != n:
            raise InvalidInputError(f"got {n} ids but {len(vectors)} vectors; pass one per id")
        per_point = list(vectors)
    else:
        raise InvalidInputError("Batch.vectors must be a list of vectors or {name: [vectors]}")
    payloads: list[Any] = list(batch.payloads) if batch.payloads is not None else [None] * n
    return [
        models.PointStruct.model_construct(
            id=batch.ids[i], vector=per_point[i], payload=payloads[i]
        )
        for i in range(n)
    ]


@dataclass
class _UpsertTarget:
    """The engine's put target over Qdrant: the probe keeps full snapshots (with vectors)
    of the points it finds, which a failed write restores."""

    ops: Upserts
    collection: str
    prepared: list[_Point]
    batch_size: int | None
    options: dict[str, Any]
    snapshots: dict[str, models.Record] = field(default_factory=dict)
    result: models.UpdateResult = field(default_factory=completed)

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """The stored points under ``pids`` (any workspace: the ids are ours)."""
        self.snapshots = yield from self.ops._records(
            self.collection, list(pids), with_vectors=True
        )
        return {pid: self.ops._existing(record) for pid, record in self.snapshots.items()}

    def put(
        self,
        op: str,
        stamped: list[dict[str, Any]],
        stored: Mapping[str, ExistingRecord],
        condition: Filter | None,
    ) -> Step[None]:
        """Write the stamped points in batches, conditionally (see ``_write_points``)."""
        del op, stored  # always an upsert; the snapshots are the probe's
        structs = [
            models.PointStruct(id=p.pid, vector=p.vector, payload={**meta, ID_KEY: p.logical})
            for p, meta in zip(self.prepared, stamped, strict=True)
        ]
        size = self.batch_size or len(structs)
        batches = [structs[i : i + size] for i in range(0, len(structs), size)]
        overwritable = None if condition is None else to_filter(self.ops._compiler, condition)
        self.result = yield from self.ops._write_points(
            self.collection, batches, self.snapshots, overwritable, **self.options
        )
