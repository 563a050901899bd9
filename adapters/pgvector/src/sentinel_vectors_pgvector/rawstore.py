"""pgvector's :class:`~sentinel_vectors.operations.RawStore`: unscoped access for operations.

For the command line and operations scripts only (``sentinel_vectors.operations``);
requests go through :class:`~sentinel_vectors_pgvector.ScopedVectorStore`.

A chunk table keeps the stamps in typed columns and namespaces ids by its primary key
``(workspace_id, id)``; the neutral key of a row is ``"<workspace_id>:<id>"``
(:func:`~sentinel_vectors.access.namespaced_id`), its metadata the JSONB column with the
stamp columns merged in. Rows are stamped by construction, so a record without a valid
stamp cannot be written here (stamp it with ``backfill`` where it lives first).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import MetaData, Table, delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel_vectors.access import ID_SEPARATOR, OWNER_KEY, WORKSPACE_KEY, namespaced_id
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.stamps import read_stamp
from sentinel_vectors.operations.store import Finding, RecordId, StoredRecord
from sentinel_vectors_pgvector.model import DISTANCE_OPCLASSES, chunk_table

__all__ = ["PgvectorRawStore", "reflect_chunk_table"]

_EXPECTED_TYPES = {
    "workspace_id": "uuid",
    "id": "text",
    "owner_id": "uuid",
    "document": "text",
    "metadata": "jsonb",
}


async def _columns(engine: AsyncEngine, name: str, schema: str | None) -> dict[str, str]:
    """``{column: format_type}`` of a table, ``{}`` if it does not exist."""
    sql = text(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(:rel) AND a.attnum > 0 AND NOT a.attisdropped"
    )
    rel = f'"{schema}"."{name}"' if schema else f'"{name}"'
    async with engine.connect() as conn:
        rows = (await conn.execute(sql, {"rel": rel})).all()
    return {str(r[0]): str(r[1]) for r in rows}


async def reflect_chunk_table(
    engine: AsyncEngine, name: str, *, schema: str | None = None, resource_key: str = "resource_id"
) -> Table:
    """The chunk table ``name`` as a Core ``Table`` (its dimension read from the database)."""
    columns = await _columns(engine, name, schema)
    if not columns:
        raise InvalidInputError(f"table {name!r} does not exist")
    kind = columns.get("embedding", "")
    if not kind.startswith("vector("):
        raise InvalidInputError(f"table {name!r} has no vector(n) column named 'embedding'")
    dim = int(kind[len("vector(") : -1])
    return chunk_table(name, MetaData(), dim=dim, resource_key=resource_key, schema=schema)


def _split(key: str) -> tuple[uuid.UUID, str] | None:
    head, sep, tail = key.partition(ID_SEPARATOR)
    try:
        return (uuid.UUID(head), tail) if sep else None
    except ValueError:
        return None


class PgvectorRawStore:
    """Unscoped row access to one chunk table.

    Args:
        engine: an ``AsyncEngine`` (asyncpg) with rights on the table (RLS: a role that
            bypasses it, e.g. the table owner without ``FORCE``, or a superuser).
        table: the chunk table (:func:`reflect_chunk_table`, ``chunk_table`` or a model's
            ``__table__``).
        resource_key: the resource column.
        distance: the distance :meth:`nearest` orders by (``cosine``, ``l2``, ``ip``, ``l1``).
    """

    backend = "pgvector"

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        *,
        resource_key: str = "resource_id",
        distance: str = "cosine",
        dispose: bool = False,
    ) -> None:
        if distance not in DISTANCE_OPCLASSES:
            raise InvalidInputError(
                f"distance must be one of {sorted(DISTANCE_OPCLASSES)}, got {distance!r}"
            )
        self.engine = engine
        self.table = table
        self.distance = distance
        self._resource_key = resource_key
        self._dispose = dispose

    @property
    def name(self) -> str:
        """The table's name."""
        return self.table.name

    @property
    def resource_key(self) -> str:
        """The resource column."""
        return self._resource_key

    def _record(self, row: Any, embeddings: bool) -> StoredRecord:
        ws, rid = str(row.workspace_id), str(row.id)
        metadata = dict(row.meta or {})
        metadata[WORKSPACE_KEY] = ws
        metadata[OWNER_KEY] = str(row.owner_id)
        metadata[self._resource_key] = str(getattr(row, self._resource_key))
        vec = None
        if embeddings:
            vec = tuple(float(x) for x in row.embedding)
        return StoredRecord(
            key=namespaced_id(ws, rid),
            id=rid,
            document=row.document,
            metadata=metadata,
            embedding=vec,
        )

    def _columns(self, embeddings: bool) -> list[Any]:
        t = self.table.c
        cols = [t.workspace_id, t.id, t.owner_id, t[self._resource_key], t.document, t.meta]
        return [*cols, t.embedding] if embeddings else cols

    async def count(self, workspace_id: str | None = None) -> int:
        """Rows in the table (of ``workspace_id``, if given)."""
        stmt = select(func.count()).select_from(self.table)
        if workspace_id is not None:
            stmt = stmt.where(self.table.c.workspace_id == uuid.UUID(workspace_id))
        async with self.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def scan(
        self,
        *,
        workspace_id: str | None = None,
        batch_size: int = 256,
        embeddings: bool = False,
    ) -> AsyncIterator[list[StoredRecord]]:
        """Every row, ``batch_size`` at a time, by primary key (keyset pagination)."""
        t = self.table.c
        after: tuple[uuid.UUID, str] | None = None
        while True:
            stmt = select(*self._columns(embeddings)).order_by(t.workspace_id, t.id)
            if workspace_id is not None:
                stmt = stmt.where(t.workspace_id == uuid.UUID(workspace_id))
            if after is not None:
                stmt = stmt.where(tuple_(t.workspace_id, t.id) > tuple_(*after))
            async with self.engine.connect() as conn:
                rows = (await conn.execute(stmt.limit(batch_size))).all()
            if not rows:
                return
            yield [self._record(r, embeddings) for r in rows]
            after = (rows[-1].workspace_id, rows[-1].id)

    async def fetch(self, keys: Sequence[str], *, embeddings: bool = True) -> list[StoredRecord]:
        """The rows stored under ``keys`` (``"<workspace_id>:<id>"``)."""
        pairs = [p for p in map(_split, keys) if p is not None]
        if not pairs:
            return []
        t = self.table.c
        stmt = select(*self._columns(embeddings)).where(tuple_(t.workspace_id, t.id).in_(pairs))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [self._record(r, embeddings) for r in rows]

    def _row(self, record: StoredRecord) -> dict[str, Any]:
        state, stamp = read_stamp(record.metadata, self._resource_key)
        if stamp is None:
            raise InvalidInputError(
                f"record {record.key!r}: a chunk table holds stamped records only ({state} "
                f"stamp); run `backfill` on the source first"
            )
        if record.key != namespaced_id(stamp.workspace_id, str(record.id)):
            raise InvalidInputError(
                f"record {record.key!r} is not stored under its workspace's namespaced id"
            )
        if record.embedding is None:
            raise InvalidInputError(f"record {record.key!r} needs its embedding")
        meta = {
            k: v
            for k, v in record.metadata.items()
            if k not in (WORKSPACE_KEY, OWNER_KEY, self._resource_key)
        }
        return {
            "workspace_id": uuid.UUID(stamp.workspace_id),
            "id": str(record.id),
            "owner_id": uuid.UUID(stamp.owner_id),
            self._resource_key: uuid.UUID(stamp.resource_id),
            "document": record.document,
            "meta": meta,
            "embedding": list(record.embedding),
        }

    async def write(self, records: Sequence[StoredRecord]) -> None:
        """Insert or replace ``records`` (one statement, one transaction)."""
        if not records:
            return
        rows = [self._row(r) for r in records]
        stmt = insert(self.table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[self.table.c.workspace_id, self.table.c.id],
            set_={
                self.table.c[c]: stmt.excluded[c]
                for c in rows[0]
                if c not in ("workspace_id", "id")
            },
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete the rows stored under ``keys``."""
        pairs = [p for p in map(_split, keys) if p is not None]
        if not pairs:
            return
        t = self.table.c
        async with self.engine.begin() as conn:
            await conn.execute(delete(self.table).where(tuple_(t.workspace_id, t.id).in_(pairs)))

    def physical_key(self, workspace_id: str, record_id: RecordId) -> str:
        """``"<workspace_id>:<id>"``: the primary key, as neutral text."""
        if not isinstance(record_id, str) or not record_id:
            raise InvalidInputError(f"chunk table ids are non-empty strings, got {record_id!r}")
        return namespaced_id(workspace_id, record_id)

    async def nearest(
        self, embedding: Sequence[float], k: int, *, workspace_id: str
    ) -> list[RecordId]:
        """The ids of the ``k`` rows of ``workspace_id`` nearest ``embedding``."""
        col = self.table.c.embedding
        order = {
            "cosine": col.cosine_distance,
            "l2": col.l2_distance,
            "ip": col.max_inner_product,
            "l1": col.l1_distance,
        }[self.distance](list(embedding))
        stmt = (
            select(self.table.c.id)
            .where(self.table.c.workspace_id == uuid.UUID(workspace_id))
            .order_by(order)
            .limit(k)
        )
        async with self.engine.connect() as conn:
            return [str(r[0]) for r in (await conn.execute(stmt)).all()]

    async def check_config(self) -> list[Finding]:
        """Column types, the primary key, the HNSW and tenancy indexes, RLS."""
        name, schema = self.table.name, self.table.schema
        columns = await _columns(self.engine, name, schema)
        findings: list[Finding] = []
        expected = {**_EXPECTED_TYPES, self._resource_key: "uuid"}
        for column, kind in expected.items():
            if columns.get(column) != kind:
                findings.append(
                    Finding(
                        "pgvector.column_type",
                        f"table {name!r}: column {column!r} is {columns.get(column) or 'missing'}"
                        f", expected {kind}",
                    )
                )
        if not columns.get("embedding", "").startswith("vector("):
            findings.append(
                Finding("pgvector.column_type", f"table {name!r}: 'embedding' is not vector(n)")
            )
        rel = f'"{schema}"."{name}"' if schema else f'"{name}"'
        async with self.engine.connect() as conn:
            indexes = [
                str(r[0])
                for r in (
                    await conn.execute(
                        text(
                            "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                            "WHERE indrelid = to_regclass(:rel)"
                        ),
                        {"rel": rel},
                    )
                ).all()
            ]
            rls = (
                await conn.execute(
                    text(
                        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                        "WHERE oid = to_regclass(:rel)"
                    ),
                    {"rel": rel},
                )
            ).first()
        if not any("USING hnsw" in d and "(embedding " in d for d in indexes):
            findings.append(
                Finding(
                    "pgvector.hnsw_index",
                    f"table {name!r} has no HNSW index on 'embedding': every query is an exact "
                    f"scan. Add hnsw_index(table, distance) in a migration.",
                )
            )
        pk = "(workspace_id, id)"
        if not any("UNIQUE" in d and pk in d for d in indexes):
            findings.append(
                Finding(
                    "pgvector.primary_key",
                    f"table {name!r}: the primary key is not (workspace_id, id); ids could "
                    f"collide across workspaces",
                )
            )
        if not any(f"(workspace_id, {self._resource_key})" in d for d in indexes):
            findings.append(
                Finding(
                    "pgvector.tenancy_index",
                    f"table {name!r} has no (workspace_id, {self._resource_key}) index",
                    "warning",
                )
            )
        enabled, forced = (bool(rls[0]), bool(rls[1])) if rls is not None else (False, False)
        if not enabled or not forced:
            state = "disabled" if not enabled else "enabled but not forced"
            findings.append(
                Finding(
                    "pgvector.rls",
                    f"table {name!r}: row-level security is {state}; enable_rls(table, "
                    f"force=True) adds the second fence (docs/pgvector.md)",
                    "warning",
                )
            )
        return findings

    async def aclose(self) -> None:
        """Dispose of the engine, if this store made it."""
        if self._dispose:
            await self.engine.dispose()
