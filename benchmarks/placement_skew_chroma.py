"""Workspace placement on Chroma: the skewed workload before and after online promotion.

    .venv/bin/python -m benchmarks.placement_skew_chroma               # 20,000 x 64
    .venv/bin/python -m benchmarks.placement_skew_chroma --n 40000 --queries 50

The workload and the measurement are :mod:`benchmarks.placement_skew`'s (one tenant holding
half the chunks, ``--small`` tenants sharing the rest; p50/p95 of ``--queries`` queries,
k=10, and recall@10 against the tenant's exact cosine top-10). Here they run on the local
``chroma run`` server of the test kit over ``HttpClient``: a tiered base (the shared
collection ``docs``, HNSW cosine with Chroma's defaults: M=16, ef_construction=100,
ef_search=100) read through :class:`~sentinel_vectors_chroma.PlacedChromaBackend` (a
full-access caller, so the tenancy filter is ``workspace_id``; a workspace not promoted
pays the registry read of every tiered operation). The large tenant is then promoted into
``docs__ws_<hex>`` with :func:`~sentinel_vectors_chroma.promote_workspace_sync` (timed) and
both tenants are measured again. The benchmark uses short protocol waits (settle and grace
0.5 s, lease 0.2 s: nothing else writes the base), so the promotion time is the copy, the
verification and the delete, plus 1 s of waits.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import numpy as np

from benchmarks.placement_skew import K, measure, print_table, skewed_tenants, workload_args
from benchmarks.workload import FixedAuth
from sentinel_vectors.placement import Placement
from sentinel_vectors_chroma import PlacedChromaBackend, promote_workspace_sync

BASE = "docs"
BATCH = 2_000
SETTLE = GRACE = 0.5
LEASE = 0.2


def _admin(ws: uuid.UUID) -> FixedAuth:
    return FixedAuth(ws, ws, [], full=True, workspace_role="admin")


async def run(client: Any, args: Any) -> None:
    rng = np.random.default_rng(7)
    big, smalls, data = skewed_tenants(args, rng)
    n_big, per_small = len(data[big]), len(data[smalls[0]])
    # The shared collection first, so that it is cosine (promotion copies its configuration).
    client.create_collection(
        BASE, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    placed = PlacedChromaBackend(
        client, BASE, placement=Placement("tiered"), resource_type="document", lease=LEASE
    )
    ids = {ws: [f"c{i}" for i in range(len(v))] for ws, v in data.items()}
    t = time.perf_counter()
    for ws, vectors in data.items():
        writer = placed.scoped(_admin(ws))
        res = str(uuid.UUID(int=ws.int + 1))
        for start in range(0, len(vectors), BATCH):
            chunk = vectors[start : start + BATCH]
            await writer.add(
                ids=ids[ws][start : start + BATCH],
                embeddings=chunk.tolist(),
                metadatas=[{"resource_id": res}] * len(chunk),
            )
    print(f"{args.n} chunks x {args.dim}: 1 tenant of {n_big}, {args.small} of {per_small}")
    print(f"load (scoped adds of {BATCH}) {time.perf_counter() - t:.1f}s")
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    results: dict[str, dict[str, float]] = {}
    for phase in ("shared", "promoted"):
        if phase == "promoted":
            t = time.perf_counter()
            moved = await asyncio.to_thread(
                promote_workspace_sync,
                client,
                BASE,
                str(big),
                settle=SETTLE,
                grace=GRACE,
                lease=LEASE,
            )
            took = time.perf_counter() - t
            waits = SETTLE + GRACE
            print(f"promote_workspace_sync: {moved} records in {took:.1f}s (waits {waits}s)")
        for who, ws in (("large", big), ("small", smalls[0])):
            store = placed.scoped(_admin(ws))

            async def search(q: np.ndarray, store: Any = store) -> list[str]:
                hits = await store.query(
                    query_embeddings=[q.tolist()], n_results=K, include=["distances"]
                )
                return list(hits["ids"][0])

            results[f"{phase}/{who}"] = await measure(search, data[ws], ids[ws], queries)
    print_table(results)


def main() -> None:
    import chromadb

    from sentinel_vectors.testing.servers.chroma import chroma_server

    args = workload_args(__doc__, n=20_000).parse_args()
    with chroma_server() as server:
        asyncio.run(run(chromadb.HttpClient(host=server.host, port=server.port), args))


if __name__ == "__main__":
    main()
