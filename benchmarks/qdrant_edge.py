"""The Qdrant cells on Qdrant's own engine in-process (qdrant-edge).

``QdrantEdgeRunner`` is :class:`benchmarks.backends.QdrantRunner` on an
:class:`~sentinel_vectors_qdrant.edge.EdgeQdrantClient`: the collection is made by
``ensure_collection`` (``is_tenant`` keyword index on the workspace, keyword index on the
resource, ``payload_m=16``, ``m=0``), loaded through the scoped client, then optimized
(edge has no background optimizer: ``optimize()`` builds the per-tenant HNSW graphs a
server builds on its own). The query by hand and the raw writes call the same edge
client in a worker thread, as the scoped client does.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

from benchmarks.backends import (
    BATCH,
    RESOURCE_TYPE,
    Loaded,
    QdrantRunner,
    _admin,
    _docs,
    _fresh_batch,
)
from benchmarks.workload import Dataset, FixedAuth
from sentinel_vectors.strategy import StrategyName

__all__ = ["QdrantEdgeRunner"]


class _Offloaded:
    """A sync client's methods as coroutines run in a worker thread (for the raw calls)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

        return call


class QdrantEdgeRunner(QdrantRunner):
    """The Qdrant runner on qdrant-edge (see the module docstring)."""

    def __init__(self, stack: AsyncExitStack, *, wardowl: bool, url: str | None = None) -> None:
        super().__init__(stack, wardowl=wardowl, url=None)
        self.name = "qdrant-edge"
        self.note = (
            "qdrant-edge 0.9.0 (Qdrant's engine in-process), ensure_collection: is_tenant + "
            "payload_m=16, m=0, optimized after the load (HNSW per tenant)"
        )

    async def load(self, data: Dataset) -> Loaded:
        from qdrant_client import models

        from sentinel_vectors_qdrant import ScopedQdrantClient, ensure_collection
        from sentinel_vectors_qdrant.edge import open_edge_client

        self.edge = open_edge_client()
        self.stack.callback(self.edge.close)
        self.client = _Offloaded(self.edge)  # type: ignore[assignment]
        self.collection = "bench"
        await ensure_collection(
            self.edge,
            self.collection,
            models.VectorParams(size=data.dim, distance=models.Distance.COSINE),
        )
        out = Loaded()
        t = time.perf_counter()
        for w in range(len(data.workspaces)):
            writer = ScopedQdrantClient(self.edge, _admin(data, w), resource_type=RESOURCE_TYPE)
            members = data.in_workspace(w)
            for start in range(0, len(members), BATCH):
                idx = members[start : start + BATCH]
                await writer.upsert(
                    self.collection,
                    points=[
                        models.PointStruct(
                            id=int(i),
                            vector=data.vectors[i].tolist(),
                            payload={"resource_id": data.resource_of[int(i)]},
                        )
                        for i in idx
                    ],
                )
        out.seconds["scoped bulk upsert"] = time.perf_counter() - t
        t = time.perf_counter()
        await asyncio.to_thread(self.edge.optimize, self.collection)
        out.seconds["optimize (HNSW)"] = time.perf_counter() - t
        if self.with_wardowl:
            await self._load_wardowl(data, out)
        return out

    async def _load_wardowl(self, data: Dataset, out: Loaded) -> None:
        import numpy as np
        from wardowl.backends.qdrant import QdrantBackend, create_collection

        from sentinel_vectors_qdrant.edge import open_edge_client

        sync = open_edge_client(tempfile.mkdtemp(prefix="bench-wardowl-"))
        self.stack.callback(sync.close)
        try:
            create_collection(
                sync, "wardowl", data.dim, keyword_fields=("workspace_id", "resource_id")
            )
            self.wbackend = QdrantBackend(sync, "wardowl")
            t = time.perf_counter()
            every = np.arange(data.n)
            for start in range(0, data.n, BATCH):
                idx = every[start : start + BATCH]
                self.wbackend.add(_docs(data, idx), data.vectors[idx].tolist())
            out.seconds["wardowl add"] = time.perf_counter() - t
            self.wardowl_ready = True
        except Exception as exc:  # wardowl on edge is best effort: report, measure the rest
            print(f"   wardowl does not run on qdrant-edge: {type(exc).__name__}: {exc}")

    async def write_pair(self, data: Dataset, batch: int, tag: str) -> tuple[float, float]:
        """QdrantRunner's write pair, the scoped client over the edge client itself."""
        from qdrant_client import models

        from sentinel_vectors_qdrant import ID_KEY, ScopedQdrantClient

        ws, owner = data.workspaces[1], data.owners[1]
        writer = ScopedQdrantClient(self.edge, _admin(data, 1), resource_type=RESOURCE_TYPE)
        ids, vecs, res = _fresh_batch(data, batch, hash(tag) % 10_000)
        base = 10**9 + (hash(tag) % 10_000) * batch
        points = [
            models.PointStruct(id=base + j, vector=v.tolist(), payload={"resource_id": r})
            for j, (r, v) in enumerate(zip(res, vecs, strict=True))
        ]
        t = time.perf_counter()
        await writer.upsert(self.collection, points=points)
        scoped = time.perf_counter() - t
        raw_points = [
            models.PointStruct(
                id=str(uuid.uuid4()),
                vector=v.tolist(),
                payload={"resource_id": r, "workspace_id": ws, "owner_id": owner, ID_KEY: i},
            )
            for i, r, v in zip(ids, res, vecs, strict=True)
        ]
        t = time.perf_counter()
        await asyncio.to_thread(self.edge.upsert, self.collection, points=raw_points)
        return scoped, time.perf_counter() - t

    def scoped_store(self, auth: FixedAuth, strategy: StrategyName | None) -> Any:
        from sentinel_vectors_qdrant import ScopedQdrantClient

        return ScopedQdrantClient(
            self.edge, auth, resource_type=RESOURCE_TYPE, strategy=strategy or "auto"
        )
