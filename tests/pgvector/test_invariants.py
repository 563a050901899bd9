"""Every DESIGN.md security invariant on the real PostgreSQL, one named test (or more) each.

Users are real ``sentinel_auth.RequestAuth`` objects talking to the permission-service
emulator over HTTP; chunks of other workspaces are loaded straight into the table, with
the same ids and the vectors nearest the query, so any missing constraint shows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Engine, Table, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sentinel_vectors import AUDIT_LOGGER
from sentinel_vectors.errors import (
    AccessDeniedError,
    PermissionServiceError,
    ReservedKeyError,
)
from sentinel_vectors.filters import Comparison, Membership
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors_pgvector import ScopedVectorStore, SqlFilterCompiler
from tests.pgvector.conftest import SqlLog, bulk_load, raw_row, vec

QUERY = vec(0)


def store(
    engine: AsyncEngine | AsyncSession, member: Member, table: Table, **kw: object
) -> ScopedVectorStore:
    return ScopedVectorStore(engine, member.auth, model=table, resource_type="document", **kw)  # type: ignore[arg-type]


@dataclass
class World:
    ws: uuid.UUID
    other_ws: uuid.UUID
    alice: Member  # viewer
    bob: Member  # editor, owns most resources
    admin: Member
    own: str  # alice's own private resource
    private: str  # bob's private, not shared
    visible: str  # bob's, workspace-visible
    shared: str  # bob's, shared with alice (view)
    foreign: str  # a resource of the other workspace


@pytest.fixture
def world(tenancy: Tenancy, sync_engine: Engine, chunks: Table) -> World:
    """Chunks c-<resource>-<i> in the caller's workspace; decoys elsewhere, nearest the query."""
    ws, other = tenancy.workspace(), tenancy.workspace()
    alice = tenancy.member("viewer", ws)
    bob = tenancy.member("editor", ws)
    admin = tenancy.member("admin", ws)
    stranger = tenancy.member("owner", other)
    w = World(
        ws=ws,
        other_ws=other,
        alice=alice,
        bob=bob,
        admin=admin,
        own=tenancy.resource(alice),
        private=tenancy.resource(bob),
        visible=tenancy.resource(bob, visibility="workspace"),
        shared=tenancy.resource(bob),
        foreign=tenancy.resource(stranger, visibility="workspace"),
    )
    tenancy.share(w.shared, alice, "view")
    rows: list[dict[str, Any]] = []
    for name in ("own", "private", "visible", "shared"):
        res = getattr(w, name)
        owner = alice.id if name == "own" else bob.id
        for i in range(3):
            near = name == "private"  # decoy: nearest, but not visible to alice
            emb = [x + 0.001 * i for x in QUERY] if near else vec(100 + 10 * len(rows) + i)
            rows.append(
                raw_row(
                    ws,
                    f"c-{name}-{i}",
                    res,
                    owner=owner,
                    meta={"kind": name, "i": i},
                    embedding=emb,
                )
            )
    for i in range(5):  # same ids in the other workspace, exactly at the query
        rows.append(raw_row(other, f"c-own-{i}", w.foreign, owner=stranger.id, embedding=QUERY))
    bulk_load(sync_engine, chunks, rows)
    return w


def ids_of(records: list) -> set[str]:  # type: ignore[type-arg]
    return {r.id for r in records}


ALICE_SEES = {f"c-{n}-{i}" for n in ("own", "visible", "shared") for i in range(3)}
WORKSPACE = ALICE_SEES | {f"c-private-{i}" for i in range(3)}


@pytest.mark.invariant(1)
async def test_invariant_1_reads_return_only_workspace_and_accessible_records(
    async_engine: AsyncEngine, chunks: Table, world: World
) -> None:
    s = store(async_engine, world.alice, chunks)
    assert ids_of(await s.get()) == ALICE_SEES
    hits = await s.query(QUERY, k=50)
    assert ids_of(hits) == ALICE_SEES
    assert {h.metadata["workspace_id"] for h in hits} == {str(world.ws)}
    assert ids_of(await s.query(QUERY, k=3)) <= ALICE_SEES
    assert await s.count() == len(ALICE_SEES)
    assert ids_of(await s.get(["c-private-0", "c-own-0", "c-own-4"])) == {"c-own-0"}
    assert ids_of(await s.get(filter={"kind": {"$in": ["private", "own"]}})) == {
        "c-own-0",
        "c-own-1",
        "c-own-2",
    }
    # A caller filter can only narrow: an OR cannot widen past the scope.
    wide = {"$or": [{"kind": "private"}, {"i": {"$gte": 0}}]}
    assert ids_of(await s.get(filter=wide)) == ALICE_SEES
    # Full access is the whole workspace, still never another one.
    admin = store(async_engine, world.admin, chunks)
    assert ids_of(await admin.get()) == WORKSPACE
    assert ids_of(await admin.query(QUERY, k=100)) == WORKSPACE
    assert await admin.count() == len(WORKSPACE)


@pytest.mark.invariant(1)
async def test_invariant_1_scoped_select_is_constrained(
    async_engine: AsyncEngine, chunks: Table, world: World
) -> None:
    s = store(async_engine, world.alice, chunks)
    stmt = await s.scoped_select()
    stmt = stmt.order_by(chunks.c.embedding.cosine_distance(QUERY)).limit(100)
    async with AsyncSession(async_engine) as session, session.begin():
        await s.configure(session, k=100)
        rows = (await session.execute(stmt)).all()
        setting = (
            await session.execute(select(func.current_setting("sentinel.workspace_id")))
        ).scalar()
    assert setting == str(world.ws)
    assert {row.id for row in rows} == ALICE_SEES
    edit = await s.scoped_select(chunks.c.id, action="edit")  # her own resource only
    async with async_engine.connect() as conn:
        assert {row.id for row in (await conn.execute(edit)).all()} == {
            "c-own-0",
            "c-own-1",
            "c-own-2",
        }


@pytest.mark.invariant(2)
async def test_invariant_2_writes_stamp_tenancy_and_refuse_disagreeing_keys(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, world: World, tenancy: Tenancy
) -> None:
    new = tenancy.resource(world.bob)  # registered first (invariant 8)
    bob = store(async_engine, tenancy.fresh(world.bob), chunks)
    await bob.add("n1", vec(5), {"resource_id": new.upper(), "workspace_id": str(world.ws)})
    with sync_engine.connect() as conn:
        row = conn.execute(
            select(
                chunks.c.workspace_id, chunks.c.owner_id, chunks.c.resource_id, chunks.c.meta
            ).where(chunks.c.id == "n1")
        ).one()
    assert row == (world.ws, world.bob.id, uuid.UUID(new), {})
    before = await store(async_engine, world.admin, chunks).count()
    with pytest.raises(ReservedKeyError):
        await bob.add(
            ["n2", "n3"],
            [vec(6), vec(7)],
            [{"resource_id": new}, {"resource_id": new, "workspace_id": str(world.other_ws)}],
        )
    with pytest.raises(AccessDeniedError):  # only full access may write for another owner
        await bob.add("n4", vec(8), {"resource_id": new, "owner_id": str(world.alice.id)})
    with pytest.raises(ReservedKeyError):  # every chunk names its resource
        await bob.add("n5", vec(8), {"topic": "x"})
    with pytest.raises(ReservedKeyError):  # tenancy keys never move in place
        await bob.update("c-private-0", metadatas={"resource_id": world.visible})
    assert await store(async_engine, world.admin, chunks).count() == before
    admin = store(async_engine, world.admin, chunks)
    await admin.add("n6", vec(9), {"resource_id": new, "owner_id": str(world.alice.id)})
    (got,) = await admin.get("n6")
    assert got.metadata["owner_id"] == str(world.alice.id)
    await admin.upsert("n6", vec(9), {"resource_id": new})  # replacing keeps the owner
    (got,) = await admin.get("n6")
    assert got.metadata["owner_id"] == str(world.alice.id)


@pytest.mark.invariant(3)
async def test_invariant_3_ids_never_collide_across_workspaces(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    ws_a, ws_b = tenancy.workspace(), tenancy.workspace()
    a, b = tenancy.member("editor", ws_a), tenancy.member("editor", ws_b)
    ra, rb = tenancy.resource(a), tenancy.resource(b)
    sa, sb = store(async_engine, a, chunks), store(async_engine, b, chunks)
    await sa.add("x", vec(1), {"resource_id": ra, "v": "a"})
    await sb.add("x", vec(2), {"resource_id": rb, "v": "b"})  # same id, no conflict
    await sa.upsert("x", vec(3), {"resource_id": ra, "v": "a2"})
    await sa.update("x", metadatas={"w": 1})
    assert [r.metadata["v"] for r in await sb.get("x")] == ["b"]
    assert "w" not in (await sb.get("x"))[0].metadata
    assert await sa.delete("x") == 1
    assert [r.id for r in await sb.get()] == ["x"]
    with sync_engine.connect() as conn:
        rows = conn.execute(select(chunks.c.workspace_id, chunks.c.meta)).all()
    assert rows == [(ws_b, {"v": "b"})]


@pytest.mark.invariant(4)
async def test_invariant_4_updates_and_deletes_reach_only_editable_records(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, world: World, tenancy: Tenancy
) -> None:
    carol = tenancy.member("editor", world.ws)  # editors may edit workspace-visible resources
    tenancy.share(world.shared, carol, "view")
    s = store(async_engine, carol, chunks)
    assert ids_of(await s.get(["c-shared-0"])) == {"c-shared-0"}  # she can see it
    with pytest.raises(AccessDeniedError):
        await s.update("c-shared-0", metadatas={"x": 1})
    with pytest.raises(AccessDeniedError):
        await s.upsert("c-shared-0", vec(1), {"resource_id": world.shared})
    with pytest.raises(AccessDeniedError):
        await s.delete(["c-shared-0", "c-visible-0"])
    with pytest.raises(AccessDeniedError):  # chunks of an existing resource need edit access
        await s.add("new", vec(1), {"resource_id": world.private})
    with pytest.raises(AccessDeniedError):  # a stored chunk she may not edit is never replaced
        await s.upsert("c-private-0", vec(1), {"resource_id": str(uuid.uuid4())})
    assert await s.delete(filter={"kind": "shared"}) == 0  # visible, not editable
    assert await store(async_engine, world.admin, chunks).count() == len(WORKSPACE)
    viewer = store(async_engine, world.alice, chunks)
    with pytest.raises(AccessDeniedError):  # viewers cannot create resources' chunks
        await viewer.add("v1", vec(1), {"resource_id": str(uuid.uuid4())})
    # An edit share opens exactly that resource (a permission changes by unshare + share).
    tenancy.unshare(world.shared, carol)
    tenancy.share(world.shared, carol, "edit")
    s = store(async_engine, tenancy.fresh(carol), chunks)
    assert await s.update("c-shared-0", metadatas={"x": 1}) == 1
    assert await s.delete(filter={"kind": "shared", "i": {"$lte": 1}}) == 2
    assert ids_of(await store(async_engine, world.admin, chunks).get()) == WORKSPACE - {
        "c-shared-0",
        "c-shared-1",
    }


@pytest.mark.invariant(5)
def test_invariant_5_native_methods_are_unreachable(
    async_engine: AsyncEngine, chunks: Table, tenancy: Tenancy
) -> None:
    member = tenancy.member("admin", tenancy.workspace())
    s = store(async_engine, member, chunks)
    public = {name for name in dir(s) if not name.startswith("_")}
    assert public == {
        "add",
        "configure",
        "count",
        "delete",
        "dimension",
        "get",
        "model",
        "query",
        "scope",
        "scoped_select",
        "update",
        "upsert",
        "violations",
    }
    for native in ("execute", "scalars", "session", "bind", "engine", "connection", "begin"):
        with pytest.raises(AttributeError):
            getattr(s, native)
    assert not hasattr(type(s), "__getattr__")
    assert "AsyncEngine" not in repr(s)


@pytest.mark.invariant(6)
async def test_invariant_6_permission_errors_fail_closed_before_any_sql(
    async_engine: AsyncEngine, chunks: Table, world: World, tenancy: Tenancy, sql_log: SqlLog
) -> None:
    emulator = tenancy.running.emulator
    doc = str(uuid.uuid4())
    calls: list[Callable[[ScopedVectorStore], Awaitable[object]]] = [
        lambda s: s.get(),
        lambda s: s.query(QUERY, k=3),
        lambda s: s.count(),
        lambda s: s.add("z", vec(1), {"resource_id": doc}),
        lambda s: s.upsert("z", vec(1), {"resource_id": doc}),
        lambda s: s.update("c-own-0", metadatas={"x": 1}),
        lambda s: s.delete(filter={"i": 0}),
        lambda s: s.scoped_select(),
    ]
    for status in (500, 403, 401):
        for call in calls:
            emulator.fail_next(status)
            sql_log.clear()
            with pytest.raises(PermissionServiceError):
                await call(store(async_engine, tenancy.fresh(world.admin), chunks))
            assert sql_log.statements == []
    emulator.delay_seconds = 1.0
    sql_log.clear()
    with pytest.raises(PermissionServiceError, match="within"):
        await store(async_engine, tenancy.fresh(world.admin), chunks, timeout=0.2).query(QUERY)
    assert sql_log.statements == []
    emulator.delay_seconds = 0.0


@pytest.mark.invariant(6)
async def test_invariant_6_empty_accessible_set_returns_nothing_without_querying(
    async_engine: AsyncEngine,
    chunks: Table,
    world: World,
    tenancy: Tenancy,
    sql_log: SqlLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody = tenancy.member("viewer", tenancy.workspace())  # nothing registered there
    s = store(async_engine, nobody, chunks)
    sql_log.clear()
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        assert await s.get() == []
        assert await s.query(QUERY, k=5) == []
        assert await s.count() == 0
        assert await s.delete(filter={"i": 0}) == 0
    assert sql_log.statements == []
    events = [r for r in caplog.records if getattr(r, "event", None) == "sentinel_vectors.read"]
    assert [r.__dict__["strategy"] for r in events] == ["empty", "empty", "empty"]


class _BrokenCompiler(SqlFilterCompiler):
    """A compiler bug: the tenancy conditions compile to TRUE (caller conditions survive)."""

    def comparison(self, node: Comparison) -> ColumnElement[bool]:
        if node.key in ("workspace_id", "resource_id"):
            return true()
        return super().comparison(node)

    def membership(self, node: Membership) -> ColumnElement[bool]:
        if node.key in ("workspace_id", "resource_id"):
            return true()
        return super().membership(node)

    def uuid_membership(self, key: str, ids: Iterable[uuid.UUID]) -> ColumnElement[bool]:
        return true()  # the accessible list a query binds natively


@pytest.mark.invariant(7)
async def test_invariant_7_every_hit_is_rechecked_dropped_counted_logged(
    async_engine: AsyncEngine, chunks: Table, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    compiler = _BrokenCompiler(chunks.c.meta)
    s = store(async_engine, world.alice, chunks, compiler=compiler)
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        hits = await s.query(QUERY, k=50)
        records = await s.get()
        count = await s.count()
    assert ids_of(hits) == ALICE_SEES
    assert ids_of(records) == ALICE_SEES
    assert count == len(ALICE_SEES)
    dropped_per_read = 3 + 5  # bob's private chunks and the other workspace's
    assert s.violations == 2 * dropped_per_read + 2  # count() re-checks per resource group
    violations = [
        r for r in caplog.records if getattr(r, "event", None) == "sentinel_vectors.violation"
    ]
    assert len(violations) == s.violations
    assert all(r.levelno == logging.ERROR for r in violations)
    reads = [r for r in caplog.records if getattr(r, "event", None) == "sentinel_vectors.read"]
    assert len(reads) == 3  # one audit event per read
    assert [r.__dict__["dropped"] for r in reads] == [8, 8, 8]
    # Deletes re-check before deleting: the broken filter deletes nothing outside the scope.
    editor = store(async_engine, world.bob, chunks, compiler=_BrokenCompiler(chunks.c.meta))
    assert await editor.delete(filter={"kind": {"$ne": "none"}}) == 9  # bob's own 9 chunks
    left = await store(async_engine, world.admin, chunks).get()
    assert ids_of(left) == {"c-own-0", "c-own-1", "c-own-2"}
    other = await store(async_engine, world.admin, chunks).count()
    assert other == 3


@pytest.mark.invariant(4)
async def test_invariant_4_editor_cannot_plant_chunks_in_a_registered_empty_resource(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, world: World, tenancy: Tenancy
) -> None:
    """Someone else's private document, registered with Sentinel, with no chunks yet."""
    empty_private = tenancy.resource(world.bob)
    carol = tenancy.member("editor", world.ws)
    s = store(async_engine, carol, chunks)
    with pytest.raises(AccessDeniedError):
        await s.add("planted", QUERY, {"resource_id": empty_private})
    with pytest.raises(AccessDeniedError):
        await s.upsert("planted", QUERY, {"resource_id": empty_private})
    with sync_engine.connect() as conn:
        planted = conn.execute(select(chunks.c.id).where(chunks.c.id == "planted")).all()
    assert planted == []
    # A resource Sentinel does not know is refused too (invariant 8): register it first.
    with pytest.raises(AccessDeniedError):
        await s.add("fresh", QUERY, {"resource_id": str(uuid.uuid4())})
    own = tenancy.resource(carol)
    carol_again = store(async_engine, tenancy.fresh(carol), chunks)
    await carol_again.add("fresh", QUERY, {"resource_id": own})
    # Bob, who owns the empty document, may fill it.
    await store(async_engine, world.bob, chunks).add("his", QUERY, {"resource_id": empty_private})


@pytest.mark.invariant(6)
async def test_invariant_6_registry_lookup_failure_refuses_the_write(
    async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, world: World, tenancy: Tenancy
) -> None:
    # Admins' writes ask the registry whether the resource is registered here.
    admin = tenancy.member("admin", world.ws)
    s = store(async_engine, admin, chunks)
    await s.scope.access("edit")  # accessible() answers (cached for the request)...
    tenancy.running.emulator.fail_with_status = 503  # ...the registry lookup fails
    try:
        with pytest.raises(PermissionServiceError):
            await s.add("new", QUERY, {"resource_id": str(uuid.uuid4())})
    finally:
        tenancy.running.emulator.fail_with_status = None
    with sync_engine.connect() as conn:
        assert conn.execute(select(chunks.c.id).where(chunks.c.id == "new")).all() == []
