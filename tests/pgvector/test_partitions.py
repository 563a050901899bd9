"""Workspace placement on the real PostgreSQL: the chunk table partitioned by workspace.

One partitioned table per test (a hash-partitioned default partition for the shared
workspaces, list partitions for promoted ones, the HNSW index on every partition). The
scoped store is the unchanged one: these tests prove that its statements reach only the
scope's partition, that promotion moves a workspace online with nothing lost, and that
the partitions are no way around the parent's row-level security.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import Engine, MetaData, Table, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sentinel_vectors.errors import InvalidInputError, PlacementError
from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_pgvector import (
    ScopedVectorStore,
    SyncScopedVectorStore,
    chunk_table,
    create_workspace_partition,
    enable_rls,
    grant_app_role,
    hnsw_index,
    partition_name,
    partitioning_ddl,
    promote_workspace,
    promote_workspace_sync,
    workspace_partitions,
)
from tests.pgvector.conftest import DIM, bulk_load, raw_row, vec

QUERY = vec(0)
BIG = 300  # chunks of the large workspace


@pytest.fixture
def placed(sync_engine: Engine) -> Iterator[Table]:
    """A chunk table partitioned by workspace: default partition hashed in 2, HNSW index."""
    table = chunk_table(f"pchunks_{uuid.uuid4().hex[:8]}", MetaData(), dim=DIM, partitioned=True)
    hnsw_index(table, "cosine")
    table.metadata.create_all(sync_engine)
    with sync_engine.begin() as conn:
        for stmt in partitioning_ddl(table, Placement("tiered"), hash_partitions=2):
            conn.execute(stmt)
    yield table
    table.metadata.drop_all(sync_engine)


@dataclass
class Skewed:
    big: Member  # admin of the large workspace
    small: Member  # admin of a small workspace, same ids
    res_big: str
    res_small: str


@pytest.fixture
def skewed(tenancy: Tenancy, sync_engine: Engine, placed: Table) -> Skewed:
    ws_big, ws_small = tenancy.workspace(), tenancy.workspace()
    big, small = tenancy.member("admin", ws_big), tenancy.member("admin", ws_small)
    w = Skewed(big, small, tenancy.resource(big), tenancy.resource(small))
    rows = [raw_row(ws_big, f"c-{i}", w.res_big, embedding=vec(1000 + i)) for i in range(BIG)]
    # The small workspace holds the same ids, exactly at the query: any leak shows first.
    rows += [raw_row(ws_small, f"c-{i}", w.res_small, embedding=QUERY) for i in range(10)]
    bulk_load(sync_engine, placed, rows)
    return w


def _store(engine: AsyncEngine, member: Member, table: Table) -> ScopedVectorStore:
    return ScopedVectorStore(engine, member.auth, model=table, resource_type="document")


def _ws(member: Member) -> str:
    return str(member.user.workspace_id)


def _relations(plan: Any) -> set[str]:
    """Every relation a JSON EXPLAIN plan scans."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            found.add(str(plan["Relation Name"]))
        for value in plan.values():
            found |= _relations(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _relations(value)
    return found


@pytest.mark.invariant(1)
async def test_invariant_1_store_statements_reach_only_the_scope_partition(
    sync_engine: Engine, placed: Table, skewed: Skewed
) -> None:
    """EXPLAIN of every statement the store runs: only the scope's partition is scanned."""
    promote_workspace_sync(sync_engine, placed, _ws(skewed.big))
    own = partition_name(placed, _ws(skewed.big))
    with sync_engine.connect() as conn:
        shared = {n for n in workspace_partitions(conn, placed) if n != own}
    sent: list[tuple[str, Any]] = []

    def log(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "set_config" not in statement:
            sent.append((statement, params))

    event.listen(sync_engine, "before_cursor_execute", log)
    try:
        store = SyncScopedVectorStore(
            sync_engine, skewed.big.auth, model=placed, resource_type="document"
        )

        def calls() -> None:
            hits = store.query(QUERY, 5)
            assert len(hits) == 5
            assert all(h.id.startswith("c-") for h in hits)
            store.get(["c-1", "c-2"])
            store.count()
            store.get(filter={"$or": [{"a": 1}, {"b": {"$ne": 2}}]})

        await anyio.to_thread.run_sync(calls)
    finally:
        event.remove(sync_engine, "before_cursor_execute", log)
    assert sent
    with sync_engine.connect() as conn:
        for statement, params in sent:
            raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar_one()
            plan = raw if isinstance(raw, list) else json.loads(raw)
            scanned = _relations(plan)
            assert scanned == {own}, (statement, scanned)
            assert not scanned & shared


@pytest.mark.invariant(3)
async def test_promotion_moves_the_workspace_and_nothing_else(
    async_engine: AsyncEngine, sync_engine: Engine, placed: Table, skewed: Skewed
) -> None:
    big, small = (
        _store(async_engine, skewed.big, placed),
        _store(async_engine, skewed.small, placed),
    )
    before_big = [h.id for h in await big.query(QUERY, k=10)]
    before_small = {h.id for h in await small.query(QUERY, k=10)}
    assert await promote_workspace(async_engine, placed, _ws(skewed.big)) == BIG
    assert await promote_workspace(async_engine, placed, _ws(skewed.big)) == 0  # idempotent
    own = partition_name(placed, _ws(skewed.big))
    with sync_engine.connect() as conn:
        assert workspace_partitions(conn, placed)[own] == f"FOR VALUES IN ('{_ws(skewed.big)}')"
        in_own = conn.execute(text(f'SELECT count(*) FROM "{own}"')).scalar_one()
        in_shared = conn.execute(
            text(f'SELECT count(*) FROM "{placed.name}__shared" WHERE workspace_id = :w'),
            {"w": _ws(skewed.big)},
        ).scalar_one()
        indexes = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": own}
        ).scalars()
        assert any("USING hnsw" in d for d in indexes)  # its own HNSW graph
    assert (in_own, in_shared) == (BIG, 0)
    assert [h.id for h in await big.query(QUERY, k=10)] == before_big
    assert {h.id for h in await small.query(QUERY, k=10)} == before_small
    assert await big.count() == BIG
    assert await small.count() == 10
    # Same id in both workspaces, now in two partitions: a write reaches its own only.
    await big.upsert(["c-1"], [vec(5)], [{"resource_id": skewed.res_big, "v": 2}])
    [mine] = await big.get(["c-1"])
    [theirs] = await small.get(["c-1"])
    assert mine.metadata["v"] == 2
    assert "v" not in theirs.metadata


async def test_promotion_is_online_reads_and_writes_during_the_move(
    async_engine: AsyncEngine, placed: Table, skewed: Skewed
) -> None:
    """Concurrent readers and writers of both workspaces while the large one moves.

    Every read sees every chunk written before it and acknowledged, never a duplicate,
    never a chunk of the other workspace; every write lands and stays.
    """
    big, small = (
        _store(async_engine, skewed.big, placed),
        _store(async_engine, skewed.small, placed),
    )
    moved = asyncio.Event()
    acked: dict[str, set[str]] = {"big": set(), "small": set()}
    after_move = 3  # rounds each loop runs after the move committed
    observed = {"reads": 0, "reads_during": 0}

    async def writer(name: str, s: ScopedVectorStore, res: str) -> None:
        i, left = 0, after_move
        while left:
            rid = f"w-{name}-{i}"
            await s.add([rid], [vec(7000 + i)], [{"resource_id": res}])
            acked[name].add(rid)
            i += 1
            if moved.is_set():
                left -= 1

    async def reader(name: str, s: ScopedVectorStore, base: int) -> None:
        left = after_move
        while left:
            known = set(acked[name])
            records = await s.get()
            ids = [r.id for r in records]
            assert len(ids) == len(set(ids))  # never a row twice (shared and own)
            assert {f"c-{i}" for i in range(base)} <= set(ids)
            assert known <= set(ids)
            assert {r.metadata["workspace_id"] for r in records} == {_ws(s_member[name])}
            hits = await s.query(QUERY, k=5)
            assert len(hits) == 5, (name, moved.is_set(), len(hits))
            observed["reads"] += 1
            if not moved.is_set():
                observed["reads_during"] += 1
            else:
                left -= 1

    s_member = {"big": skewed.big, "small": skewed.small}

    async def move() -> None:
        await asyncio.sleep(0)  # let every loop start first
        await promote_workspace(async_engine, placed, _ws(skewed.big))
        moved.set()

    async with asyncio.TaskGroup() as tasks:  # a failure cancels the other loops
        tasks.create_task(writer("big", big, skewed.res_big))
        tasks.create_task(writer("small", small, skewed.res_small))
        tasks.create_task(reader("big", big, BIG))
        tasks.create_task(reader("small", small, 10))
        tasks.create_task(move())
    assert observed["reads_during"] >= 1
    assert {r.id for r in await big.get()} == {f"c-{i}" for i in range(BIG)} | acked["big"]
    assert {r.id for r in await small.get()} == {f"c-{i}" for i in range(10)} | acked["small"]


@pytest.mark.invariant(1)
async def test_invariant_1_partitions_are_no_way_around_rls(
    postgres_server: PostgresServer, sync_engine: Engine, placed: Table, skewed: Skewed
) -> None:
    """The application role, granted the parent only, cannot read a partition directly."""
    promote_workspace_sync(sync_engine, placed, _ws(skewed.big))
    own = partition_name(placed, _ws(skewed.big))
    role, password = f"sentinel_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with sync_engine.begin() as conn:
        conn.execute(
            text(f"CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{password}'")
        )
        for stmt in [*grant_app_role(placed, role), *enable_rls(placed, role=role)]:
            conn.execute(stmt)
    url = postgres_server.sqlalchemy_url("asyncpg").replace(
        f"{postgres_server.user}:{postgres_server.password}@", f"{role}:{password}@", 1
    )
    app = create_async_engine(url)
    try:
        async with app.begin() as conn:
            await conn.execute(
                select(func.set_config("sentinel.workspace_id", _ws(skewed.small), True))
            )
            seen = (await conn.execute(select(func.count()).select_from(placed))).scalar_one()
            assert seen == 10  # the parent, under RLS: the set workspace only
        for partition in (own, f"{placed.name}__shared_h0"):
            with pytest.raises(DBAPIError, match="permission denied"):
                async with app.begin() as conn:
                    await conn.execute(text(f'SELECT count(*) FROM "{partition}"'))
        store = ScopedVectorStore(app, skewed.big.auth, model=placed, resource_type="document")
        assert await store.count() == BIG  # the store works under RLS on its own partition
    finally:
        await app.dispose()
        with sync_engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


async def test_per_tenant_placement_writes_only_into_an_onboarded_partition(
    async_engine: AsyncEngine, sync_engine: Engine, tenancy: Tenancy
) -> None:
    table = chunk_table(f"tchunks_{uuid.uuid4().hex[:8]}", MetaData(), dim=DIM, partitioned=True)
    table.metadata.create_all(sync_engine)
    try:
        ws = tenancy.workspace()
        member = tenancy.member("admin", ws)
        assert partitioning_ddl(table, Placement("per_tenant")) == []  # no shared partition
        store = _store(async_engine, member, table)
        res = tenancy.resource(member)
        # A typed error, not the driver's: the workspace has no place yet, nothing written.
        with pytest.raises(PlacementError, match="no partition"):
            await store.add(["a"], [vec(1)], [{"resource_id": res}])
        with sync_engine.begin() as conn:
            assert create_workspace_partition(conn, table, str(ws)) is True
            assert create_workspace_partition(conn, table, str(ws)) is False
        await store.add(["a"], [vec(1)], [{"resource_id": res}])
        assert [r.id for r in await store.get()] == ["a"]
        with pytest.raises(InvalidInputError, match="no default"):
            promote_workspace_sync(sync_engine, table, str(tenancy.workspace()))
    finally:
        table.metadata.drop_all(sync_engine)


def test_partitioning_refuses_an_unpartitioned_table(sync_engine: Engine) -> None:
    table = chunk_table("plain", MetaData(), dim=DIM)
    with pytest.raises(InvalidInputError, match="not partitioned"):
        partitioning_ddl(table, Placement())
    with pytest.raises(InvalidInputError, match="too long"):
        partition_name(chunk_table("x" * 40, MetaData(), dim=DIM), str(uuid.uuid4()))


def test_cli_promote_moves_one_workspace_online_and_refuses_other_stores(
    postgres_server: PostgresServer, sync_engine: Engine, placed: Table, skewed: Skewed
) -> None:
    """``sentinel-vectors promote``: the library call behind a command, idempotent."""
    from typer.testing import CliRunner

    from sentinel_vectors_cli.app import app

    url = f"{postgres_server.sqlalchemy_url('asyncpg')}/{placed.name}"
    runner = CliRunner()
    first = runner.invoke(app, ["promote", url, "-w", _ws(skewed.big)])
    assert first.exit_code == 0, first.output
    assert f"{BIG} chunks moved" in first.output
    again = runner.invoke(app, ["promote", url, "-w", _ws(skewed.big)])
    assert again.exit_code == 0
    assert "0 chunks moved" in again.output
    with sync_engine.connect() as conn:
        own = partition_name(placed, _ws(skewed.big))
        assert own in workspace_partitions(conn, placed)
        assert conn.execute(text(f'SELECT count(*) FROM "{own}"')).scalar_one() == BIG
        assert conn.execute(select(func.count()).select_from(placed)).scalar_one() == BIG + 10
    refused = runner.invoke(app, ["promote", url, "-w", _ws(skewed.big), "--settle", "1"])
    assert refused.exit_code == 2
    assert "apply to Chroma only" in refused.output
    bad = runner.invoke(app, ["promote", url, "-w", "not-a-uuid"])
    assert bad.exit_code == 2
