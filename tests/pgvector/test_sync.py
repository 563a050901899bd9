"""The sync store over psycopg 3: from a worker thread of the loop (a FastAPI sync route),
through a blocking portal (a script), and refused on an event loop thread."""

from __future__ import annotations

import uuid

import anyio.to_thread
import pytest
from anyio.from_thread import start_blocking_portal
from sentinel_auth import PermissionClient
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.orm import Session

from sentinel_vectors import request_auth
from sentinel_vectors.errors import AccessDeniedError, InvalidInputError, PermissionServiceError
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.keys import make_user
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors_pgvector import SyncScopedVectorStore
from tests.pgvector.conftest import bulk_load, raw_row, vec


async def test_sync_store_from_a_worker_thread(
    sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    bulk_load(sync_engine, chunks, [raw_row(uuid.uuid4(), "a", uuid.uuid4(), embedding=vec(1))])
    s = SyncScopedVectorStore(sync_engine, alice.auth, model=chunks, resource_type="document")

    def route() -> tuple[list[str], int, int]:  # what a FastAPI `def` route would do
        s.add(["a", "b"], [vec(1), vec(2)], [{"resource_id": doc, "n": 1}, {"resource_id": doc}])
        s.upsert("b", vec(3), {"resource_id": doc, "n": 2})
        updated = s.update("a", metadatas={"n": 5})
        hits = [h.id for h in s.query(vec(1), k=5, filter={"n": {"$gte": 2}})]
        return hits, updated, s.count()

    hits, updated, count = await anyio.to_thread.run_sync(route)
    assert hits == ["a", "b"]
    assert (updated, count) == (1, 2)
    records = await anyio.to_thread.run_sync(lambda: s.get(include_embeddings=True))
    assert [r.metadata["n"] for r in records] == [5, 2]
    assert records[1].embedding == pytest.approx(vec(3), rel=1e-6)
    assert await anyio.to_thread.run_sync(lambda: s.delete(filter={"n": 5})) == 1
    stmt = await anyio.to_thread.run_sync(lambda: s.scoped_select(chunks.c.id))
    with Session(sync_engine) as session, session.begin():
        s.configure(session, k=3)
        assert session.execute(stmt).scalars().all() == ["b"]


async def test_sync_store_fails_closed_and_refuses_the_loop_thread(
    sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    viewer = tenancy.member("viewer", ws)
    s = SyncScopedVectorStore(sync_engine, viewer.auth, model=chunks, resource_type="document")
    with pytest.raises(InvalidInputError, match="event loop thread"):
        s.get()
    tenancy.running.emulator.fail_next(500)
    with pytest.raises(PermissionServiceError):
        await anyio.to_thread.run_sync(s.count)
    with pytest.raises(AccessDeniedError):
        await anyio.to_thread.run_sync(
            lambda: s.add("x", vec(1), {"resource_id": str(uuid.uuid4())})
        )


def test_sync_store_in_a_script_through_a_portal(
    sync_engine: Engine, chunks: Table, sentinel_emulator_clean: RunningEmulator
) -> None:
    """No event loop at all: the portal's loop owns the permission client."""
    running = sentinel_emulator_clean
    ws = uuid.uuid4()
    user, token = make_user(running.keys, workspace_id=ws, role="editor")
    doc = uuid.uuid4()
    running.emulator.register("document", doc, ws, user.user_id)
    with start_blocking_portal() as portal:
        client: PermissionClient = running.permission_client()
        auth = request_auth(user, token, client)
        s = SyncScopedVectorStore(
            sync_engine, auth, model=chunks, resource_type="document", portal=portal
        )
        with pytest.raises(InvalidInputError, match="worker thread"):
            SyncScopedVectorStore(sync_engine, auth, model=chunks, resource_type="document").get()
        s.add(["a", "b"], [vec(1), vec(2)], [{"resource_id": str(doc)}] * 2)
        assert [h.id for h in s.query(vec(2), k=1)] == ["b"]
        # Inside the caller's transaction the store uses a savepoint and does not commit.
        with Session(sync_engine) as session:
            session.begin()
            inner = SyncScopedVectorStore(
                session, auth, model=chunks, resource_type="document", portal=portal
            )
            assert inner.delete(["a", "b"]) == 2
            session.rollback()
        portal.call(client.close)
    with sync_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(chunks)).scalar_one() == 2


async def test_sync_store_cannot_plant_chunks_in_a_registered_empty_resource(
    sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    owner, editor = tenancy.member("editor", ws), tenancy.member("editor", ws)
    empty_private = tenancy.resource(owner)
    s = SyncScopedVectorStore(sync_engine, editor.auth, model=chunks, resource_type="document")
    with pytest.raises(AccessDeniedError):
        await anyio.to_thread.run_sync(
            lambda: s.add("planted", vec(1), {"resource_id": empty_private})
        )
    with pytest.raises(AccessDeniedError):  # unknown to Sentinel: refused too
        await anyio.to_thread.run_sync(
            lambda: s.add("ok", vec(1), {"resource_id": str(uuid.uuid4())})
        )
    own = tenancy.resource(editor)
    s = SyncScopedVectorStore(
        sync_engine, tenancy.fresh(editor).auth, model=chunks, resource_type="document"
    )
    await anyio.to_thread.run_sync(lambda: s.add("ok", vec(1), {"resource_id": own}))
    with sync_engine.connect() as conn:
        assert conn.execute(select(chunks.c.id)).scalars().all() == ["ok"]
