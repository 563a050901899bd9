"""Workspace placement on pgvector: a skewed workload before and after promotion.

    .venv/bin/python -m benchmarks.placement_skew                  # 40,000 x 64, 40 small tenants
    .venv/bin/python -m benchmarks.placement_skew --n 100000 --dim 128

One tenant holds half the chunks; ``--small`` tenants share the other half. The chunk table
is partitioned by workspace (``partitioning_ddl``, tiered, one default partition) with an
HNSW index (cosine, m=16, ef_construction=64). Through :class:`ScopedVectorStore` (full
access, so the tenancy filter is ``workspace_id = :ws``, the default iterative scan and
``ef_search`` 40), it measures the query latency (median and p95 of ``--queries`` queries,
k=10) and recall@10 against the exact top-10 of the tenant (numpy), for the large tenant
and for one small tenant, then promotes the large tenant into its own partition
(``promote_workspace``, timed) and measures again. Uses ``DATABASE_URL`` or starts the
embedded PostgreSQL of the test kit. ``benchmarks.placement_skew_chroma`` runs the same
workload and measurement on Chroma.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any

import numpy as np
from sqlalchemy import MetaData, Table, create_engine, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.workload import FixedAuth
from sentinel_vectors.placement import Placement
from sentinel_vectors_pgvector import (
    ScopedVectorStore,
    chunk_table,
    hnsw_index,
    partitioning_ddl,
    promote_workspace,
)

K = 10


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


Search = Callable[[np.ndarray], Awaitable[list[str]]]
"""``await search(query)``: the ids of the k nearest chunks the measured tenant sees."""


async def measure(
    search: Search, vectors: np.ndarray, ids: list[str], queries: np.ndarray
) -> dict[str, float]:
    """p50 and p95 latency (ms) of ``search`` over ``queries``, and mean recall@k against
    the exact cosine top-k of the tenant's ``vectors`` (after one warm-up query)."""
    exact = np.argsort(-(_unit(vectors) @ _unit(queries).T), axis=0)[:K].T
    await search(queries[0])  # warm-up
    times: list[float] = []
    recalls: list[float] = []
    for q, truth in zip(queries, exact, strict=True):
        t = time.perf_counter()
        hits = await search(q)
        times.append(time.perf_counter() - t)
        recalls.append(len(set(hits) & {ids[i] for i in truth}) / K)
    times.sort()
    return {
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
        "recall": statistics.mean(recalls),
    }


async def _measure(
    engine: AsyncEngine,
    table: Table,
    ws: uuid.UUID,
    vectors: np.ndarray,
    ids: list[str],
    queries: np.ndarray,
) -> dict[str, float]:
    auth = FixedAuth(ws, uuid.UUID(int=1), [], full=True, workspace_role="admin")
    store = ScopedVectorStore(engine, auth, model=table, resource_type="document")  # type: ignore[arg-type]

    async def search(q: np.ndarray) -> list[str]:
        return [hit.id for hit in await store.query(q.tolist(), K)]

    return await measure(search, vectors, ids, queries)


def skewed_tenants(
    args: argparse.Namespace, rng: np.random.Generator
) -> tuple[uuid.UUID, list[uuid.UUID], dict[uuid.UUID, np.ndarray]]:
    """The workload: one large tenant holding half of ``args.n`` random normal vectors of
    ``args.dim``, ``args.small`` small tenants sharing the rest. (large, smalls, vectors)."""
    big, smalls = uuid.UUID(int=0xB16), [uuid.UUID(int=0x5000 + i) for i in range(args.small)]
    n_big = args.n // 2
    per_small = (args.n - n_big) // args.small
    tenants = {big: n_big, **dict.fromkeys(smalls, per_small)}
    data = {
        ws: rng.normal(size=(count, args.dim)).astype(np.float32) for ws, count in tenants.items()
    }
    return big, smalls, data


def print_table(results: dict[str, dict[str, float]]) -> None:
    """The results (``"<placement>/<tenant>"`` -> measure) as a markdown table."""
    print("| placement | tenant | p50 ms | p95 ms | recall@10 |")
    print("|---|---|---|---|---|")
    for key, r in results.items():
        phase, who = key.split("/")
        print(f"| {phase} | {who} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['recall']:.3f} |")


def _row(ws: uuid.UUID, rid: str, res: uuid.UUID, vector: np.ndarray) -> dict[str, Any]:
    return {
        "workspace_id": ws,
        "id": rid,
        "owner_id": ws,
        "resource_id": res,
        "document": None,
        "meta": {},
        "embedding": vector.tolist(),
    }


async def run(url_async: str, url_sync: str, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(7)
    big, smalls, data = skewed_tenants(args, rng)
    n_big, per_small = len(data[big]), len(data[smalls[0]])
    table = chunk_table(f"skew_{uuid.uuid4().hex[:8]}", MetaData(), dim=args.dim, partitioned=True)
    sync = create_engine(url_sync)
    table.metadata.create_all(sync)
    with sync.begin() as conn:
        for stmt in partitioning_ddl(table, Placement("tiered")):
            conn.execute(stmt)
    t = time.perf_counter()
    with sync.begin() as conn:
        for ws, vectors in data.items():
            res = uuid.UUID(int=ws.int + 1)
            conn.execute(insert(table), [_row(ws, f"c{i}", res, v) for i, v in enumerate(vectors)])
    load = time.perf_counter() - t
    t = time.perf_counter()
    hnsw = hnsw_index(table, "cosine")
    hnsw.create(sync)
    with sync.begin() as conn:
        conn.execute(text(f'ANALYZE "{table.name}"'))
    build = time.perf_counter() - t
    print(f"{args.n} chunks x {args.dim}: 1 tenant of {n_big}, {args.small} of {per_small}")
    print(f"load {load:.1f}s, HNSW build {build:.1f}s")
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    engine = create_async_engine(url_async)
    try:
        ids = {ws: [f"c{i}" for i in range(len(v))] for ws, v in data.items()}
        results: dict[str, dict[str, float]] = {}
        for phase in ("shared", "promoted"):
            if phase == "promoted":
                t = time.perf_counter()
                moved = await promote_workspace(engine, table, str(big))
                print(f"promote_workspace: {moved} chunks in {time.perf_counter() - t:.1f}s")
                with sync.begin() as conn:
                    conn.execute(text(f'ANALYZE "{table.name}"'))
            for who, ws in (("large", big), ("small", smalls[0])):
                results[f"{phase}/{who}"] = await _measure(
                    engine, table, ws, data[ws], ids[ws], queries
                )
        print_table(results)
    finally:
        await engine.dispose()
        table.metadata.drop_all(sync)
        sync.dispose()


def workload_args(doc: str | None, *, n: int) -> argparse.ArgumentParser:
    """The workload's command-line options (``--n`` chunks, ``--dim``, ``--small``
    tenants, ``--queries``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--small", type=int, default=40)
    parser.add_argument("--queries", type=int, default=100)
    return parser


def main() -> None:
    args = workload_args(__doc__, n=40_000).parse_args()
    with ExitStack() as stack:
        url = os.environ.get("DATABASE_URL")
        if url:
            base = url.split("://", 1)[1]
        else:
            from sentinel_vectors.testing.servers.postgres import embedded_postgres

            base = stack.enter_context(embedded_postgres()).dsn.split("://", 1)[1]
        asyncio.run(run(f"postgresql+asyncpg://{base}", f"postgresql+psycopg://{base}", args))


if __name__ == "__main__":
    main()
