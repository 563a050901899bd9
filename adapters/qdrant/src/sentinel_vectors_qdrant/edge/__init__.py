"""Qdrant's own engine in-process: a ``QdrantClient`` over qdrant-edge shards.

``pip install "sentinel-vectors-qdrant[edge]"`` (it pins ``qdrant-edge-py``, a beta).

:func:`open_edge_client` returns an :class:`EdgeQdrantClient`: a real
``qdrant_client.QdrantClient`` whose backend is qdrant-edge (Qdrant's Rust engine, one
shard directory per collection) instead of a server or local mode. Everything built on
a ``QdrantClient`` works on it unchanged: :func:`~sentinel_vectors_qdrant.ensure_collection`
(the ``is_tenant`` keyword index, the resource index, ``payload_m``/``m``),
:class:`~sentinel_vectors_qdrant.ScopedQdrantClient` (its calls run in a worker thread:
edge has no async API) and :class:`~sentinel_vectors_qdrant.SyncScopedQdrantClient`.

Unlike local mode, edge uses payload indexes (typed ones change what a filter matches,
as on a server), ``is_tenant``, HNSW with ``payload_m`` and ACORN. What it cannot do
(groups, shard keys, MMR, quantization, inference) raises
:class:`~sentinel_vectors.errors.UnsupportedError`. One process per directory: edge locks
each shard's write-ahead log.

    client = open_edge_client("/var/lib/app/qdrant")     # or open_edge_client() for a temp dir
    await ensure_collection(client, "docs", models.VectorParams(size=384, distance=COSINE))
    docs = ScopedQdrantClient(client, auth, resource_type="document")
"""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient
from qdrant_client.embed.type_inspector import Inspector
from qdrant_client.qdrant_fastembed import QdrantFastembedMixin

from sentinel_vectors_qdrant.edge.shards import QdrantEdge

__all__ = ["EdgeQdrantClient", "QdrantEdge", "open_edge_client"]


class EdgeQdrantClient(QdrantClient):
    """A ``QdrantClient`` whose backend is :class:`QdrantEdge` (see the module docstring).

    Args:
        path: the directory holding one sub-directory per collection; ``None`` makes a
            temporary directory (under ``tmp_dir``), removed by :meth:`close`.
        max_search_threads: threads of each shard's search pool (``None``: one per CPU).
        tmp_dir: where a temporary ``path`` is made (``None``: the system default).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        max_search_threads: int | None = None,
        tmp_dir: str | Path | None = None,
    ) -> None:
        # QdrantClient.__init__ would build a local-mode or remote backend; this sets the
        # same attributes around an edge backend instead.
        self._init_options = {"path": None if path is None else str(path)}
        self._client: QdrantEdge = QdrantEdge(
            path, max_search_threads=max_search_threads, tmp_dir=tmp_dir
        )
        self.cloud_inference = False
        self.local_inference_batch_size = None
        self._inference_inspector = Inspector()
        QdrantFastembedMixin.__init__(
            self, parser=self._inference_inspector.parser, is_local_mode=True
        )

    @property
    def path(self) -> Path:
        """The directory holding the collections."""
        return self._client.path

    def optimize(self, collection_name: str) -> bool:
        """Run edge's optimizers on a collection, blocking (builds its HNSW graphs).

        Edge runs no optimizer in the background: after loading many points, call this
        so searches use the graph (``payload_m``) rather than scanning.
        """
        return self._client.optimize(collection_name)


def open_edge_client(
    path: str | Path | None = None,
    *,
    max_search_threads: int | None = None,
    tmp_dir: str | Path | None = None,
) -> EdgeQdrantClient:
    """A ``QdrantClient`` over qdrant-edge shards in ``path`` (a temporary dir if ``None``).

    The factory for tests and fixtures: ``open_edge_client()`` gives each client its own
    temporary directory (edge allows one open client per shard directory), removed by
    ``close()``. Edge syncs its files to disk on every index creation and close, so a
    test suite is much faster with ``tmp_dir="/dev/shm"`` (a RAM disk, where syncing is
    free) and ``max_search_threads=1`` (no thread pool per shard).
    """
    return EdgeQdrantClient(path, max_search_threads=max_search_threads, tmp_dir=tmp_dir)
