"""The kit's tenancy world on Qdrant (``NEAR`` and ``vec`` are the kit's; ``DIM`` is 4 alike)."""

from __future__ import annotations

import functools
from typing import Any, cast

import anyio.to_thread
from qdrant_client import QdrantClient, models

from sentinel_vectors.testing.conformance import NEAR, Cast, Member, Tenancy, vec
from sentinel_vectors_qdrant import ScopedQdrantClient, SyncScopedQdrantClient
from tests.qdrant.conftest import Store

# A UUID point id written in upper case: it must come back exactly like this.
UUID_ID = "6F1C2B3A-0D4E-4F5A-8B6C-7D8E9F0A1B2C"


def scoped(store: Store, member: Member, **kw: Any) -> ScopedQdrantClient:
    """The member's scoped client over the store's native client.

    On ``local-sync`` stores: a :class:`SyncScopedQdrantClient` whose blocking methods
    run in a worker thread of the test's event loop (as in a FastAPI ``def`` route), so
    the same tests run the sync form.
    """
    if store.kind in ("local-sync", "edge-sync"):
        assert isinstance(store.client, QdrantClient)
        sync = SyncScopedQdrantClient(store.client, member.auth, resource_type="document", **kw)
        return cast(ScopedQdrantClient, InWorkerThread(sync))
    return ScopedQdrantClient(store.client, member.auth, resource_type="document", **kw)


class InWorkerThread:
    """A sync scoped client called from async tests: each method call runs in a worker
    thread of the running loop (``anyio.to_thread.run_sync``), where a blocking call
    reaches the loop that owns the permission client."""

    def __init__(self, sync: SyncScopedQdrantClient) -> None:
        self._sync = sync

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sync, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await anyio.to_thread.run_sync(functools.partial(attr, *args, **kwargs))

        return call

    def __dir__(self) -> list[str]:
        return dir(self._sync)


class World(Cast):
    """The kit's standard cast, on Qdrant.

    A's owner writes points 1 (private doc), 2 (workspace-visible doc), 3 (shared with the
    viewer) and ``UUID_ID`` (shared with the viewer's group). B's admin writes its own
    point 2, identical to the query vector ``NEAR``: the nearest point of all.
    """

    async def load(self, store: Store) -> None:
        """Write every document's points as their owners."""
        await scoped(store, self.t.fresh(self.owner)).upsert(
            store.name,
            [
                models.PointStruct(
                    id=1, vector=vec(0.9, 0.1), payload={"resource_id": self.private, "topic": "a"}
                ),
                models.PointStruct(
                    id=2, vector=vec(0.5, 0.5), payload={"resource_id": self.public, "topic": "a"}
                ),
                models.PointStruct(
                    id=3,
                    vector=vec(0.4, 0.6),
                    payload={"resource_id": self.user_shared, "topic": "b"},
                ),
                models.PointStruct(
                    id=UUID_ID,
                    vector=vec(0.3, 0.7),
                    payload={"resource_id": self.group_shared, "topic": "b"},
                ),
            ],
        )
        await scoped(store, self.t.fresh(self.outsider_admin)).upsert(
            store.name,
            [
                models.PointStruct(
                    id=2, vector=NEAR, payload={"resource_id": self.b_doc, "topic": "a"}
                )
            ],
        )


class Writer:
    """An editor of one workspace who owns one document (and two points of it)."""

    def __init__(self, t: Tenancy, store: Store) -> None:
        self.store = store
        self.member: Member = t.member("editor", t.workspace())
        self.doc = t.resource(self.member, "private")
        self.client = scoped(store, self.member)

    def point(self, pid: Any, vector: Any = None, **payload: Any) -> models.PointStruct:
        return models.PointStruct.model_construct(
            id=pid,
            vector=vec(1) if vector is None else vector,
            payload={"resource_id": self.doc, **payload},
        )


__all__ = ["NEAR", "UUID_ID", "World", "Writer", "scoped", "vec"]
