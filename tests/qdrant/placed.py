"""Qdrant placements on a server (``QDRANT_URL``) for the kit and the harness.

:class:`PlacedQdrantBackend` is :class:`QdrantBackend` under a placement whose
``per_tenant`` workspaces are onboarded (their shard key created) the first time one of
their scoped clients is used: what a service does at sign-up, done lazily because the
conformance kit and the leak harness create their workspaces after the collection.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.placement import Placement
from sentinel_vectors_qdrant import QdrantBackend, ScopedQdrantClient, create_workspace_shard

__all__ = ["PLACEMENTS", "Onboarding", "PlacedQdrantBackend", "needs_server"]

QDRANT_URL = os.environ.get("QDRANT_URL", "")
PLACEMENTS = ("per_tenant", "tiered")
needs_server = pytest.mark.skipif(not QDRANT_URL, reason="QDRANT_URL is not set")


class Onboarding:
    """Creates each workspace's shard key once (``per_tenant``; a no-op otherwise)."""

    def __init__(
        self, client: AsyncQdrantClient | QdrantClient, collection: str, placement: Placement
    ) -> None:
        self.client = client
        self.collection = collection
        self.placement = placement
        self.done: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, workspace_id: object) -> None:
        """The workspace's shard key exists (created at first use)."""
        ws = str(workspace_id)
        if self.placement.mode != "per_tenant" or ws in self.done:
            return
        async with self._lock:
            if ws not in self.done:
                await create_workspace_shard(self.client, self.collection, ws)
                self.done.add(ws)


class _Onboarded:
    """A scoped client whose first call onboards its workspace."""

    def __init__(self, scoped: ScopedQdrantClient, onboard: Callable[[], Awaitable[None]]) -> None:
        self._scoped = scoped
        self._onboard = onboard

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._scoped, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._onboard()
            return await attr(*args, **kwargs)

        return call


class PlacedQdrantBackend(QdrantBackend):
    """:class:`QdrantBackend` with ``placement``, onboarding ``per_tenant`` workspaces."""

    def __init__(
        self,
        client: AsyncQdrantClient | QdrantClient,
        collection_name: str,
        placement: Placement,
        **options: Any,
    ) -> None:
        super().__init__(client, collection_name, placement=placement, **options)
        self.onboarding = Onboarding(client, collection_name, placement)

    def scoped(self, auth: AuthContext) -> ScopedQdrantClient:
        """The scoped client; under ``per_tenant`` its first call creates the shard key."""
        scoped = super().scoped(auth)
        if self.onboarding.placement.mode != "per_tenant":
            return scoped
        ws = auth.workspace_id
        return cast(ScopedQdrantClient, _Onboarded(scoped, lambda: self.onboarding.ensure(ws)))
