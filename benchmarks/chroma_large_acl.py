"""Chroma: scoped query latency against the accessible-list size and the chunk size.

Measures the ``chunked-prefilter`` strategy's ``max_ids_per_query`` on a real
``chroma run`` server, relative to a workspace-only query by hand on the native client
(the floor any resource filter is compared against). Prints a table and writes JSON to
``benchmarks/results/chroma_large_acl.json``.

    .venv/bin/python -m benchmarks.chroma_large_acl [--chunks 20000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import chromadb
import numpy as np

from sentinel_vectors import request_auth
from sentinel_vectors.testing import make_user, run_emulator
from sentinel_vectors.testing.servers.chroma import chroma_server
from sentinel_vectors_chroma import ScopedCollection

DIM = 64
RESULTS = Path(__file__).parent / "results"


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


async def main(n_chunks: int, repeats: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    with chroma_server() as server, run_emulator() as sentinel:
        client = chromadb.HttpClient(host=server.host, port=server.port)
        col = client.create_collection("bench-acl", embedding_function=None)
        ws = uuid.uuid4()
        owner, owner_token = make_user(sentinel.keys, workspace_id=ws, role="admin")
        resources = [uuid.uuid4() for _ in range(100_000)]
        for rid in resources:
            sentinel.emulator.register("document", rid, ws, owner.user_id, visibility="private")
        perms = sentinel.permission_client()
        writer = ScopedCollection(
            col, request_auth(owner, owner_token, perms), resource_type="document"
        )
        vectors = rng.normal(size=(n_chunks, DIM)).astype(np.float32)
        for start in range(0, n_chunks, 2000):
            end = min(start + 2000, n_chunks)
            await writer.add(
                ids=[f"c{i}" for i in range(start, end)],
                embeddings=vectors[start:end],
                metadatas=[
                    {"resource_id": str(resources[i % len(resources)])} for i in range(start, end)
                ],
            )
        queries = rng.normal(size=(repeats, DIM)).tolist()

        floor = []
        for q in queries:
            t = time.perf_counter()
            col.query(query_embeddings=[q], n_results=10, where={"workspace_id": str(ws)})
            floor.append(time.perf_counter() - t)
        base = median_ms(floor)
        print(f"{n_chunks} chunks, dim {DIM}; workspace-only native query: {base} ms (median)")
        print(f"{'ids':>8} {'max_ids':>8} {'queries':>8} {'median ms':>10} {'x floor':>8}")
        for n_ids in (1_000, 10_000, 30_000, 100_000):
            viewer, token = make_user(sentinel.keys, workspace_id=ws, role="viewer")
            for rid in resources[:n_ids]:
                sentinel.emulator.share("document", rid, "user", viewer.user_id, "view")
            for max_ids in (2_500, 5_000, 10_000, 30_000):
                if max_ids > n_ids and max_ids != 2_500 and n_ids < 2_500:
                    continue
                auth = request_auth(viewer, token, perms)
                docs = ScopedCollection(
                    col,
                    auth,
                    resource_type="document",
                    strategy="chunked-prefilter",  # what this measures; auto post-filters
                    max_ids_per_query=max_ids,
                )
                await docs.query(query_embeddings=[queries[0]], n_results=10)  # warm accessible()
                samples = []
                for q in queries:
                    t = time.perf_counter()
                    await docs.query(query_embeddings=[q], n_results=10)
                    samples.append(time.perf_counter() - t)
                ms = median_ms(samples)
                n_q = -(-n_ids // max_ids)
                rows.append(
                    {
                        "ids": n_ids,
                        "max_ids": max_ids,
                        "queries": n_q,
                        "median_ms": ms,
                        "floor_ms": base,
                        "ratio": round(ms / base, 2),
                    }
                )
                print(f"{n_ids:>8} {max_ids:>8} {n_q:>8} {ms:>10} {ms / base:>8.2f}")
        await perms.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chroma_large_acl.json").write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.chunks, args.repeats))
