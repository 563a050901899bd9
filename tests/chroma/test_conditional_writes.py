"""Invariant 10 on Chroma: no write overwrites a record the check did not see (#10, finding 5).

Chroma has no conditional upsert. The wrapper deletes a record it replaces under a
``where`` (still the workspace and resource the check saw), writes with ``add`` (which
never replaces a stored id) and reads the ids back. The native collection here is real;
a thin proxy lets a competing writer act deterministically just before the wrapper's
first native write call: another user's record is created under an id the check found
absent, or an existing record is replaced by another user's. The competitor's record must
survive unchanged, the caller get :class:`WriteConflictError`, and nothing of its batch
remain.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sentinel_vectors.errors import WriteConflictError
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_chroma import ScopedCollection

_WRITES = frozenset({"add", "upsert", "update", "delete"})


def racing(collection: Any, competitor: Callable[[Any], None]) -> Any:
    """``collection`` whose first native write call runs ``competitor(collection)`` first."""
    state = {"armed": True}

    def fire() -> None:
        if state["armed"]:
            state["armed"] = False
            competitor(collection)

    if inspect.iscoroutinefunction(collection.query):

        class AsyncProxy:
            def __getattr__(self, name: str) -> Any:
                method = getattr(collection, name)
                if name not in _WRITES:
                    return method

                async def write(**kwargs: Any) -> Any:
                    fire_async = state["armed"]
                    if fire_async:
                        state["armed"] = False
                        await competitor(collection)  # type: ignore[func-returns-value]
                    return await method(**kwargs)

                return write

        return AsyncProxy()

    class Proxy:
        def __getattr__(self, name: str) -> Any:
            method = getattr(collection, name)
            if name not in _WRITES:
                return method

            def write(**kwargs: Any) -> Any:
                fire()
                return method(**kwargs)

            return write

    return Proxy()


async def _call(collection: Any, method: str, **kwargs: Any) -> Any:
    got = getattr(collection, method)(**kwargs)
    return await got if inspect.isawaitable(got) else got


async def _stored(collection: Any) -> dict[str, dict[str, Any]]:
    got = await _call(collection, "get", include=["metadatas", "documents"])
    return {
        pid: {**(meta or {}), "document": doc}
        for pid, meta, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
    }


def _competitor(pid: str, meta: dict[str, Any], *, method: str = "add") -> Callable[[Any], Any]:
    """A raw native write of another user's record under ``pid``."""

    def write(collection: Any) -> Any:
        return getattr(collection, method)(
            ids=[pid], embeddings=[[0.0, 1.0, 0.0]], metadatas=[meta], documents=["bob's"]
        )

    return write


@pytest.mark.invariant(10)
@pytest.mark.parametrize("op", ["add", "upsert"])
async def test_invariant_10_a_record_created_after_the_check_is_not_overwritten(
    chroma_collection: Any, tenancy: Tenancy, op: str
) -> None:
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    theirs = {"workspace_id": str(ws), "resource_id": bobs, "owner_id": str(bob.id)}
    proxy = racing(chroma_collection, _competitor(f"{ws}:x", theirs))
    docs = ScopedCollection(proxy, alice.auth, resource_type="document")
    with pytest.raises(WriteConflictError, match="nothing of this call was written"):
        await getattr(docs, op)(
            ids=["y", "x"],
            embeddings=[[1.0, 0.0, 0.0]] * 2,
            metadatas=[{"resource_id": mine}] * 2,
            documents=["alice's"] * 2,
        )
    assert await _stored(chroma_collection) == {f"{ws}:x": {**theirs, "document": "bob's"}}


@pytest.mark.invariant(10)
async def test_invariant_10_a_record_replaced_after_the_check_is_not_overwritten(
    chroma_collection: Any, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    await ScopedCollection(chroma_collection, alice.auth, resource_type="document").add(
        ids=["k"], embeddings=[[1.0, 0.0, 0.0]], metadatas=[{"resource_id": mine}]
    )
    theirs = {"workspace_id": str(ws), "resource_id": bobs, "owner_id": str(bob.id)}
    # Bob deletes "k" and writes his own record under the id (one native upsert here).
    proxy = racing(chroma_collection, _competitor(f"{ws}:k", theirs, method="upsert"))
    docs = ScopedCollection(proxy, alice.auth, resource_type="document")
    with pytest.raises(WriteConflictError):
        await docs.upsert(
            ids=["k", "n"],
            embeddings=[[1.0, 1.0, 0.0]] * 2,
            metadatas=[{"resource_id": mine, "v": 2}] * 2,
            documents=["alice's"] * 2,
        )
    assert await _stored(chroma_collection) == {f"{ws}:k": {**theirs, "document": "bob's"}}


async def test_upsert_replaces_and_adds_as_before(chroma_collection: Any, tenancy: Tenancy) -> None:
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    mine = tenancy.resource(alice)
    docs = ScopedCollection(chroma_collection, alice.auth, resource_type="document")
    await docs.add(ids=["k"], embeddings=[[1.0, 0.0, 0.0]], metadatas=[{"resource_id": mine}])
    await docs.upsert(
        ids=["k", "n"],
        embeddings=[[0.0, 1.0, 0.0]] * 2,
        metadatas=[{"resource_id": mine, "v": 2}] * 2,
        documents=["new", "new"],
    )
    got = await docs.get(include=["metadatas", "documents"])
    assert sorted(got["ids"]) == ["k", "n"]
    assert [m["v"] for m in got["metadatas"]] == [2, 2]
    assert got["documents"] == ["new", "new"]
    assert uuid.UUID(got["metadatas"][0]["owner_id"]) == alice.id


@pytest.mark.invariant(10)
async def test_invariant_10_a_delete_spares_a_record_replaced_after_the_check(
    chroma_collection: Any, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    await ScopedCollection(chroma_collection, alice.auth, resource_type="document").add(
        ids=["k", "m"], embeddings=[[1.0, 0.0, 0.0]] * 2, metadatas=[{"resource_id": mine}] * 2
    )
    theirs = {"workspace_id": str(ws), "resource_id": bobs, "owner_id": str(bob.id)}
    proxy = racing(chroma_collection, _competitor(f"{ws}:k", theirs, method="upsert"))
    docs = ScopedCollection(proxy, alice.auth, resource_type="document")
    await docs.delete(ids=["k", "m"])
    assert await _stored(chroma_collection) == {f"{ws}:k": {**theirs, "document": "bob's"}}
