"""Filtered HNSW search on the real server: iterative scans, settings, huge accessible lists,
the declarative mixin and ``scoped_select`` with ORM entities."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_pgvector import (
    ChunkMixin,
    ScopedVectorStore,
    chunk_table,
    hnsw_index,
    metadata_index,
)
from tests.pgvector.conftest import SqlLog, bulk_load, raw_row

DIM = 16
N = 4_000


@pytest.fixture
def indexed(sync_engine: Engine) -> Iterator[Table]:
    """A 4,000-row table, loaded in bulk, then given its HNSW index; 1% of rows are 'rare'."""
    table = chunk_table(f"hnsw_{uuid.uuid4().hex[:10]}", MetaData(), dim=DIM)
    table.metadata.create_all(sync_engine)
    yield table
    table.metadata.drop_all(sync_engine)


@pytest.fixture
async def forced_index_engine(postgres_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """Sequential scans, bitmap scans and sorts off, so that the planner walks the HNSW graph.

    On a table this small, with a filter this selective, PostgreSQL rightly prefers an
    exact scan of the few matching rows; the test is about the graph walk.
    """
    off = {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_sort": "off"}
    engine = create_async_engine(
        postgres_server.sqlalchemy_url("asyncpg"), connect_args={"server_settings": off}
    )
    yield engine
    await engine.dispose()


def _load(sync_engine: Engine, table: Table, ws: uuid.UUID, res: uuid.UUID) -> list[float]:
    rng = np.random.default_rng(7)
    query = rng.normal(size=DIM)
    rows = []
    for i in range(N):
        rare = i % 100 == 0
        # Rare rows are far from the query: an HNSW scan meets them last.
        emb = (-query if rare else query) + rng.normal(scale=0.5, size=DIM)
        rows.append(raw_row(ws, f"r{i}", res, meta={"rare": rare}, embedding=emb.tolist()))
    bulk_load(sync_engine, table, rows)
    with sync_engine.begin() as conn:
        hnsw_index(table, "l2").create(conn)
        conn.execute(text(f'ANALYZE "{table.name}"'))
    return [float(x) for x in query]


async def test_iterative_scan_fills_top_k_under_a_selective_filter(
    forced_index_engine: AsyncEngine, sync_engine: Engine, indexed: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    admin = tenancy.member("admin", ws)
    query = _load(sync_engine, indexed, ws, uuid.uuid4())

    def make(**kw: Any) -> ScopedVectorStore:
        return ScopedVectorStore(
            forced_index_engine,
            admin.auth,
            model=indexed,
            resource_type="document",
            distance="l2",
            **kw,
        )

    # The plan really is the HNSW index, ordered by the distance, with the tenancy filter.
    stmt = (
        select(indexed.c.id)
        .where(indexed.c.workspace_id == ws, indexed.c.meta.op("@>")(text("'{\"rare\": true}'")))
        .order_by(indexed.c.embedding.l2_distance(query))
        .limit(10)
    )
    async with forced_index_engine.connect() as conn:
        compiled = stmt.compile(conn.sync_engine, compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in (await conn.execute(text(f"EXPLAIN {compiled}"))).all())
    assert f"ix_{indexed.name}_embedding_hnsw_l2" in plan, plan

    off = await make(iterative_scan="off").query(query, k=10, filter={"rare": True})
    on = await make().query(query, k=10, filter={"rare": True})
    strict = await make(iterative_scan="strict_order").query(query, k=10, filter={"rare": True})
    assert len(off) < 10  # ef_search=40 candidates hold ~0.4 rare rows: the classic miss
    assert len(on) == 10
    assert [h.id for h in strict] == [h.id for h in on]
    assert all(h.metadata["rare"] is True for h in on)
    assert [h.distance for h in on] == sorted(h.distance for h in on)
    # max_scan_tuples bounds the work: a tiny budget returns fewer rows, never wrong ones.
    capped = await make(max_scan_tuples=50, ef_search=10).query(query, k=10, filter={"rare": True})
    assert len(capped) < 10
    assert all(h.metadata["rare"] is True for h in capped)


async def test_search_settings_are_set_local_in_the_query_transaction(
    async_engine: AsyncEngine, chunks: Table, tenancy: Tenancy, sql_log: SqlLog
) -> None:
    ws = tenancy.workspace()
    admin = tenancy.member("admin", ws)
    s = ScopedVectorStore(
        async_engine,
        admin.auth,
        model=chunks,
        resource_type="document",
        ef_search=64,
        max_scan_tuples=5_000,
    )
    sql_log.clear()
    await s.query([0.0] * 7 + [1.0], k=100)
    settings_sql, settings_params = sql_log.statements[0]
    assert "set_config" in settings_sql
    assert list(settings_params) == [
        "sentinel.workspace_id",
        str(ws),
        "hnsw.iterative_scan",
        "relaxed_order",
        "hnsw.ef_search",
        "100",
        "hnsw.max_scan_tuples",
        "5000",
    ]
    # LOCAL: nothing leaks into the next transaction on a pooled connection.
    async with async_engine.connect() as conn:
        value = (await conn.execute(select(func.current_setting("hnsw.ef_search")))).scalar()
    assert value == "40"


async def test_large_accessible_list_is_one_array_parameter(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, tenancy: Tenancy, sql_log: SqlLog
) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("viewer", ws)
    owner = tenancy.member("editor", ws)
    shared = [tenancy.resource(owner) for _ in range(20_000)]
    for rid in shared:
        tenancy.share(rid, alice, "view")
    hidden = tenancy.resource(owner)
    bulk_load(
        sync_engine,
        chunks,
        [raw_row(ws, f"s{i}", rid) for i, rid in enumerate(shared[:300])]
        + [raw_row(ws, f"h{i}", hidden) for i in range(50)],
    )
    # Forced, whatever ``auto`` would choose: a post-filter sends no id list at all.
    s = ScopedVectorStore(
        async_engine, alice.auth, model=chunks, resource_type="document", strategy="prefilter"
    )
    sql_log.clear()
    assert len(await s.get()) == 300
    assert len(await s.query([1.0] * 8, k=1000)) == 300
    assert await s.count() == 300
    for statement, params in sql_log.statements:
        if "resource_id" in statement:
            assert len(params) < 10, statement
            arrays = [p for p in params if isinstance(p, list)]
            assert [len(a) for a in arrays] == [20_000]


class Base(DeclarativeBase):
    pass


async def test_mixin_model_hnsw_helper_and_orm_scoped_select(
    async_engine: AsyncEngine, sync_engine: Engine, tenancy: Tenancy
) -> None:
    name = f"orm_chunks_{uuid.uuid4().hex[:8]}"
    chunk = type(name, (ChunkMixin, Base), {"__tablename__": name, "__embedding_dim__": 4})
    hnsw_index(chunk, "cosine")
    metadata_index(chunk)
    Base.metadata.create_all(sync_engine, tables=[chunk.__table__])  # type: ignore[attr-defined]
    try:
        with sync_engine.connect() as conn:
            indexes = set(
                conn.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": name}
                ).scalars()
            )
            pk = conn.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = CAST(:t AS regclass) AND contype = 'p'"
                ),
                {"t": name},
            ).scalar()
        assert pk == "PRIMARY KEY (workspace_id, id)"
        assert any("USING hnsw (embedding vector_cosine_ops)" in i for i in indexes), indexes
        assert any("USING gin (metadata jsonb_path_ops)" in i for i in indexes), indexes
        assert any("(workspace_id, resource_id)" in i for i in indexes), indexes

        ws = tenancy.workspace()
        alice = tenancy.member("editor", ws)
        mine, theirs = tenancy.resource(alice), tenancy.resource(tenancy.member("editor", ws))
        async with AsyncSession(async_engine) as session:
            s = ScopedVectorStore(session, alice.auth, model=chunk, resource_type="document")
            await s.add(["a", "b"], [[1, 0, 0, 0], [0, 1, 0, 0]], [{"resource_id": mine}] * 2)
        bulk_load(sync_engine, chunk.__table__, [raw_row(ws, "c", theirs, embedding=[1, 0, 0, 0])])  # type: ignore[attr-defined]
        s = ScopedVectorStore(async_engine, alice.auth, model=chunk, resource_type="document")
        stmt = await s.scoped_select()
        emb: Any = chunk.embedding  # type: ignore[attr-defined]
        stmt = stmt.order_by(emb.cosine_distance([1, 0, 0, 0])).limit(5)
        session = AsyncSession(async_engine, expire_on_commit=False)
        async with session, session.begin():
            await s.configure(session, k=5)
            found = (await session.scalars(stmt)).all()
        assert [type(c) for c in found] == [chunk, chunk]
        assert [c.id for c in found] == ["a", "b"]
        assert found[0].resource_id == uuid.UUID(mine)
    finally:
        Base.metadata.drop_all(sync_engine, tables=[chunk.__table__])  # type: ignore[attr-defined]
        Base.metadata.remove(chunk.__table__)  # type: ignore[attr-defined]
