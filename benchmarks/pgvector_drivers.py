"""psycopg 3 vs asyncpg under SQLAlchemy 2's async engine, the way the pgvector store uses them.

    DATABASE_URL=postgresql://... .venv/bin/python benchmarks/pgvector_drivers.py

Per driver: a bulk insert (executemany through insertmanyvalues; the HNSW index is built
afterwards) of N rows of dimension D
with JSONB metadata, then Q filtered HNSW queries (workspace = :ws AND resource = ANY(:ids)
with a 5,000-id array parameter, SET LOCAL iterative scan in the same transaction), and
Q primary-key lookups of 100 ids. Prints wall times; the numbers in docs/pgvector.md come
from this script.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    Column,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import create_async_engine

N = int(os.environ.get("BENCH_ROWS", "20000"))
D = int(os.environ.get("BENCH_DIM", "384"))
Q = int(os.environ.get("BENCH_QUERIES", "200"))
IDS = int(os.environ.get("BENCH_IDS", "5000"))


def table(name: str) -> Table:
    t = Table(
        name,
        MetaData(),
        Column("workspace_id", Uuid, primary_key=True),
        Column("id", Text, primary_key=True),
        Column("resource_id", Uuid, nullable=False),
        Column("metadata", JSONB, nullable=False),
        Column("embedding", Vector(D), nullable=False),
    )
    Index(f"{name}_ws_res", t.c.workspace_id, t.c.resource_id)
    return t


def hnsw(t: Table) -> Index:
    return Index(
        f"{t.name}_hnsw",
        t.c.embedding,
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )


async def run(driver: str, url: str) -> dict[str, float]:
    engine = create_async_engine(url.replace("postgresql://", f"postgresql+{driver}://", 1))
    name = f"bench_{driver}_{uuid.uuid4().hex[:8]}"
    t = table(name)
    rng = np.random.default_rng(0)
    ws = uuid.uuid4()
    resources = [uuid.uuid4() for _ in range(20_000)]
    rows = [
        {
            "workspace_id": ws,
            "id": f"c{i}",
            "resource_id": resources[i % len(resources)],
            "metadata": {"topic": random.choice(["a", "b", "c"]), "year": 2020 + i % 5},
            "embedding": rng.normal(size=D).astype(np.float32),
        }
        for i in range(N)
    ]
    out: dict[str, float] = {}
    try:
        async with engine.begin() as conn:
            await conn.run_sync(t.metadata.create_all)
        start = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(insert(t), rows)
        out["insert"] = time.perf_counter() - start
        async with engine.begin() as conn:  # bulk load first, then build the index
            await conn.run_sync(hnsw(t).create)
        queries = [rng.normal(size=D).astype(np.float32) for _ in range(Q)]
        allowed = random.sample(resources, IDS)
        stmt = (
            select(t.c.id, t.c.metadata, t.c.embedding.cosine_distance(bindparam("q")).label("d"))
            .where(
                t.c.workspace_id == ws,
                t.c.resource_id == any_(bindparam("ids", type_=ARRAY(Uuid))),
            )
            .order_by(text("d"))
            .limit(10)
        )
        settings = select(
            func.set_config("hnsw.iterative_scan", "relaxed_order", True),
            func.set_config("hnsw.ef_search", "100", True),
        )
        start = time.perf_counter()
        for qv in queries:
            async with engine.begin() as conn:
                await conn.execute(settings)
                (await conn.execute(stmt, {"q": qv, "ids": allowed})).all()
        out["query"] = time.perf_counter() - start
        by_id = select(t.c.id, t.c.metadata).where(
            t.c.workspace_id == ws, t.c.id == any_(bindparam("ids", type_=ARRAY(Text)))
        )
        start = time.perf_counter()
        for _ in range(Q):
            ids = [f"c{random.randrange(N)}" for _ in range(100)]
            async with engine.begin() as conn:
                (await conn.execute(by_id, {"ids": ids})).all()
        out["get"] = time.perf_counter() - start
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(t.metadata.drop_all)
        await engine.dispose()
    return out


async def main() -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit('set DATABASE_URL (e.g. eval "$(bash scripts/postgres-embedded.sh start)")')
    print(f"rows={N} dim={D} queries={Q} ({IDS}-id array filter) gets={Q} (100 ids)")
    for driver in ("psycopg", "asyncpg", "psycopg", "asyncpg"):
        r = await run(driver, url)
        print(
            f"{driver:8s} insert {r['insert']:.2f}s ({N / r['insert']:.0f} rows/s)  "
            f"query {1000 * r['query'] / Q:.2f} ms/q  get {1000 * r['get'] / Q:.2f} ms/q"
        )


if __name__ == "__main__":
    asyncio.run(main())
