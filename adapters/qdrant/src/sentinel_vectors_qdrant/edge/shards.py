"""``QdrantEdge``: qdrant-client's backend interface over qdrant-edge shards.

qdrant-client's ``QdrantClient`` delegates every call to a backend implementing
``QdrantBase`` (``QdrantRemote`` for a server, ``QdrantLocal`` for local mode).
``QdrantEdge`` is a third one: each collection is one qdrant-edge shard in its own
directory under ``path`` (``<path>/<collection>/shard``, with the collection's vector
configuration beside it in ``collection.json``, which edge does not report back).

Requests arrive as ``qdrant_client.models`` and are translated by
:mod:`~sentinel_vectors_qdrant.edge.convert`; edge's errors become
:class:`~sentinel_vectors.errors.InvalidInputError` (the engine refused the request),
and what edge cannot do is :class:`~sentinel_vectors.errors.UnsupportedError`. Edge
applies every update before returning, so ``wait`` is always honoured.

One process per shard directory: edge locks a shard's write-ahead log, so a second
client (or process) opening the same ``path`` fails with a clear error.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as edge
from pydantic import BaseModel
from qdrant_client import models
from qdrant_client.client_base import QdrantBase
from qdrant_client.http.models import QueryResponse

from sentinel_vectors.errors import InvalidInputError, UnsupportedError
from sentinel_vectors_qdrant.edge import updates
from sentinel_vectors_qdrant.edge.convert import (
    DISTANCES,
    client_id,
    edge_filter,
    edge_id,
    index_info,
    index_schema,
    payload_selector,
    record,
    scored_point,
    vector_selector,
)
from sentinel_vectors_qdrant.edge.queries import QueryTranslator, order_by

__all__ = ["QdrantEdge"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")
_CONFIG = "collection.json"


def _unsupported(what: str) -> UnsupportedError:
    return UnsupportedError(f"qdrant-edge cannot {what}", store="qdrant-edge")


class _Settings(BaseModel):
    """What ``collection.json`` keeps: the creation settings edge does not report back."""

    params: models.CollectionParams
    hnsw: models.HnswConfig


class _Collection:
    """One open shard and the settings it was created with."""

    def __init__(self, shard: edge.EdgeShard, settings: _Settings) -> None:
        self.shard = shard
        self.settings = settings


class QdrantEdge(QdrantBase):
    """The ``QdrantBase`` of :class:`~sentinel_vectors_qdrant.edge.EdgeQdrantClient`.

    Args:
        path: the directory holding one sub-directory per collection; ``None`` makes a
            temporary one (under ``tmp_dir``), removed on :meth:`close`.
        max_search_threads: threads of each shard's search pool (``None``: one per CPU).
        tmp_dir: where a temporary ``path`` is made (``None``: the system default).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        max_search_threads: int | None = None,
        tmp_dir: str | Path | None = None,
    ):
        super().__init__()
        self._temporary = path is None
        self._root = Path(
            tempfile.mkdtemp(prefix="qdrant-edge-", dir=tmp_dir) if path is None else path
        )
        self._root.mkdir(parents=True, exist_ok=True)
        self._threads = max_search_threads
        # Kept here: a client closed by __del__ at interpreter exit may outlive shutil.
        self._rmtree = shutil.rmtree
        self._open: dict[str, _Collection] = {}
        self._lock = threading.Lock()
        self._ops = itertools.count(1)
        self._closed = False

    @property
    def path(self) -> Path:
        """The directory holding the collections."""
        return self._root

    # -- collections ---------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInputError(
                f"qdrant-edge collection names are letters, digits, '_', '-' and '.' (one "
                f"directory each), got {name!r}"
            )
        return self._root / name

    def _get(self, name: str) -> _Collection:
        with self._lock:
            if self._closed:
                raise InvalidInputError("this qdrant-edge client is closed")
            col = self._open.get(name)
            if col is not None:
                return col
            folder = self._dir(name)
            if not (folder / _CONFIG).exists():
                raise InvalidInputError(f"collection {name!r} does not exist")
            settings = _Settings.model_validate_json((folder / _CONFIG).read_text())
            shard = _call("open the shard", lambda: edge.EdgeShard.load(str(folder / "shard")))
            col = self._open[name] = _Collection(shard, settings)
            return col

    def collection_exists(self, collection_name: str, **kwargs: Any) -> bool:
        """Whether the collection's directory holds a collection."""
        return collection_name in self._open or (self._dir(collection_name) / _CONFIG).exists()

    def create_collection(
        self,
        collection_name: str,
        vectors_config: models.VectorParams | Mapping[str, models.VectorParams] | None = None,
        sparse_vectors_config: Mapping[str, models.SparseVectorParams] | None = None,
        hnsw_config: models.HnswConfigDiff | None = None,
        on_disk_payload: bool | None = None,
        sharding_method: models.ShardingMethod | None = None,
        quantization_config: Any = None,
        init_from: Any = None,
        **kwargs: Any,
    ) -> bool:
        """Create one shard; refuses custom sharding, quantization and ``init_from``."""
        if sharding_method == models.ShardingMethod.CUSTOM:
            raise _unsupported("shard a collection by key (one shard per directory)")
        if quantization_config is not None or init_from is not None:
            raise _unsupported("create a collection with quantization_config or init_from")
        folder = self._dir(collection_name)
        with self._lock:
            if (folder / _CONFIG).exists():
                raise InvalidInputError(f"collection {collection_name!r} already exists")
            diff = hnsw_config or models.HnswConfigDiff()
            graph = models.HnswConfig(
                m=16 if diff.m is None else diff.m,
                ef_construct=100 if diff.ef_construct is None else diff.ef_construct,
                full_scan_threshold=(
                    10_000 if diff.full_scan_threshold is None else diff.full_scan_threshold
                ),
                max_indexing_threads=diff.max_indexing_threads or 0,
                on_disk=diff.on_disk,
                payload_m=diff.payload_m,
            )
            config = edge.EdgeConfig(
                vectors=_dense_config(vectors_config),
                sparse_vectors={
                    name: _sparse_config(p) for name, p in (sparse_vectors_config or {}).items()
                },
                on_disk_payload=on_disk_payload,
                hnsw_config=edge.HnswIndexConfig(
                    m=graph.m,
                    ef_construct=graph.ef_construct,
                    full_scan_threshold=graph.full_scan_threshold,
                    max_indexing_threads=graph.max_indexing_threads or 0,
                    on_disk=graph.on_disk,
                    payload_m=graph.payload_m,
                ),
                max_search_threads=self._threads,
            )
            shard = _call(
                "create the shard", lambda: edge.EdgeShard.create(str(folder / "shard"), config)
            )
            params = models.CollectionParams(
                vectors=vectors_config,  # type: ignore[arg-type]
                sparse_vectors=dict(sparse_vectors_config or {}) or None,
                on_disk_payload=on_disk_payload,
            )
            settings = _Settings(params=params, hnsw=graph)
            (folder / _CONFIG).write_text(settings.model_dump_json())
            self._open[collection_name] = _Collection(shard, settings)
        return True

    def get_collection(self, collection_name: str, **kwargs: Any) -> models.CollectionInfo:
        """The collection's vector configuration and counts (as local mode reports them)."""
        col = self._get(collection_name)
        info = col.shard.info()
        return models.CollectionInfo(
            status=models.CollectionStatus.GREEN,
            optimizer_status=models.OptimizersStatusOneOf.OK,
            indexed_vectors_count=info.indexed_vectors_count,
            points_count=info.points_count,
            segments_count=info.segments_count,
            config=models.CollectionConfig(
                params=col.settings.params,
                hnsw_config=col.settings.hnsw,
                optimizer_config=models.OptimizersConfig(
                    default_segment_number=0, flush_interval_sec=0
                ),
            ),
            payload_schema={k: index_info(v) for k, v in info.payload_schema.items()},
        )

    def get_collections(self, **kwargs: Any) -> models.CollectionsResponse:
        """Every collection under ``path``."""
        names = sorted(p.parent.name for p in self._root.glob(f"*/{_CONFIG}"))
        return models.CollectionsResponse(
            collections=[models.CollectionDescription(name=n) for n in names]
        )

    def delete_collection(self, collection_name: str, **kwargs: Any) -> bool:
        """Close the shard and remove its directory."""
        folder = self._dir(collection_name)
        with self._lock:
            col = self._open.pop(collection_name, None)
            if col is not None:
                col.shard.close()
            if not folder.exists():
                return False
            shutil.rmtree(folder)
            return True

    def create_payload_index(
        self,
        collection_name: str,
        field_name: str,
        field_schema: Any = None,
        field_type: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """A typed payload index (``is_tenant`` keyword and uuid indexes included)."""
        schema = index_schema(field_schema if field_schema is not None else field_type)
        return self._update(
            collection_name, edge.UpdateOperation.create_field_index(field_name, schema)
        )

    def delete_payload_index(
        self, collection_name: str, field_name: str, **kwargs: Any
    ) -> models.UpdateResult:
        """Drop a payload index."""
        return self._update(collection_name, edge.UpdateOperation.delete_field_index(field_name))

    def optimize(self, collection_name: str) -> bool:
        """Run edge's optimizers (builds HNSW graphs and merges segments), blocking."""
        col = self._get(collection_name)
        return bool(_call("optimize", col.shard.optimize))

    def close(self, **kwargs: Any) -> None:
        """Close every open shard (and remove a temporary ``path``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for col in self._open.values():
                col.shard.close()
            self._open.clear()
        if self._temporary:
            self._rmtree(self._root, ignore_errors=True)

    # -- reads ---------------------------------------------------------------------

    def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: Any = True,
        with_vectors: Any = False,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> list[models.Record]:
        """Points by id (edge needs ``with_payload`` and ``with_vector`` spelled out)."""
        updates.no_shard_key(shard_key_selector)
        col = self._get(collection_name)
        found = _call(
            "retrieve",
            lambda: col.shard.retrieve(
                [edge_id(i) for i in ids],
                payload_selector(with_payload),
                vector_selector(with_vectors),
            ),
        )
        return [record(r) for r in found]

    def _vector_of(self, collection: str, pid: int | uuid.UUID, name: str) -> Any:
        found = self._get(collection).shard.retrieve([pid], False, True)
        if not found:
            raise InvalidInputError(f"no point {client_id(pid)!r} to take a query vector from")
        vector = found[0].vector
        if isinstance(vector, Mapping):
            if name not in vector:
                raise InvalidInputError(f"point {client_id(pid)!r} has no vector {name!r}")
            return vector[name]
        return vector

    def _translator(self, collection_name: str) -> QueryTranslator:
        return QueryTranslator(collection_name, self._vector_of)

    def query_points(
        self,
        collection_name: str,
        query: Any = None,
        using: str | None = None,
        prefetch: Any = None,
        query_filter: Any = None,
        search_params: models.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        score_threshold: float | None = None,
        lookup_from: models.LookupLocation | None = None,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> QueryResponse:
        """A universal query (nearest, recommend, discover, context, fusion, order-by)."""
        updates.no_shard_key(shard_key_selector)
        col = self._get(collection_name)
        request = self._translator(collection_name).request(
            query=query,
            using=using,
            prefetch=prefetch,
            query_filter=query_filter,
            params=search_params,
            limit=limit,
            offset=offset,
            with_payload=with_payload,
            with_vectors=with_vectors,
            score_threshold=score_threshold,
            lookup_from=lookup_from,
        )
        hits = _call("query", lambda: col.shard.query(request))
        return QueryResponse(points=[scored_point(p) for p in hits])

    def query_batch_points(
        self, collection_name: str, requests: Sequence[models.QueryRequest], **kwargs: Any
    ) -> list[QueryResponse]:
        """Several universal queries as one planned batch."""
        col = self._get(collection_name)
        batch: list[edge.QueryRequest] = []
        for req in requests:
            if req.shard_key is not None:
                updates.no_shard_key(req.shard_key)
            batch.append(
                self._translator(collection_name).request(
                    query=req.query,
                    using=req.using,
                    prefetch=req.prefetch,
                    query_filter=req.filter,
                    params=req.params,
                    limit=req.limit,
                    offset=req.offset,
                    with_payload=True if req.with_payload is None else req.with_payload,
                    with_vectors=req.with_vector,
                    score_threshold=req.score_threshold,
                    lookup_from=req.lookup_from,
                )
            )
        answers = _call("query_batch", lambda: col.shard.query_batch(edge.QueryBatchRequest(batch)))
        return [QueryResponse(points=[scored_point(p) for p in hits]) for hits in answers]

    def query_points_groups(self, collection_name: str, *args: Any, **kwargs: Any) -> Any:
        """Refused: qdrant-edge has no groups API."""
        raise _unsupported("group query results (no groups API); use query_points")

    def scroll(
        self,
        collection_name: str,
        scroll_filter: Any = None,
        limit: int = 10,
        order_by: Any = None,
        offset: Any = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> tuple[list[models.Record], Any]:
        """A page of points in id order (or ``order_by``) and the next page's first id."""
        updates.no_shard_key(shard_key_selector)
        col = self._get(collection_name)
        request = edge.ScrollRequest(
            offset=None if offset is None else edge_id(offset),
            limit=limit,
            filter=edge_filter(scroll_filter),
            with_payload=payload_selector(with_payload),
            with_vector=vector_selector(with_vectors),
            order_by=_order(order_by),
        )
        points, following = _call("scroll", lambda: col.shard.scroll(request))
        return [record(p) for p in points], None if following is None else client_id(following)

    def count(
        self,
        collection_name: str,
        count_filter: Any = None,
        exact: bool = True,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.CountResult:
        """The number of points matching ``count_filter``."""
        updates.no_shard_key(shard_key_selector)
        col = self._get(collection_name)
        request = edge.CountRequest(exact=bool(exact), filter=edge_filter(count_filter))
        return models.CountResult(count=_call("count", lambda: col.shard.count(request)))

    def facet(
        self,
        collection_name: str,
        key: str,
        facet_filter: Any = None,
        limit: int = 10,
        exact: bool = False,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.FacetResponse:
        """Value counts of an indexed payload key (as on a server, the key needs an index)."""
        updates.no_shard_key(shard_key_selector)
        col = self._get(collection_name)
        request = edge.FacetRequest(
            key, limit=limit, exact=bool(exact), filter=edge_filter(facet_filter)
        )
        answer = _call("facet", lambda: col.shard.facet(request))
        return models.FacetResponse(
            hits=[models.FacetValueHit(value=h.value, count=h.count) for h in answer.hits]
        )

    # -- writes --------------------------------------------------------------------

    def _update(self, collection_name: str, *operations: Any) -> models.UpdateResult:
        col = self._get(collection_name)
        for op in operations:
            _apply(col.shard, op)
        return models.UpdateResult(
            operation_id=next(self._ops), status=models.UpdateStatus.COMPLETED
        )

    def upsert(
        self,
        collection_name: str,
        points: Any,
        update_filter: Any = None,
        update_mode: models.UpdateMode | None = None,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Insert or replace points, optionally only where ``update_filter`` holds."""
        updates.no_shard_key(shard_key_selector)
        return self._update(collection_name, updates.upsert(points, update_filter, update_mode))

    def upload_points(
        self,
        collection_name: str,
        points: Iterable[models.PointStruct],
        batch_size: int = 64,
        shard_key_selector: Any = None,
        update_filter: Any = None,
        update_mode: models.UpdateMode | None = None,
        **kwargs: Any,
    ) -> None:
        """``upsert`` in batches of ``batch_size`` (``parallel`` and ``method`` are moot)."""
        updates.no_shard_key(shard_key_selector)
        batch: list[models.PointStruct] = []
        for point in points:
            batch.append(point)
            if len(batch) >= batch_size:
                self._update(collection_name, updates.upsert(batch, update_filter, update_mode))
                batch = []
        if batch:
            self._update(collection_name, updates.upsert(batch, update_filter, update_mode))

    def upload_collection(
        self,
        collection_name: str,
        vectors: Any,
        payload: Iterable[dict[Any, Any]] | None = None,
        ids: Iterable[Any] | None = None,
        batch_size: int = 64,
        **kwargs: Any,
    ) -> None:
        """Vectors, payloads and ids zipped into points and uploaded (ids are required)."""
        if ids is None:
            raise InvalidInputError("qdrant-edge needs explicit ids to upload a collection")
        if isinstance(vectors, Mapping):
            names = list(vectors)
            rows: Iterable[Any] = (
                dict(zip(names, values, strict=True))
                for values in zip(*(vectors[n] for n in names), strict=True)
            )
        else:
            rows = vectors
        payloads = payload if payload is not None else itertools.repeat(None)
        points = (
            models.PointStruct(id=i, vector=_plain(v), payload=p)
            for i, v, p in zip(ids, rows, payloads, strict=False)
        )
        self.upload_points(collection_name, points, batch_size=batch_size, **kwargs)

    def delete(
        self,
        collection_name: str,
        points_selector: Any,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Delete points by id or by filter."""
        updates.no_shard_key(shard_key_selector)
        ids, flt = updates.selection(points_selector)
        if ids is not None:
            return self._update(collection_name, edge.UpdateOperation.delete_points(ids))
        return self._update(collection_name, edge.UpdateOperation.delete_points_by_filter(flt))

    def update_vectors(
        self,
        collection_name: str,
        points: Sequence[models.PointVectors],
        update_filter: Any = None,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Replace the named vectors of existing points (where ``update_filter`` holds)."""
        updates.no_shard_key(shard_key_selector)
        return self._update(collection_name, updates.update_vectors(points, update_filter))

    def delete_vectors(
        self,
        collection_name: str,
        vectors: Sequence[str],
        points: Any,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Remove named vectors from points."""
        updates.no_shard_key(shard_key_selector)
        return self._update(collection_name, updates.delete_vectors(list(vectors), points))

    def set_payload(
        self,
        collection_name: str,
        payload: Mapping[str, Any],
        points: Any,
        key: str | None = None,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Merge ``payload`` into the selected points' payloads (at ``key``)."""
        updates.no_shard_key(shard_key_selector)
        return self._update(collection_name, updates.set_payload(dict(payload), points, key))

    def overwrite_payload(
        self,
        collection_name: str,
        payload: Mapping[str, Any],
        points: Any,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Replace the selected points' payloads with ``payload``."""
        updates.no_shard_key(shard_key_selector)
        return self._update(collection_name, updates.overwrite_payload(dict(payload), points))

    def delete_payload(
        self,
        collection_name: str,
        keys: Sequence[str],
        points: Any,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Remove payload keys from the selected points."""
        updates.no_shard_key(shard_key_selector)
        return self._update(collection_name, updates.delete_payload(list(keys), points))

    def clear_payload(
        self,
        collection_name: str,
        points_selector: Any,
        shard_key_selector: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        """Remove every payload key from the selected points."""
        updates.no_shard_key(shard_key_selector)
        ids, flt = updates.selection(points_selector)
        if ids is not None:
            return self._update(collection_name, edge.UpdateOperation.clear_payload(ids))
        return self._update(collection_name, edge.UpdateOperation.clear_payload_by_filter(flt))

    def batch_update_points(
        self, collection_name: str, update_operations: Sequence[Any], **kwargs: Any
    ) -> list[models.UpdateResult]:
        """Apply the operations in order, one update each."""
        ops = [updates.operation(op) for op in update_operations]  # translate all before applying
        return [self._update(collection_name, op) for op in ops]


# -- helpers -----------------------------------------------------------------------


def _apply(shard: edge.EdgeShard, op: Any) -> None:
    _call("update", lambda: shard.update(op))


def _call[T](what: str, fn: Callable[[], T]) -> T:
    """Run one edge call; its errors (plain ``Exception``) become ``InvalidInputError``."""
    try:
        return fn()
    except (InvalidInputError, UnsupportedError):
        raise
    except Exception as exc:
        raise InvalidInputError(f"qdrant-edge refused {what}: {exc}") from exc


def _order(order: object) -> edge.OrderBy | None:
    return order_by(order)


def _plain(vector: Any) -> Any:
    return vector.tolist() if hasattr(vector, "tolist") else vector


def _dense_config(
    config: models.VectorParams | Mapping[str, models.VectorParams] | None,
) -> Any:
    if config is None:
        return None
    if isinstance(config, models.VectorParams):
        return _vector_params(config)
    return {name: _vector_params(p) for name, p in config.items()}


def _vector_params(p: models.VectorParams) -> edge.EdgeVectorParams:
    if p.quantization_config is not None:
        raise _unsupported("quantize a vector through this client")
    datatypes = {
        None: None,
        models.Datatype.FLOAT32: edge.VectorStorageDatatype.Float32,
        models.Datatype.FLOAT16: edge.VectorStorageDatatype.Float16,
        models.Datatype.UINT8: edge.VectorStorageDatatype.Uint8,
    }
    return edge.EdgeVectorParams(
        size=p.size,
        distance=DISTANCES[p.distance],
        on_disk=p.on_disk,
        multivector_config=(
            None
            if p.multivector_config is None
            else edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim)
        ),
        datatype=datatypes[p.datatype],
    )


def _sparse_config(p: models.SparseVectorParams) -> edge.EdgeSparseVectorParams:
    index = p.index
    return edge.EdgeSparseVectorParams(
        full_scan_threshold=None if index is None else index.full_scan_threshold,
        on_disk=None if index is None else index.on_disk,
        modifier=edge.Modifier.Idf if p.modifier == models.Modifier.IDF else None,
    )
