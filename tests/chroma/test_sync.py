"""The sync form over a sync Chroma client: how it reaches the permission service's loop,
and what it refuses (an event loop thread, a foreign thread without a token, an async
collection). The invariants themselves run on it in test_invariants.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import anyio.lowlevel
import anyio.to_thread
import chromadb
import pytest
from anyio.from_thread import start_blocking_portal
from sentinel_auth import PermissionClient

from sentinel_vectors import request_auth
from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
    PermissionServiceError,
    WriteConflictError,
)
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.keys import make_user
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors_chroma import SyncScopedCollection
from tests.chroma.test_conditional_writes import _competitor, _stored, racing
from tests.chroma.test_invariants import native_ids

SYNC_CLIENTS = pytest.mark.parametrize("chroma_collection", ["http", "local"], indirect=True)
E1, E2 = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]


@SYNC_CLIENTS
async def test_sync_form_from_a_worker_thread(chroma_collection: Any, tenancy: Tenancy) -> None:
    ws = tenancy.workspace()
    alice, viewer = tenancy.member("editor", ws), tenancy.member("viewer", ws)
    mine, private = tenancy.resource(alice, "workspace"), tenancy.resource(alice, "private")
    docs = SyncScopedCollection(chroma_collection, alice.auth, resource_type="document")

    def route() -> tuple[list[str], int, dict[str, Any]]:  # a FastAPI `def` route
        docs.add(
            ids=["a", "b", "p"],
            embeddings=[E1, E2, E1],
            metadatas=[
                {"resource_id": mine, "n": 1},
                {"resource_id": mine},
                {"resource_id": private},
            ],
        )
        docs.upsert(ids="b", embeddings=E2, metadatas={"resource_id": mine, "n": 2})
        docs.update(ids="a", metadatas={"n": 5})
        hits = docs.query(query_embeddings=[E1], n_results=5, where={"n": {"$lt": 5}})
        return hits["ids"][0], docs.count(), docs.delete(where={"n": 5})

    hits, count, deleted = await anyio.to_thread.run_sync(route)
    assert (hits, count, deleted) == (["b"], 3, {"deleted": 1})
    seen = SyncScopedCollection(chroma_collection, viewer.auth, resource_type="document")
    got = await anyio.to_thread.run_sync(lambda: seen.get(include=["metadatas"]))
    assert got["ids"] == ["b"]  # the private document's chunk stays out of the viewer's scope
    assert got["metadatas"][0]["n"] == 2


@SYNC_CLIENTS
async def test_sync_form_refuses_the_loop_thread_and_fails_closed(
    chroma_collection: Any, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    editor = tenancy.member("editor", ws)
    doc = tenancy.resource(editor)
    docs = SyncScopedCollection(chroma_collection, editor.auth, resource_type="document")
    with pytest.raises(InvalidInputError, match="event loop thread"):
        docs.add(ids=["x"], embeddings=[E1], metadatas=[{"resource_id": doc}])
    with pytest.raises(InvalidInputError, match="event loop thread"):
        docs.get()
    assert await native_ids(chroma_collection) == []
    tenancy.running.emulator.fail_next(500)
    with pytest.raises(PermissionServiceError):
        await anyio.to_thread.run_sync(docs.count)
    with pytest.raises(AccessDeniedError):  # unknown to Sentinel: nothing written
        await anyio.to_thread.run_sync(
            lambda: docs.add(ids="x", embeddings=E1, metadatas={"resource_id": str(uuid.uuid4())})
        )
    assert await native_ids(chroma_collection) == []


@SYNC_CLIENTS
async def test_sync_form_from_a_foreign_thread_needs_the_loop_token(
    chroma_collection: Any, tenancy: Tenancy
) -> None:
    """A thread the loop did not start (a plain thread pool) cannot find the loop alone."""
    ws = tenancy.workspace()
    editor = tenancy.member("editor", ws)
    doc = tenancy.resource(editor)
    lost = SyncScopedCollection(chroma_collection, editor.auth, resource_type="document")
    with pytest.raises(InvalidInputError, match="loop_token"):
        await asyncio.to_thread(lost.count)
    docs = SyncScopedCollection(
        chroma_collection,
        editor.auth,
        resource_type="document",
        loop_token=anyio.lowlevel.current_token(),
    )
    await asyncio.to_thread(
        lambda: docs.add(ids="x", embeddings=E1, metadatas={"resource_id": doc})
    )
    assert await asyncio.to_thread(docs.count) == 1


def test_sync_form_in_a_script_through_a_portal(
    chroma_http: ChromaServer, sentinel_emulator_clean: RunningEmulator
) -> None:
    """No event loop at all: the portal's loop owns the permission client."""
    running = sentinel_emulator_clean
    ws = uuid.uuid4()
    user, token = make_user(running.keys, workspace_id=ws, role="editor")
    doc = uuid.uuid4()
    running.emulator.register("document", doc, ws, user.user_id)
    client = chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    collection = client.create_collection(f"t-{uuid.uuid4().hex[:12]}", embedding_function=None)
    try:
        with start_blocking_portal() as portal:
            permissions: PermissionClient = running.permission_client()
            auth = request_auth(user, token, permissions)
            docs = SyncScopedCollection(collection, auth, resource_type="document", portal=portal)
            with pytest.raises(InvalidInputError, match="worker thread"):
                SyncScopedCollection(collection, auth, resource_type="document").count()
            docs.add(ids=["a", "b"], embeddings=[E1, E2], metadatas=[{"resource_id": str(doc)}] * 2)
            assert docs.query(query_embeddings=[E2], n_results=1)["ids"] == [["b"]]
            assert docs.delete(ids=["a", "b"]) == {"deleted": 2}
            portal.call(permissions.close)
    finally:
        client.delete_collection(collection.name)


async def test_sync_form_refuses_an_async_collection(
    chroma_http: ChromaServer, tenancy: Tenancy
) -> None:
    editor = tenancy.member("editor", tenancy.workspace())
    aclient = await chromadb.AsyncHttpClient(host=chroma_http.host, port=chroma_http.port)
    name = f"t-{uuid.uuid4().hex[:12]}"
    collection = await aclient.create_collection(name, embedding_function=None)
    try:
        with pytest.raises(InvalidInputError, match="use ScopedCollection"):
            SyncScopedCollection(collection, editor.auth, resource_type="document")
    finally:
        await aclient.delete_collection(name)


@SYNC_CLIENTS
@pytest.mark.invariant(10)
async def test_invariant_10_sync_form_spares_a_record_written_after_the_check(
    chroma_collection: Any, tenancy: Tenancy
) -> None:
    """The blocking driver throws the conflict into the same write: undone, then raised."""
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    theirs = {"workspace_id": str(ws), "resource_id": bobs, "owner_id": str(bob.id)}
    proxy = racing(chroma_collection, _competitor(f"{ws}:x", theirs))
    docs = SyncScopedCollection(proxy, alice.auth, resource_type="document")
    with pytest.raises(WriteConflictError, match="nothing of this call was written"):
        await anyio.to_thread.run_sync(
            lambda: docs.upsert(
                ids=["y", "x"],
                embeddings=[[1.0, 0.0, 0.0]] * 2,
                metadatas=[{"resource_id": mine}] * 2,
                documents=["alice's"] * 2,
            )
        )
    assert await _stored(chroma_collection) == {f"{ws}:x": {**theirs, "document": "bob's"}}
