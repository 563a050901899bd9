"""The suite can fail: deliberately broken bindings, each caught by the rule it breaks.

Each binding wraps the real Qdrant binding (local mode) and breaks one thing the way an
adapter could: a search that forgets the scope, a write that skips the write rule, a
read that fails open when the permission service errors. Running the suite's own test on
it must fail; a rule that passed on a broken binding would prove nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, models

from sentinel_vectors import filters as F
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.errors import PermissionServiceError
from sentinel_vectors.index import (
    TEXT_KEY,
    Chunk,
    ChunkIndex,
    Hit,
    chunk_id,
    chunk_metadata,
)
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Scope
from sentinel_vectors.testing.conformance import (
    BackendFactory,
    ConformanceTarget,
    ReadRules,
    World,
    WriteRules,
)
from sentinel_vectors_qdrant import QdrantBackend, ensure_collection

# What a failing test raises: an assert, or pytest.raises' "DID NOT RAISE".
FAILED = (AssertionError, pytest.fail.Exception)


class BrokenIndex:
    """The real chunk index with one method replaced by a broken one."""

    def __init__(self, inner: ChunkIndex, client: AsyncQdrantClient, name: str, flaw: str):
        self.inner, self.client, self.name, self.flaw = inner, client, name, flaw

    @property
    def scope(self) -> Scope:
        return self.inner.scope

    async def _native_search(self, embedding: Sequence[float], k: int) -> list[Hit]:
        found = await self.client.query_points(
            self.name, query=list(embedding), limit=k, with_payload=True
        )
        key = self.scope.resource_key
        return [
            Hit(str(p.id), str((p.payload or {})[key]), "", 1 - p.score, dict(p.payload or {}))
            for p in found.points
        ]

    async def search(
        self, embedding: Sequence[float], k: int = 10, *, filter: F.Filter | None = None
    ) -> list[Hit]:
        if self.flaw == "unscoped search":
            return await self._native_search(embedding, k)
        try:
            return await self.inner.search(embedding, k, filter=filter)
        except PermissionServiceError:
            if self.flaw != "fails open":
                raise
            return await self._native_search(embedding, k)

    async def put_chunks(self, resource_id: str, chunks: Sequence[Chunk]) -> None:
        if self.flaw != "no write rule":
            await self.inner.put_chunks(resource_id, chunks)
            return
        points = []
        for i, chunk in enumerate(chunks):
            payload = chunk_metadata(self.scope, resource_id, i, chunk)
            payload |= {
                WORKSPACE_KEY: self.scope.workspace_id,
                OWNER_KEY: self.scope.user_id,
                TEXT_KEY: chunk.text,
            }
            pid = str(uuid.uuid5(uuid.NAMESPACE_URL, chunk_id(resource_id, i)))
            points.append(models.PointStruct(id=pid, vector=list(chunk.embedding), payload=payload))
        await self.client.upsert(self.name, points)

    async def remove_chunks(self, resource_id: str, *, keep: Collection[str] = ()) -> int:
        return await self.inner.remove_chunks(resource_id, keep=keep)

    async def count_chunks(self, resource_id: str) -> int:
        return await self.inner.count_chunks(resource_id)

    async def claimable(self, resource_id: str) -> bool:
        return await self.inner.claimable(resource_id)


class BrokenBackend:
    """A :class:`QdrantBackend` whose chunk index has ``flaw``."""

    def __init__(self, inner: QdrantBackend, flaw: str) -> None:
        self.inner, self.flaw = inner, flaw

    @property
    def resource_type(self) -> str:
        return self.inner.resource_type

    def scoped(self, auth: AuthContext) -> Any:
        return self.inner.scoped(auth)

    def index(self, auth: AuthContext) -> ChunkIndex:
        client: Any = self.inner.client
        return BrokenIndex(self.inner.index(auth), client, self.inner.collection_name, self.flaw)


def broken_factory(flaw: str) -> BackendFactory:
    @asynccontextmanager
    async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
        client = AsyncQdrantClient(":memory:")
        name = f"broken-{uuid.uuid4().hex[:8]}"
        params = models.VectorParams(size=dimension, distance=models.Distance.COSINE)
        await ensure_collection(client, name, params)

        async def records(key: str, value: str) -> list[Mapping[str, Any]]:
            match = models.FieldCondition(key=key, match=models.MatchValue(value=value))
            points, _ = await client.scroll(name, scroll_filter=models.Filter(must=[match]))
            return [dict(p.payload or {}) for p in points]

        backend = BrokenBackend(QdrantBackend(client, name, resource_type="document"), flaw)
        yield ConformanceTarget(backend, records)
        await client.close()

    return factory


async def fails(rule: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run one of the suite's tests and require it to fail."""
    with pytest.raises(FAILED):
        await rule(*args)


class TestAnUnscopedSearchIsCaught:
    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        return broken_factory("unscoped search")

    @pytest.mark.invariant(1)
    async def test_by_invariant_1(self, conformance_loaded: World) -> None:
        rules = ReadRules()
        w = conformance_loaded
        await fails(
            rules.test_invariant_1_a_member_finds_only_accessible_resources_of_its_workspace, w
        )
        await fails(rules.test_invariant_1_full_access_is_the_whole_workspace_and_nothing_else, w)


class TestAWriteWithoutTheWriteRuleIsCaught:
    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        return broken_factory("no write rule")

    @pytest.mark.invariant(4)
    @pytest.mark.invariant(8)
    async def test_by_invariants_4_and_8(self, conformance_loaded: World) -> None:
        rules = WriteRules()
        w = conformance_loaded
        await fails(rules.test_invariant_4_members_write_only_what_they_may_edit, w)
        await fails(rules.test_invariant_8_a_write_needs_a_resource_registered_here_and_editable, w)


class TestAReadThatFailsOpenIsCaught:
    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        return broken_factory("fails open")

    @pytest.mark.invariant(6)
    async def test_by_invariant_6(self, conformance_loaded: World) -> None:
        await fails(
            ReadRules().test_invariant_6_a_permission_service_error_fails_closed,
            conformance_loaded,
            503,
        )
