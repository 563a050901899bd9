"""Chunk tables: a declarative mixin, a Core table factory, and the indexes tenancy needs.

A chunk table has the columns::

    id            text     caller's id, unique per workspace
    workspace_id  uuid     stamped from the scope          } primary key (workspace_id, id):
    owner_id      uuid     stamped from the scope            ids never collide across
    resource_id   uuid     the Sentinel resource (indexed)   workspaces (invariant 3)
    document      text     the chunk's text (nullable)
    metadata      jsonb    the caller's metadata, not null
    embedding     vector(dim)

and the composite index ``(workspace_id, resource_id)`` that the tenancy filter
``workspace_id = :ws AND resource_id = ANY(:ids)`` uses. :func:`hnsw_index` adds the
vector index for one distance.

Declarative::

    class Base(DeclarativeBase):
        pass

    class Chunk(ChunkMixin, Base):
        __tablename__ = "chunks"
        __embedding_dim__ = 384

    hnsw_index(Chunk, "cosine")

Core::

    chunks = chunk_table("chunks", MetaData(), dim=384)
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from pgvector.sqlalchemy import VECTOR, Vector
from sqlalchemy import (
    Column,
    FromClause,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY

__all__ = [
    "DISTANCE_OPCLASSES",
    "ChunkMixin",
    "Distance",
    "chunk_table",
    "hnsw_index",
    "metadata_index",
    "table_of",
]

Distance = Literal["cosine", "l2", "ip", "l1"]
"""A pgvector distance: ``<=>`` cosine, ``<->`` Euclidean, ``<#>`` negative inner product,
``<+>`` taxicab."""

DISTANCE_OPCLASSES: dict[str, str] = {
    "cosine": "vector_cosine_ops",
    "l2": "vector_l2_ops",
    "ip": "vector_ip_ops",
    "l1": "vector_l1_ops",
}
"""The HNSW operator class that serves each :data:`Distance`."""

METADATA_COLUMN = "metadata"
"""Name of the JSONB column (the ORM attribute is ``meta``: ``metadata`` is taken)."""


class ChunkMixin:
    """Declarative mixin for a chunk table; set ``__tablename__`` and ``__embedding_dim__``.

    The resource column is ``resource_id``; a table whose resource column has another
    name (``document_id``) is built with :func:`chunk_table` or by hand, and the store
    is told with ``resource_key=``.
    """

    __embedding_dim__: ClassVar[int]
    __partitioned__: ClassVar[bool] = False
    """``True``: ``PARTITION BY LIST (workspace_id)`` (see :mod:`.partitions`)."""

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    resource_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    document: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(
        METADATA_COLUMN, JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )

    @declared_attr
    def embedding(cls) -> Mapped[Any]:
        """``vector(__embedding_dim__)``, not null."""
        dim = getattr(cls, "__embedding_dim__", None)
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidInputError(
                f"{getattr(cls, '__name__', 'ChunkMixin')} must set __embedding_dim__ "
                f"to the embedding dimension (an int)"
            )
        return mapped_column(Vector(dim), nullable=False)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        name = getattr(cls, "__tablename__", "chunks")
        index = Index(f"ix_{name}_workspace_resource", "workspace_id", "resource_id")
        if getattr(cls, "__partitioned__", False):
            return (index, {"postgresql_partition_by": "LIST (workspace_id)"})
        return (index,)


def chunk_table(
    name: str,
    metadata: MetaData,
    *,
    dim: int,
    resource_key: str = "resource_id",
    schema: str | None = None,
    extra: tuple[Column[Any], ...] = (),
    partitioned: bool = False,
) -> Table:
    """A Core ``Table`` with the chunk columns, the tenancy primary key and index.

    ``extra`` columns are added as they are (a ``tsvector`` for hybrid search, a
    foreign key to your documents table, ...); the store leaves them alone.
    ``partitioned=True`` declares it ``PARTITION BY LIST (workspace_id)``: create its
    partitions with :func:`~sentinel_vectors_pgvector.partitioning_ddl` (workspace
    placement, ``docs/scaling.md``).
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise InvalidInputError(f"dim must be a positive int, got {dim!r}")
    if resource_key in (WORKSPACE_KEY, OWNER_KEY, "id", "document", "embedding", "metadata"):
        raise InvalidInputError(f"resource_key {resource_key!r} collides with a chunk column")
    table = Table(
        name,
        metadata,
        Column("workspace_id", Uuid, primary_key=True),
        Column("id", Text, primary_key=True),
        Column("owner_id", Uuid, nullable=False),
        Column(resource_key, Uuid, nullable=False),
        Column("document", Text, nullable=True),
        Column(
            METADATA_COLUMN,
            JSONB,
            key="meta",
            nullable=False,
            server_default=text("'{}'::jsonb"),
        ),
        Column("embedding", Vector(dim), nullable=False),
        *extra,
        schema=schema,
    )
    if partitioned:
        table.dialect_options["postgresql"]["partition_by"] = "LIST (workspace_id)"
    Index(f"ix_{name}_workspace_resource", table.c.workspace_id, table.c[resource_key])
    return table


def table_of(model: object) -> Table:
    """The ``Table`` behind a mapped class, or the table itself."""
    if isinstance(model, Table):
        return model
    mapper = inspect(model, raiseerr=False)
    local: FromClause | None = getattr(mapper, "local_table", None)
    if isinstance(local, Table):
        return local
    raise InvalidInputError(f"model must be a mapped class (ChunkMixin) or a Table, got {model!r}")


def _embedding_column(table: Table) -> Column[Any]:
    for column in table.columns:
        if column.name == "embedding" and isinstance(column.type, VECTOR):
            return column
    raise InvalidInputError(f"table {table.name!r} has no vector column named 'embedding'")


def hnsw_index(
    model: object,
    distance: Distance = "cosine",
    *,
    m: int = 16,
    ef_construction: int = 64,
    name: str | None = None,
) -> Index:
    """An HNSW index on the embedding for ``distance``, attached to the table.

    ``create_all`` (and Alembic autogenerate) pick it up. Build it after a bulk load:
    inserting into an HNSW index row by row is far slower than building it once. A
    query uses it only when it orders by the same distance.
    """
    if distance not in DISTANCE_OPCLASSES:
        raise InvalidInputError(
            f"distance must be one of {sorted(DISTANCE_OPCLASSES)}, got {distance!r}"
        )
    table = table_of(model)
    column = _embedding_column(table)
    return Index(
        name or f"ix_{table.name}_embedding_hnsw_{distance}",
        column,
        postgresql_using="hnsw",
        postgresql_with={"m": m, "ef_construction": ef_construction},
        postgresql_ops={column.key: DISTANCE_OPCLASSES[distance]},
    )


def metadata_index(model: object, *, name: str | None = None) -> Index:
    """A GIN ``jsonb_path_ops`` index on the metadata column, for ``eq`` filters (``@>``)."""
    table = table_of(model)
    for column in table.columns:
        if column.name == METADATA_COLUMN:
            return Index(
                name or f"ix_{table.name}_metadata_gin",
                column,
                postgresql_using="gin",
                postgresql_ops={column.key: "jsonb_path_ops"},
            )
    raise InvalidInputError(f"table {table.name!r} has no {METADATA_COLUMN!r} column")
