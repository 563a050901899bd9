"""A scoped pgvector store on SQLAlchemy 2 for sentinel-vectors.

``ScopedVectorStore(engine, request_auth, model=Chunk, resource_type="document")``
stamps every write with the caller's workspace, owner and resource, confines every read
to what the caller may view, and sets ``sentinel.workspace_id`` for row-level security
in every transaction. ``SyncScopedVectorStore`` is the same over a sync engine.
``PgvectorBackend(engine, Chunk, resource_type="document")`` is the binding the FastAPI
layer, the resource lifecycle and the retrievers use (``sentinel_vectors.binding``).
"""

from sentinel_vectors_pgvector.binding import PgvectorBackend, PgvectorChunkIndex
from sentinel_vectors_pgvector.calls import DEFAULT_POSTFILTER_MIN_IDS
from sentinel_vectors_pgvector.compiler import SqlFilterCompiler
from sentinel_vectors_pgvector.model import (
    DISTANCE_OPCLASSES,
    ChunkMixin,
    Distance,
    chunk_table,
    hnsw_index,
    metadata_index,
)
from sentinel_vectors_pgvector.partitions import (
    PARTITION_BY_WORKSPACE,
    create_workspace_partition,
    partition_name,
    partitioning_ddl,
    promote_workspace,
    promote_workspace_sync,
    workspace_partitions,
)
from sentinel_vectors_pgvector.results import Hit, Hits, Record
from sentinel_vectors_pgvector.rls import (
    POLICY_NAME,
    WORKSPACE_SETTING,
    disable_rls,
    enable_rls,
    grant_app_role,
)
from sentinel_vectors_pgvector.statements import IterativeScan, SearchSettings
from sentinel_vectors_pgvector.store import ScopedVectorStore, SyncScopedVectorStore

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "DISTANCE_OPCLASSES",
    "PARTITION_BY_WORKSPACE",
    "POLICY_NAME",
    "WORKSPACE_SETTING",
    "ChunkMixin",
    "Distance",
    "Hit",
    "Hits",
    "IterativeScan",
    "PgvectorBackend",
    "PgvectorChunkIndex",
    "Record",
    "ScopedVectorStore",
    "SearchSettings",
    "SqlFilterCompiler",
    "SyncScopedVectorStore",
    "chunk_table",
    "create_workspace_partition",
    "disable_rls",
    "enable_rls",
    "grant_app_role",
    "hnsw_index",
    "metadata_index",
    "partition_name",
    "partitioning_ddl",
    "promote_workspace",
    "promote_workspace_sync",
    "workspace_partitions",
]
