"""``ensure_collection``: create a Qdrant collection fit for tenancy (administration helper).

Collection administration is not reachable through :class:`ScopedQdrantClient`; run this
once at deploy or start-up time with the native client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.placement import Placement
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY
from sentinel_vectors_qdrant.placement import SHARED_SHARD_KEY, check_engine, check_placement
from sentinel_vectors_qdrant.promotion import shard_states as _shards

__all__ = ["ensure_collection"]


async def ensure_collection(
    client: AsyncQdrantClient | QdrantClient,
    collection_name: str,
    vectors_config: models.VectorParams | Mapping[str, models.VectorParams] | None,
    *,
    sparse_vectors_config: Mapping[str, models.SparseVectorParams] | None = None,
    resource_key: str = "resource_id",
    payload_m: int | None = 16,
    m: int | None = 0,
    hnsw_config: models.HnswConfigDiff | None = None,
    index_owner: bool = False,
    placement: Placement | None = None,
    **create_options: Any,
) -> bool:
    """Create ``collection_name`` for scoped use if it does not exist; ensure its indexes.

    The collection gets a ``workspace_id`` keyword payload index with ``is_tenant=True``
    (Qdrant co-locates each tenant's points) and a keyword index on ``resource_key``
    (plus ``owner_id`` with ``index_owner``). ``payload_m`` and ``m`` set the HNSW graph
    as Qdrant's multitenancy guide recommends: a graph per tenant (``payload_m=16``) and
    no global graph (``m=0``), since every scoped query filters by workspace. Pass
    ``hnsw_config`` to set the graph yourself (it wins over ``payload_m``/``m``), and any
    other ``create_collection`` option (``quantization_config``, ``on_disk_payload``, ...)
    by keyword.

    Filtered-search knobs that are query options rather than collection settings, such as
    ACORN (``models.SearchParams(acorn=models.AcornSearchParams(enable=True))``, Qdrant
    1.16+), are given to ``ScopedQdrantClient(search_params=...)``.

    ``placement`` (:mod:`sentinel_vectors_qdrant.placement`): ``None``/``shared`` creates
    the collection as always; ``per_tenant`` and ``tiered`` create it with
    ``sharding_method=CUSTOM`` (shard keys), and ``tiered`` also creates the shared
    fallback shard key :data:`~sentinel_vectors_qdrant.placement.SHARED_SHARD_KEY`
    (one shard; pass ``shard_number``/``replication_factor`` options for the
    collection's defaults). Under ``per_tenant`` each workspace's shard key is created
    at onboarding with :func:`~sentinel_vectors_qdrant.create_workspace_shard`. An
    existing collection must already be sharded by key for a non-shared placement
    (Qdrant cannot change a collection's sharding method). Shard keys need a Qdrant
    server (not local mode or qdrant-edge).

    An existing collection is left as it is apart from the payload indexes (creating an
    index that exists is a no-op). Works with ``QdrantClient`` and ``AsyncQdrantClient``;
    from sync code call ``asyncio.run(ensure_collection(...))``. Local mode
    (``QdrantClient(":memory:")`` or ``path=...``) accepts and ignores payload indexes.
    Returns ``True`` if the collection was created.
    """
    if not isinstance(client, AsyncQdrantClient | QdrantClient):
        raise InvalidInputError("client must be a qdrant_client.AsyncQdrantClient or QdrantClient")
    if not isinstance(collection_name, str) or not collection_name:
        raise InvalidInputError("collection_name must be a non-empty string")
    if not isinstance(resource_key, str) or resource_key in ("", WORKSPACE_KEY, OWNER_KEY):
        raise InvalidInputError(f"resource_key {resource_key!r} cannot name the resource id")
    placement = check_placement(placement)
    check_engine(client, placement)  # no shard keys on qdrant-edge or in local mode
    keyed = placement.mode != "shared"
    if keyed and "sharding_method" in create_options:
        raise InvalidInputError("a non-shared placement sets sharding_method itself")
    call = _caller(client)
    created = False
    if not await call("collection_exists", collection_name=collection_name):
        graph = hnsw_config or models.HnswConfigDiff(payload_m=payload_m, m=m)
        await call(
            "create_collection",
            collection_name=collection_name,
            vectors_config=vectors_config,
            sparse_vectors_config=sparse_vectors_config,
            hnsw_config=graph,
            sharding_method=models.ShardingMethod.CUSTOM if keyed else None,
            **create_options,
        )
        created = True
    elif keyed:
        info = await call("get_collection", collection_name=collection_name)
        if info.config.params.sharding_method != models.ShardingMethod.CUSTOM:
            raise InvalidInputError(
                f"collection {collection_name!r} exists without shard keys; a "
                f"{placement.mode!r} placement needs one created with sharding by key "
                f"(Qdrant cannot change it: create a new collection and copy the points)"
            )
    if placement.mode == "tiered":
        cluster = await call("collection_cluster_info", collection_name=collection_name)
        if SHARED_SHARD_KEY not in _shards(cluster):
            await call(
                "create_shard_key", collection_name=collection_name, shard_key=SHARED_SHARD_KEY
            )
    indexes: list[tuple[str, models.KeywordIndexParams]] = [
        (
            WORKSPACE_KEY,
            models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
        ),
        (resource_key, models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD)),
    ]
    if index_owner:
        indexes.append((OWNER_KEY, models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD)))
    for field_name, schema in indexes:
        await call(
            "create_payload_index",
            collection_name=collection_name,
            field_name=field_name,
            field_schema=schema,
            wait=True,
        )
    return created


def _caller(client: AsyncQdrantClient | QdrantClient) -> Callable[..., Any]:
    async def call(method: str, **kwargs: Any) -> Any:
        fn = getattr(client, method)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if isinstance(client, AsyncQdrantClient):
            return await fn(**kwargs)
        return await asyncio.to_thread(fn, **kwargs)

    return call
