"""``qdrant_client.models`` to ``qdrant_edge``'s pyo3 models and back.

qdrant-edge has its own classes for everything (``Filter``, ``FieldCondition``,
``QueryRequest``, ...) and returns ids as ``uuid.UUID``. This module translates one way
for requests and the other way for results, and works around what its Python binding
gets wrong (each workaround says why):

- ``MatchValue(True)`` would be sent as the integer 1 (the binding tries ``int`` before
  ``bool``, and a Python ``bool`` is an ``int``) and never match a stored boolean: a
  boolean is sent as ``numpy.bool_``, which is not an ``int`` but is a ``bool`` to pyo3.
- ``MatchExcept`` takes its values positionally.
- ``retrieve`` needs ``with_payload`` and ``with_vector`` spelled out.

What edge cannot express is refused with :class:`~sentinel_vectors.errors.UnsupportedError`,
never dropped: a filter condition dropped in translation would widen a read.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import qdrant_edge as edge
from qdrant_client import models

from sentinel_vectors.errors import FilterError, InvalidInputError, UnsupportedError

__all__ = [
    "DISTANCES",
    "condition",
    "edge_filter",
    "edge_id",
    "edge_vector",
    "index_info",
    "index_schema",
    "payload_selector",
    "record",
    "scored_point",
    "search_params",
    "vector_selector",
]

DISTANCES: dict[models.Distance, edge.Distance] = {
    models.Distance.COSINE: edge.Distance.Cosine,
    models.Distance.EUCLID: edge.Distance.Euclid,
    models.Distance.DOT: edge.Distance.Dot,
    models.Distance.MANHATTAN: edge.Distance.Manhattan,
}


def _unsupported(what: str) -> UnsupportedError:
    return UnsupportedError(f"qdrant-edge cannot {what}", store="qdrant-edge")


# -- ids ---------------------------------------------------------------------------


def edge_id(pid: object) -> int | uuid.UUID:
    """A point id as edge takes it: an unsigned integer or a UUID."""
    if isinstance(pid, bool):
        raise InvalidInputError(f"point ids are unsigned integers or UUIDs, got {pid!r}")
    if isinstance(pid, int):
        if pid < 0:
            raise InvalidInputError(f"point ids are unsigned integers or UUIDs, got {pid!r}")
        return pid
    if isinstance(pid, uuid.UUID):
        return pid
    if isinstance(pid, str):
        try:
            return uuid.UUID(pid)
        except ValueError:
            raise InvalidInputError(
                f"point ids are unsigned integers or UUIDs, got {pid!r}"
            ) from None
    raise InvalidInputError(f"point ids are unsigned integers or UUIDs, got {type(pid).__name__}")


def client_id(pid: object) -> int | str:
    """An id edge returned, as qdrant-client shows it (a UUID as its string)."""
    if isinstance(pid, int):
        return pid
    return str(pid)


# -- filters -----------------------------------------------------------------------


def edge_filter(flt: object) -> edge.Filter | None:
    """A ``models.Filter`` (or its JSON) as edge's ``Filter``; ``None`` stays ``None``."""
    if flt is None:
        return None
    if isinstance(flt, Mapping):
        flt = models.Filter.model_validate(flt)
    if not isinstance(flt, models.Filter):
        raise FilterError(f"not a Qdrant filter: {type(flt).__name__}")
    return edge.Filter(
        must=_conditions(flt.must),
        should=_conditions(flt.should),
        must_not=_conditions(flt.must_not),
        min_should=(
            None
            if flt.min_should is None
            else edge.MinShould(
                [condition(c) for c in flt.min_should.conditions], flt.min_should.min_count
            )
        ),
    )


def _conditions(items: object) -> list[Any] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        items = [items]
    return [condition(c) for c in items]


def condition(cond: object) -> Any:
    """One Qdrant condition as edge's."""
    if isinstance(cond, models.Filter):
        return edge_filter(cond)
    if isinstance(cond, models.FieldCondition):
        return _field(cond)
    if isinstance(cond, models.IsEmptyCondition):
        return edge.IsEmptyCondition(cond.is_empty.key)
    if isinstance(cond, models.IsNullCondition):
        return edge.IsNullCondition(cond.is_null.key)
    if isinstance(cond, models.HasIdCondition):
        ids: set[Any] = {edge_id(i) for i in cond.has_id}
        return edge.HasIdCondition(ids)
    if isinstance(cond, models.HasVectorCondition):
        return edge.HasVectorCondition(cond.has_vector)
    if isinstance(cond, models.NestedCondition):
        inner = edge_filter(cond.nested.filter)
        assert inner is not None
        return edge.NestedCondition(cond.nested.key, inner)
    raise _unsupported(f"filter on a {type(cond).__name__}")


def _field(cond: models.FieldCondition) -> edge.FieldCondition:
    geo_box = cond.geo_bounding_box
    geo_radius = cond.geo_radius
    geo_polygon = cond.geo_polygon
    count = cond.values_count
    return edge.FieldCondition(
        cond.key,
        match=None if cond.match is None else _match(cond.match),
        range=None if cond.range is None else _range(cond.range),
        geo_bounding_box=(
            None
            if geo_box is None
            else edge.GeoBoundingBox(_geo(geo_box.top_left), _geo(geo_box.bottom_right))
        ),
        geo_radius=(
            None
            if geo_radius is None
            else edge.GeoRadius(_geo(geo_radius.center), geo_radius.radius)
        ),
        geo_polygon=(
            None
            if geo_polygon is None
            else edge.GeoPolygon(
                [_geo(p) for p in geo_polygon.exterior.points],
                [[_geo(p) for p in ring.points] for ring in geo_polygon.interiors or []] or None,
            )
        ),
        values_count=(
            None
            if count is None
            else edge.ValuesCount(lt=count.lt, gt=count.gt, lte=count.lte, gte=count.gte)
        ),
        is_empty=cond.is_empty,
        is_null=cond.is_null,
    )


def _geo(point: models.GeoPoint) -> edge.GeoPoint:
    return edge.GeoPoint(lon=point.lon, lat=point.lat)


def _scalar(value: object) -> Any:
    # The binding extracts MatchValue's argument as an int before trying a bool, so a
    # Python bool would be sent as 1/0 and never match a stored boolean. numpy.bool_ is
    # not an int (no __index__) and pyo3 reads it as a bool.
    if isinstance(value, bool):
        return np.bool_(value)
    return value


def _match(match: object) -> Any:
    if isinstance(match, models.MatchValue):
        return edge.MatchValue(_scalar(match.value))
    if isinstance(match, models.MatchAny):
        return edge.MatchAny(list(match.any))  # type: ignore[arg-type]
    if isinstance(match, models.MatchExcept):
        # Positional: the binding's keyword is not the documented ``except_``.
        return edge.MatchExcept(list(match.except_))  # type: ignore[arg-type]
    if isinstance(match, models.MatchText):
        return edge.MatchText(match.text)
    if isinstance(match, models.MatchTextAny):
        return edge.MatchTextAny(match.text_any)
    if isinstance(match, models.MatchPhrase):
        return edge.MatchPhrase(match.phrase)
    raise _unsupported(f"match with a {type(match).__name__}")


def _range(rng: object) -> Any:
    if isinstance(rng, models.Range):
        return edge.RangeFloat(gte=rng.gte, gt=rng.gt, lte=rng.lte, lt=rng.lt)
    if isinstance(rng, models.DatetimeRange):
        return edge.RangeDateTime(
            gte=_when(rng.gte), gt=_when(rng.gt), lte=_when(rng.lte), lt=_when(rng.lt)
        )
    raise _unsupported(f"range over a {type(rng).__name__}")


def _when(value: datetime.datetime | datetime.date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat()


# -- request options ---------------------------------------------------------------


def payload_selector(with_payload: object) -> Any:
    """``with_payload`` (``bool``, key list, include/exclude selector) as edge takes it."""
    if with_payload is None or isinstance(with_payload, bool):
        return bool(with_payload) if with_payload is not None else True
    if isinstance(with_payload, models.PayloadSelectorInclude):
        return edge.PayloadSelector.Include(list(with_payload.include))
    if isinstance(with_payload, models.PayloadSelectorExclude):
        return edge.PayloadSelector.Exclude(list(with_payload.exclude))
    if isinstance(with_payload, Sequence) and all(isinstance(k, str) for k in with_payload):
        return edge.PayloadSelector.Include(list(with_payload))
    raise InvalidInputError(f"with_payload cannot be a {type(with_payload).__name__}")


def vector_selector(with_vectors: object) -> bool | list[str]:
    """``with_vectors`` (``bool`` or vector names) as edge takes it."""
    if with_vectors is None:
        return False
    if isinstance(with_vectors, bool):
        return with_vectors
    if isinstance(with_vectors, Sequence) and all(isinstance(k, str) for k in with_vectors):
        return list(with_vectors)
    raise InvalidInputError(f"with_vectors cannot be a {type(with_vectors).__name__}")


def search_params(params: models.SearchParams | None) -> edge.SearchParams | None:
    """``models.SearchParams`` as edge's (ACORN, exact, ``hnsw_ef``, quantization)."""
    if params is None:
        return None
    quant = params.quantization
    acorn = params.acorn
    return edge.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        quantization=(
            None
            if quant is None
            else edge.QuantizationSearchParams(
                ignore=bool(quant.ignore), rescore=quant.rescore, oversampling=quant.oversampling
            )
        ),
        indexed_only=bool(params.indexed_only),
        acorn=(
            None
            if acorn is None
            else edge.AcornSearchParams(
                enable=bool(acorn.enable), max_selectivity=acorn.max_selectivity
            )
        ),
    )


def edge_vector(vector: object) -> Any:
    """A point's or a query's vector (dense, multi, sparse, or ``{name: vector}``)."""
    if isinstance(vector, models.SparseVector):
        return edge.SparseVector(list(vector.indices), [float(v) for v in vector.values])
    if isinstance(vector, Mapping):
        return {str(name): edge_vector(v) for name, v in vector.items()}
    if hasattr(vector, "tolist"):
        vector = vector.tolist()
    if isinstance(vector, list | tuple):
        if vector and isinstance(vector[0], list | tuple):
            return [[float(x) for x in row] for row in vector]
        return [float(x) for x in vector]
    raise _unsupported(f"store or search a {type(vector).__name__} vector (embed first)")


def index_schema(schema: object) -> Any:
    """A ``create_payload_index`` schema (a type or index parameters) as edge's."""
    simple = {
        models.PayloadSchemaType.KEYWORD: edge.PayloadSchemaType.Keyword,
        models.PayloadSchemaType.INTEGER: edge.PayloadSchemaType.Integer,
        models.PayloadSchemaType.FLOAT: edge.PayloadSchemaType.Float,
        models.PayloadSchemaType.GEO: edge.PayloadSchemaType.Geo,
        models.PayloadSchemaType.TEXT: edge.PayloadSchemaType.Text,
        models.PayloadSchemaType.BOOL: edge.PayloadSchemaType.Bool,
        models.PayloadSchemaType.DATETIME: edge.PayloadSchemaType.Datetime,
        models.PayloadSchemaType.UUID: edge.PayloadSchemaType.Uuid,
    }
    if isinstance(schema, str) and not isinstance(schema, models.PayloadSchemaType):
        schema = models.PayloadSchemaType(schema)
    if isinstance(schema, models.PayloadSchemaType):
        return simple[schema]
    if isinstance(schema, models.KeywordIndexParams):
        return edge.KeywordIndexParams(is_tenant=schema.is_tenant, on_disk=schema.on_disk)
    if isinstance(schema, models.UuidIndexParams):
        return edge.UuidIndexParams(is_tenant=schema.is_tenant, on_disk=schema.on_disk)
    if isinstance(schema, models.IntegerIndexParams):
        return edge.IntegerIndexParams(
            lookup=schema.lookup,
            range=schema.range,
            is_principal=schema.is_principal,
            on_disk=schema.on_disk,
        )
    if isinstance(schema, models.FloatIndexParams):
        return edge.FloatIndexParams(is_principal=schema.is_principal, on_disk=schema.on_disk)
    if isinstance(schema, models.DatetimeIndexParams):
        return edge.DatetimeIndexParams(is_principal=schema.is_principal, on_disk=schema.on_disk)
    if isinstance(schema, models.BoolIndexParams):
        return edge.BoolIndexParams(on_disk=schema.on_disk)
    if isinstance(schema, models.GeoIndexParams):
        return edge.GeoIndexParams(on_disk=schema.on_disk)
    if isinstance(schema, models.TextIndexParams):
        return edge.PayloadSchemaType.Text
    raise _unsupported(f"create a payload index from a {type(schema).__name__}")


# -- results -----------------------------------------------------------------------

_SCHEMA_TYPES = {
    edge.PayloadSchemaType.Keyword: models.PayloadSchemaType.KEYWORD,
    edge.PayloadSchemaType.Integer: models.PayloadSchemaType.INTEGER,
    edge.PayloadSchemaType.Float: models.PayloadSchemaType.FLOAT,
    edge.PayloadSchemaType.Geo: models.PayloadSchemaType.GEO,
    edge.PayloadSchemaType.Text: models.PayloadSchemaType.TEXT,
    edge.PayloadSchemaType.Bool: models.PayloadSchemaType.BOOL,
    edge.PayloadSchemaType.Datetime: models.PayloadSchemaType.DATETIME,
    edge.PayloadSchemaType.Uuid: models.PayloadSchemaType.UUID,
}


def index_info(info: Any) -> models.PayloadIndexInfo:
    """One payload index as ``get_collection`` reports it (``is_tenant`` included)."""
    kind = _SCHEMA_TYPES[info.data_type]
    params: Any = None
    tenant = getattr(info.params, "is_tenant", None)
    if kind == models.PayloadSchemaType.KEYWORD and info.params is not None:
        params = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=tenant)
    elif kind == models.PayloadSchemaType.UUID and info.params is not None:
        params = models.UuidIndexParams(type=models.UuidIndexType.UUID, is_tenant=tenant)
    return models.PayloadIndexInfo(data_type=kind, params=params, points=info.points)


def _client_vector(vector: object) -> Any:
    if vector is None:
        return None
    if isinstance(vector, edge.SparseVector):
        return models.SparseVector(indices=list(vector.indices), values=list(vector.values))
    if isinstance(vector, Mapping):
        return {name: _client_vector(v) for name, v in vector.items()}
    return vector


def scored_point(point: edge.ScoredPoint) -> models.ScoredPoint:
    """An edge hit as ``models.ScoredPoint``."""
    return models.ScoredPoint(
        id=client_id(point.id),
        version=point.version,
        score=float(point.score),
        payload=point.payload,
        vector=_client_vector(point.vector),
        order_value=point.order_value,
    )


def record(point: edge.Record) -> models.Record:
    """An edge record as ``models.Record``."""
    return models.Record(
        id=client_id(point.id),
        payload=point.payload,
        vector=_client_vector(point.vector),
        order_value=point.order_value,
    )
