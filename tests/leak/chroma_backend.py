"""The Chroma backends of the leak harness: a real ``chroma run`` server and a local client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import chromadb
import pytest

from sentinel_vectors.filters import Filter
from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.leak import Chunk, Metric
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors_chroma import ChromaBackend, ScopedCollection, placed_collection


class ChromaLeakBackend:
    """Writes and reads through ``ScopedCollection`` over a sync Chroma client."""

    exact = True  # under HNSW's brute-force threshold, as every harness example is
    metric: Metric = "l2"

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client

    async def fresh(self, dim: int) -> object:
        return self.client.create_collection(
            f"leak-{uuid.uuid4().hex[:12]}", embedding_function=None
        )

    def _store(self, handle: object, auth: object) -> ScopedCollection:
        return ScopedCollection(handle, auth, resource_type="document")  # type: ignore[arg-type]

    async def write(self, handle: object, auth: object, chunks: Sequence[Chunk]) -> None:
        await self._store(handle, auth).add(
            ids=[c.chunk_id for c in chunks],
            embeddings=[list(c.vector) for c in chunks],
            metadatas=[{**c.metadata, "owner_id": c.resource.owner_id} for c in chunks],
        )

    async def search(
        self, handle: object, auth: object, query: Sequence[float], k: int, flt: Filter | None
    ) -> list[str]:
        hits = await self._store(handle, auth).query(
            query_embeddings=[list(query)], n_results=k, where=flt, include=["distances"]
        )
        return list(hits["ids"][0])

    async def listing(self, handle: object, auth: object, flt: Filter | None) -> list[str]:
        return list((await self._store(handle, auth).get(where=flt, include=[]))["ids"])

    def binding(self, handle: object) -> ChromaBackend:
        return ChromaBackend(handle, resource_type="document")

    async def drop(self, handle: object) -> None:
        self.client.delete_collection(handle.name)  # type: ignore[attr-defined]


@pytest.fixture
def leak_chroma_http(chroma_http: ChromaServer) -> ChromaLeakBackend:
    """Chroma over HTTP against the session's real server."""
    return ChromaLeakBackend(
        "chroma-http", chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    )


@pytest.fixture
def leak_chroma_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaLeakBackend]:
    """Chroma's in-process PersistentClient."""
    path = tmp_path_factory.mktemp("leak-chroma")
    return ChromaLeakBackend("chroma-local", chromadb.PersistentClient(path=str(path)))


class ChromaTieredLeakBackend(ChromaLeakBackend):
    """A tiered base (the placement registry), about half the workspaces promoted."""

    max_examples = 8  # a base, its registry and own collections per example: CI budget

    async def fresh(self, dim: int) -> object:
        from tests.chroma.tiered_world import HalfPromoted

        return HalfPromoted(self.client, f"leak-{uuid.uuid4().hex[:10]}")

    def _store(self, handle: object, auth: object) -> ScopedCollection:
        return handle.scoped(auth)  # type: ignore[attr-defined,no-any-return]

    def binding(self, handle: object) -> ChromaBackend:
        return handle  # type: ignore[return-value]

    async def drop(self, handle: object) -> None:
        handle.drop()  # type: ignore[attr-defined]


@pytest.fixture
def leak_chroma_tiered(chroma_http: ChromaServer) -> ChromaTieredLeakBackend:
    """Chroma tiered placement over HTTP: shared and own collections in one world."""
    return ChromaTieredLeakBackend(
        "chroma-tiered", chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    )


class ChromaPerTenantLeakBackend(ChromaTieredLeakBackend):
    """``per_tenant``: every workspace in its own collection. The harness's stores are
    ``placed_collection`` (the per-request wrapper), its binding ``PlacedChromaBackend``."""

    async def fresh(self, dim: int) -> object:
        from tests.chroma.tiered_world import PerTenant

        return PerTenant(self.client, f"leak-{uuid.uuid4().hex[:10]}")

    def _store(self, handle: object, auth: object) -> ScopedCollection:
        return placed_collection(
            self.client,
            handle.base,  # type: ignore[attr-defined]
            auth,  # type: ignore[arg-type]
            placement=Placement("per_tenant"),
            resource_type="document",
        )


@pytest.fixture
def leak_chroma_per_tenant(chroma_http: ChromaServer) -> ChromaPerTenantLeakBackend:
    """Chroma per-tenant placement over HTTP: a collection per workspace."""
    return ChromaPerTenantLeakBackend(
        "chroma-per-tenant", chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    )
