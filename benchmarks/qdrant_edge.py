"""The Qdrant cells on Qdrant's own engine in-process (qdrant-edge).

``QdrantEdgeRunner`` is :class:`benchmarks.backends.QdrantRunner` on an
:class:`~sentinel_vectors_qdrant.edge.EdgeQdrantClient`: the collection is made by
``ensure_collection`` (``is_tenant`` keyword index on the workspace, keyword index on the
resource, ``payload_m=16``, ``m=0``), loaded through the scoped client, then optimized
(edge has no background optimizer: ``optimize()`` builds the per-tenant HNSW graphs a
server builds on its own). The query by hand and the raw writes call the same edge
client in a worker thread, as the scoped client does. The load, the queries and the
write pair are ``QdrantRunner``'s; this module supplies the client, the optimize step and
wardowl's copy.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
import time
from contextlib import AsyncExitStack
from typing import Any

from benchmarks.backends import Loaded, QdrantRunner, _wardowl_add
from benchmarks.workload import Dataset

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

    @property
    def scoped_client(self) -> Any:
        """The edge client itself: the scoped client offloads its calls on its own."""
        return self.edge

    async def _open(self) -> None:
        from sentinel_vectors_qdrant.edge import open_edge_client

        self.edge = open_edge_client()
        self.stack.callback(self.edge.close)
        self.client = _Offloaded(self.edge)  # type: ignore[assignment]
        self.collection = "bench"

    async def _loaded(self, out: Loaded) -> None:
        # Edge has no background optimizer: build the per-tenant HNSW graphs now.
        t = time.perf_counter()
        await asyncio.to_thread(self.edge.optimize, self.collection)
        out.seconds["optimize (HNSW)"] = time.perf_counter() - t

    async def _load_wardowl(self, data: Dataset, out: Loaded) -> None:
        from wardowl.backends.qdrant import QdrantBackend, create_collection

        from sentinel_vectors_qdrant.edge import open_edge_client

        sync = open_edge_client(tempfile.mkdtemp(prefix="bench-wardowl-"))
        self.stack.callback(sync.close)
        try:
            create_collection(
                sync, "wardowl", data.dim, keyword_fields=("workspace_id", "resource_id")
            )
            self.wbackend = QdrantBackend(sync, "wardowl")
            _wardowl_add(self.wbackend, data, out)
            self.wardowl_ready = True
        except Exception as exc:  # wardowl on edge is best effort: report, measure the rest
            print(f"   wardowl does not run on qdrant-edge: {type(exc).__name__}: {exc}")
