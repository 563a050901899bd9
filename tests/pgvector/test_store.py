"""The async store's API on the real server: writes, reads, filters, searches, transactions."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sentinel_vectors import filters as F
from sentinel_vectors.errors import (
    DimensionMismatchError,
    FilterError,
    InvalidInputError,
    ReservedKeyError,
)
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_pgvector import ScopedVectorStore
from tests.pgvector.conftest import SqlLog, vec


def store(engine: AsyncEngine | AsyncSession, auth: object, table: Table) -> ScopedVectorStore:
    return ScopedVectorStore(engine, auth, model=table, resource_type="document")  # type: ignore[arg-type]


def rows_in(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


async def test_add_get_query_roundtrip(
    async_engine: AsyncEngine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    s = store(async_engine, alice.auth, chunks)
    await s.add(
        ["a", "b", "c"],
        [vec(1), vec(2), vec(3)],
        [{"resource_id": doc, "topic": t, "year": y} for t, y in [("x", 1), ("y", 2), ("x", 3)]],
        documents=["alpha", "beta", None],
    )
    got = await s.get()
    assert [r.id for r in got] == ["a", "b", "c"]
    assert got[0].document == "alpha"
    assert got[0].metadata == {
        "resource_id": doc,
        "topic": "x",
        "year": 1,
        "workspace_id": str(ws),
        "owner_id": str(alice.id),
    }
    hits = await s.query(vec(2), k=2)
    assert hits[0].id == "b"
    assert hits[0].distance == pytest.approx(0.0, abs=1e-6)
    assert len(hits) == 2
    assert await s.count() == 3
    assert await s.count(filter={"topic": "x"}) == 2
    with_emb = await s.get("a", include_embeddings=True)
    assert with_emb[0].embedding == pytest.approx(vec(1), rel=1e-6)


@pytest.mark.parametrize("distance", ["cosine", "l2", "ip", "l1"])
async def test_query_distances_order_like_numpy(
    async_engine: AsyncEngine, chunks: Table, tenancy: Tenancy, distance: str
) -> None:
    import numpy as np

    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    s = store(async_engine, alice.auth, chunks)
    vectors = [vec(i) for i in range(20)]
    await s.add([f"c{i}" for i in range(20)], vectors, [{"resource_id": doc}] * 20)
    q = np.array(vec(99))
    m = np.array(vectors)
    score = {
        "cosine": 1 - m @ q / (np.linalg.norm(m, axis=1) * np.linalg.norm(q)),
        "l2": np.linalg.norm(m - q, axis=1),
        "ip": -(m @ q),
        "l1": np.abs(m - q).sum(axis=1),
    }[distance]
    want = [f"c{i}" for i in np.argsort(score)[:5]]
    hits = await s.query(vec(99), k=5, distance=distance)  # type: ignore[arg-type]
    assert [h.id for h in hits] == want
    assert [h.distance for h in hits] == pytest.approx(sorted(score)[:5], rel=1e-4, abs=1e-5)


async def test_upsert_replaces_and_update_merges(
    async_engine: AsyncEngine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    s = store(async_engine, alice.auth, chunks)
    await s.add("a", vec(1), {"resource_id": doc, "topic": "x", "keep": 1}, documents="one")
    await s.upsert(["a", "b"], [vec(2), vec(3)], [{"resource_id": doc, "topic": "y"}] * 2)
    a = (await s.get("a", include_embeddings=True))[0]
    assert a.metadata["topic"] == "y"
    assert "keep" not in a.metadata  # upsert replaces the metadata
    assert a.document is None
    assert a.embedding == pytest.approx(vec(2), rel=1e-6)
    assert await s.update(["a", "zzz"], metadatas=[{"extra": True}, {"extra": False}]) == 1
    a = (await s.get("a"))[0]
    assert a.metadata["topic"] == "y"
    assert a.metadata["extra"] is True
    assert await s.update("b", documents="new doc", embeddings=vec(7)) == 1
    b = (await s.get("b", include_embeddings=True))[0]
    assert b.document == "new doc"
    assert b.embedding == pytest.approx(vec(7), rel=1e-6)


async def test_delete_by_ids_and_filter(
    async_engine: AsyncEngine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    s = store(async_engine, alice.auth, chunks)
    await s.add(
        [f"c{i}" for i in range(6)],
        [vec(i) for i in range(6)],
        [{"resource_id": doc, "n": i} for i in range(6)],
    )
    assert await s.delete(["c0", "missing"]) == 1
    assert await s.delete(filter=F.gte("n", 4)) == 2
    assert await s.delete(["c1", "c2"], filter={"n": 2}) == 1
    assert [r.id for r in await s.get()] == ["c1", "c3"]
    assert await s.delete([]) == 0
    with pytest.raises(InvalidInputError):
        await s.delete()


async def test_add_existing_id_is_refused_and_nothing_written(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    s = store(async_engine, alice.auth, chunks)
    await s.add("a", vec(1), {"resource_id": doc})
    with pytest.raises(InvalidInputError, match="already exist"):
        await s.add(["new", "a"], [vec(2), vec(3)], [{"resource_id": doc}] * 2)
    assert rows_in(sync_engine, chunks) == 1


async def test_bad_input_is_refused_before_any_statement(
    async_engine: AsyncEngine, chunks: Table, tenancy: Tenancy, sql_log: SqlLog
) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    s = store(async_engine, alice.auth, chunks)
    sql_log.clear()
    tenancy.running.emulator.calls.clear()
    with pytest.raises(DimensionMismatchError):
        await s.add(["a", "b"], [vec(1), vec(2, dim=7)], [{"resource_id": doc}] * 2)
    with pytest.raises(DimensionMismatchError):
        await s.query(vec(1, dim=9))
    with pytest.raises(InvalidInputError):
        await s.add(["a", "a"], [vec(1), vec(2)], [{"resource_id": doc}] * 2)
    with pytest.raises(InvalidInputError):
        await s.add(["a"], [vec(1)], [{"resource_id": doc, "nested": {"x": 1}}])
    with pytest.raises(InvalidInputError):
        await s.add(["a"], [vec(1)], [{"resource_id": doc, "nan": float("nan")}])
    with pytest.raises(InvalidInputError):
        await s.add(["a"], [[float("inf")] * 8], [{"resource_id": doc}])
    with pytest.raises(InvalidInputError):
        await s.add(["a"], [vec(1)], [{"resource_id": "not-a-uuid"}])
    with pytest.raises(InvalidInputError):
        await s.add(["a", "b"], [vec(1)], [{"resource_id": doc}] * 2)
    with pytest.raises(InvalidInputError):
        await s.add(["a"], None, [{"resource_id": doc}])
    with pytest.raises(InvalidInputError):
        await s.add(["a"], [vec(1)], None)
    with pytest.raises(InvalidInputError):
        await s.query(vec(1), k=0)
    with pytest.raises(InvalidInputError):
        await s.query(vec(1), distance="dot")  # type: ignore[arg-type]
    with pytest.raises(FilterError):
        await s.get(filter={"topic": {"$regex": "x"}})
    with pytest.raises(FilterError):
        await s.get(filter=F.eq("x", float("nan")))
    with pytest.raises(ReservedKeyError):
        await s.get(filter={"workspace_id": str(uuid.uuid4())})
    with pytest.raises(InvalidInputError):
        await s.get(limit=0)
    with pytest.raises(InvalidInputError):
        await s.get(offset=-1)
    assert sql_log.statements == []
    assert tenancy.running.emulator.calls == []


async def test_failed_batch_writes_nothing(
    async_engine: AsyncEngine,
    sync_engine: Engine,
    chunks: Table,
    tenancy: Tenancy,
    sql_log: SqlLog,
) -> None:
    """A server error on the last row of a batch rolls back every row before it.

    The 2,500 rows go to the server in one executemany; the last row's id is too large for
    the primary-key btree, so the server fails it after inserting the rows before it. The
    store ran them in one transaction: nothing remains.
    """
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    s = store(async_engine, alice.auth, chunks)
    n = 2_500
    ids = [f"c{i}" for i in range(n - 1)] + [secrets.token_hex(6_000)]
    sql_log.clear()
    with pytest.raises(DBAPIError, match="index row"):
        await s.add(ids, [vec(i) for i in range(n)], [{"resource_id": doc}] * n)
    assert any(t.startswith("INSERT") for t in sql_log.texts())  # the batch reached the server
    assert rows_in(sync_engine, chunks) == 0
    with pytest.raises(DBAPIError, match="index row"):
        await s.upsert(ids, [vec(i) for i in range(n)], [{"resource_id": doc}] * n)
    assert rows_in(sync_engine, chunks) == 0


async def test_store_in_caller_transaction_uses_savepoint(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    """Given a session inside a transaction, the store joins it and leaves the commit."""
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    async with AsyncSession(async_engine) as session:
        await session.begin()
        s = store(session, alice.auth, chunks)
        await s.add("a", vec(1), {"resource_id": doc})
        with pytest.raises(InvalidInputError):
            await s.add("a", vec(1), {"resource_id": doc})  # rolled back to its savepoint
        assert [r.id for r in await s.get()] == ["a"]
        assert rows_in(sync_engine, chunks) == 0  # not committed yet
        await session.rollback()
    assert rows_in(sync_engine, chunks) == 0
    async with AsyncSession(async_engine) as session:
        s = store(session, alice.auth, chunks)
        await s.add("a", vec(1), {"resource_id": doc})  # idle session: the store commits
    assert rows_in(sync_engine, chunks) == 1
