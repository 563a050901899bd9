"""Writes as edge's ``UpdateOperation``: points, selectors and batch operations.

Each function takes ``qdrant_client.models`` (a ``PointStruct`` list or ``Batch``, a
points selector, one ``batch_update_points`` operation) and returns the edge operation
that does the same, or raises :class:`~sentinel_vectors.errors.UnsupportedError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import qdrant_edge as edge
from qdrant_client import models

from sentinel_vectors.errors import InvalidInputError, UnsupportedError
from sentinel_vectors_qdrant.edge.convert import edge_filter, edge_id, edge_vector

__all__ = [
    "delete_payload",
    "delete_vectors",
    "no_shard_key",
    "operation",
    "overwrite_payload",
    "selection",
    "set_payload",
    "update_vectors",
    "upsert",
]


def _unsupported(what: str) -> UnsupportedError:
    return UnsupportedError(f"qdrant-edge cannot {what}", store="qdrant-edge")


def no_shard_key(selector: object) -> None:
    if selector is not None:
        raise _unsupported("select shards by key (one shard per collection)")


def _points(points: Any) -> list[edge.Point]:
    if isinstance(points, models.Batch):
        vectors = points.vectors
        count = len(points.ids)
        if isinstance(vectors, Mapping):
            rows: list[Any] = [{n: vectors[n][i] for n in vectors} for i in range(count)]
        else:
            rows = list(vectors)
        payloads: list[Any] = list(points.payloads or []) or [None] * count
        return [
            edge.Point(edge_id(i), edge_vector(v), p)
            for i, v, p in zip(points.ids, rows, payloads, strict=True)
        ]
    out: list[edge.Point] = []
    for p in points:
        if not isinstance(p, models.PointStruct):
            raise InvalidInputError(f"points must be models.PointStruct, got {type(p).__name__}")
        out.append(edge.Point(edge_id(p.id), edge_vector(p.vector), p.payload))
    return out


def upsert(points: Any, update_filter: Any, update_mode: models.UpdateMode | None) -> Any:
    modes = {
        None: None,
        models.UpdateMode.UPSERT: edge.UpdateMode.Upsert,
        models.UpdateMode.INSERT_ONLY: edge.UpdateMode.InsertOnly,
        models.UpdateMode.UPDATE_ONLY: edge.UpdateMode.UpdateOnly,
    }
    return edge.UpdateOperation.upsert_points(
        _points(points), condition=edge_filter(update_filter), update_mode=modes[update_mode]
    )


def selection(selector: Any) -> tuple[list[Any] | None, Any]:
    """(ids, None) or (None, edge filter) for a points selector."""
    if isinstance(selector, models.PointIdsList):
        return [edge_id(i) for i in selector.points], None
    if isinstance(selector, models.FilterSelector):
        return None, edge_filter(selector.filter)
    if isinstance(selector, models.Filter):
        return None, edge_filter(selector)
    if isinstance(selector, list | tuple):
        return [edge_id(i) for i in selector], None
    raise InvalidInputError(f"not a points selector: {type(selector).__name__}")


def _ids_and_filter(points: Any, flt: Any) -> tuple[list[Any] | None, Any]:
    """Ids and a filter given side by side (``SetPayload(points=..., filter=...)``)."""
    if points is not None and flt is not None:
        ids: set[Any] = {edge_id(i) for i in points}
        return None, edge.Filter(must=[edge.HasIdCondition(ids), edge_filter(flt)])  # type: ignore[list-item]
    if flt is not None:
        return None, edge_filter(flt)
    return selection(points)


def set_payload(payload: dict[str, Any], points: Any, key: str | None) -> Any:
    ids, flt = selection(points)
    if ids is not None:
        return edge.UpdateOperation.set_payload(ids, payload, key)
    return edge.UpdateOperation.set_payload_by_filter(flt, payload, key)


def overwrite_payload(payload: dict[str, Any], points: Any) -> Any:
    ids, flt = selection(points)
    if ids is not None:
        return edge.UpdateOperation.overwrite_payload(ids, payload)
    return edge.UpdateOperation.overwrite_payload_by_filter(flt, payload)


def delete_payload(keys: list[str], points: Any) -> Any:
    ids, flt = selection(points)
    if ids is not None:
        return edge.UpdateOperation.delete_payload(ids, keys)
    return edge.UpdateOperation.delete_payload_by_filter(flt, keys)


def update_vectors(points: Sequence[models.PointVectors], update_filter: Any) -> Any:
    return edge.UpdateOperation.update_vectors(
        [edge.PointVectors(edge_id(p.id), edge_vector(p.vector)) for p in points],
        condition=edge_filter(update_filter),
    )


def delete_vectors(names: list[str], points: Any) -> Any:
    ids, flt = selection(points)
    if ids is not None:
        return edge.UpdateOperation.delete_vectors(ids, names)
    return edge.UpdateOperation.delete_vectors_by_filter(flt, names)


def operation(op: Any) -> Any:
    """One ``batch_update_points`` operation as edge's."""
    if isinstance(op, models.UpsertOperation):
        ups = op.upsert
        no_shard_key(ups.shard_key)
        pts = ups.points if isinstance(ups, models.PointsList) else ups.batch
        return upsert(pts, ups.update_filter, ups.update_mode)
    if isinstance(op, models.DeleteOperation):
        ids, flt = selection(op.delete)
        if ids is not None:
            return edge.UpdateOperation.delete_points(ids)
        return edge.UpdateOperation.delete_points_by_filter(flt)
    if isinstance(op, models.SetPayloadOperation | models.OverwritePayloadOperation):
        body: models.SetPayload = (
            op.set_payload if isinstance(op, models.SetPayloadOperation) else op.overwrite_payload
        )
        no_shard_key(body.shard_key)
        ids, flt = _ids_and_filter(body.points, body.filter)
        payload = dict(body.payload)
        if isinstance(op, models.SetPayloadOperation):
            if ids is not None:
                return edge.UpdateOperation.set_payload(ids, payload, body.key)
            return edge.UpdateOperation.set_payload_by_filter(flt, payload, body.key)
        if ids is not None:
            return edge.UpdateOperation.overwrite_payload(ids, payload, body.key)
        return edge.UpdateOperation.overwrite_payload_by_filter(flt, payload, body.key)
    if isinstance(op, models.DeletePayloadOperation):
        dele = op.delete_payload
        no_shard_key(dele.shard_key)
        ids, flt = _ids_and_filter(dele.points, dele.filter)
        if ids is not None:
            return edge.UpdateOperation.delete_payload(ids, list(dele.keys))
        return edge.UpdateOperation.delete_payload_by_filter(flt, list(dele.keys))
    if isinstance(op, models.ClearPayloadOperation):
        ids, flt = selection(op.clear_payload)
        if ids is not None:
            return edge.UpdateOperation.clear_payload(ids)
        return edge.UpdateOperation.clear_payload_by_filter(flt)
    if isinstance(op, models.UpdateVectorsOperation):
        return update_vectors(op.update_vectors.points, op.update_vectors.update_filter)
    if isinstance(op, models.DeleteVectorsOperation):
        dvec = op.delete_vectors
        ids, flt = _ids_and_filter(dvec.points, dvec.filter)
        if ids is not None:
            return edge.UpdateOperation.delete_vectors(ids, list(dvec.vector))
        return edge.UpdateOperation.delete_vectors_by_filter(flt, list(dvec.vector))
    raise _unsupported(f"apply a {type(op).__name__} in a batch")
