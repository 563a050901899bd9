"""Throughput of the operations commands: backfill and migrate, records per second.

    .venv/bin/python -m benchmarks.operations                 # 100,000 x 128
    .venv/bin/python -m benchmarks.operations --n 5000        # a quick look

Starts a Chroma server, PostgreSQL + pgvector and the Sentinel emulator (the test kit's
helpers), writes ``--n`` legacy records (no stamps; tenant, author and document id in
metadata) into a Chroma collection with the raw client, then measures, through the same
``sentinel_vectors.operations`` functions the CLI calls:

- ``backfill`` in place on Chroma (``--register workspace``: every resource is new to
  Sentinel), batches of ``--batch``: each batch fetched, mapped, resources looked up and
  registered, copies written, read back, originals deleted;
- ``migrate`` of every workspace from Chroma to a pgvector chunk table with an HNSW
  index (counts + 10 sampled queries verified per workspace), and from pgvector to a
  Qdrant collection in local mode.

The raw client's own write rate for the legacy load is printed next to them as the
yardstick. Results go to ``benchmarks/results/operations-<n>.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
import uuid
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from qdrant_client import AsyncQdrantClient, models
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from sentinel_vectors.operations import ResourceDirectory, migrate_workspace
from sentinel_vectors.operations.backfill import backfill
from sentinel_vectors.operations.mapping import FieldMapping, FieldSource
from sentinel_vectors.testing.server import run_emulator
from sentinel_vectors.testing.servers.chroma import chroma_server
from sentinel_vectors.testing.servers.postgres import embedded_postgres
from sentinel_vectors_chroma.rawstore import ChromaRawStore
from sentinel_vectors_pgvector import chunk_table, hnsw_index
from sentinel_vectors_pgvector.rawstore import PgvectorRawStore
from sentinel_vectors_qdrant import ensure_collection
from sentinel_vectors_qdrant.rawstore import QdrantRawStore

RESULTS = Path(__file__).parent / "results"


def _legacy(n: int, dim: int, workspaces: list[str], owners: list[str], docs: int) -> Any:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    resources = [[str(uuid.uuid4()) for _ in range(docs)] for _ in workspaces]
    metas = []
    for i in range(n):
        w = i % len(workspaces)
        metas.append(
            {
                "tenant": workspaces[w],
                "author": owners[w],
                "doc": resources[w][(i // len(workspaces)) % docs],
                "page": i,
            }
        )
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    return ids, vectors, metas


async def _run(args: argparse.Namespace) -> list[tuple[str, int, float]]:
    rows: list[tuple[str, int, float]] = []
    n, dim = args.n, args.dim
    workspaces = [str(uuid.uuid4()) for _ in range(args.workspaces)]
    owners = [str(uuid.uuid4()) for _ in workspaces]
    ids, vectors, metas = _legacy(n, dim, workspaces, owners, args.docs)
    with chroma_server() as chroma, embedded_postgres() as pg, run_emulator() as sentinel:
        for ws, owner in zip(workspaces, owners, strict=True):
            sentinel.emulator.add_member(uuid.UUID(ws), uuid.UUID(owner), "editor")
        client = chromadb.HttpClient(host=chroma.host, port=chroma.port)
        collection = client.create_collection(
            "legacy", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        t0 = time.perf_counter()
        for start in range(0, n, 5000):
            end = min(start + 5000, n)
            collection.add(
                ids=ids[start:end], embeddings=vectors[start:end], metadatas=metas[start:end]
            )
        rows.append(("raw Chroma add (the legacy load)", n, time.perf_counter() - t0))
        print(rows[-1], flush=True)

        permissions = sentinel.permission_client()
        chroma_store = ChromaRawStore(collection)
        mapper = FieldMapping(
            FieldSource(field="tenant"), FieldSource(field="author"), FieldSource(field="doc")
        )
        t0 = time.perf_counter()
        result = await backfill(
            chroma_store,
            mapper,
            mapping=mapper.describe(),
            directory=ResourceDirectory(permissions, "document"),
            register="workspace",
            batch_size=args.batch,
        )
        rows.append(
            (
                "backfill in place, Chroma (register every resource)",
                result.stamped,
                time.perf_counter() - t0,
            )
        )
        print(rows[-1], flush=True)
        assert result.stamped == n, result.as_json()
        assert result.source_after == n, result.as_json()

        engine = create_async_engine(pg.sqlalchemy_url("asyncpg"))
        table = chunk_table("chunks", MetaData(), dim=dim)
        hnsw_index(table, "cosine")
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        pg_store = PgvectorRawStore(engine, table)
        t0 = time.perf_counter()
        copied = 0
        for ws in workspaces:
            moved = await migrate_workspace(
                chroma_store, pg_store, ws, batch_size=args.batch, sample=10
            )
            assert moved.verified, moved.as_json()
            copied += moved.copied
        rows.append(
            ("migrate Chroma -> pgvector (HNSW), verified", copied, time.perf_counter() - t0)
        )
        print(rows[-1], flush=True)

        # In memory: on disk, local mode commits every point to SQLite on its own
        # (about 20 ms a point on the measuring machine), which is local mode, not us.
        qclient = AsyncQdrantClient(":memory:")
        await ensure_collection(
            qclient, "docs", models.VectorParams(size=dim, distance=models.Distance.COSINE)
        )
        q_store = QdrantRawStore(qclient, "docs")
        t0 = time.perf_counter()
        copied = 0
        for ws in workspaces:
            moved = await migrate_workspace(pg_store, q_store, ws, batch_size=args.batch, sample=10)
            assert moved.copied == moved.source_count, moved.as_json()
            copied += moved.copied
        rows.append(
            ("migrate pgvector -> Qdrant local mode (in memory)", copied, time.perf_counter() - t0)
        )
        print(rows[-1], flush=True)
        await qclient.close()
        await engine.dispose()
        await permissions.close()  # type: ignore[no-untyped-call]
    return rows


def main() -> None:
    """Run and print the table; write it to ``benchmarks/results/operations-<n>.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--workspaces", type=int, default=4)
    parser.add_argument("--docs", type=int, default=250, help="resources per workspace")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    rows = asyncio.run(_run(args))
    lines = [
        f"{args.n:,} records x {args.dim} dims, {args.workspaces} workspaces x {args.docs} "
        f"resources, batches of {args.batch}; {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "",
        "| operation | records | seconds | records/s |",
        "|---|---:|---:|---:|",
    ]
    for name, count, seconds in rows:
        lines.append(f"| {name} | {count:,} | {seconds:.1f} | {count / seconds:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"operations-{args.n}.md").write_text(text)


if __name__ == "__main__":
    main()
