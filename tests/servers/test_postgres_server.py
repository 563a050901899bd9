"""The embedded PostgreSQL really runs pgvector 0.8 and answers nearest-neighbour queries."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import psycopg
import pytest

from sentinel_vectors.testing.servers import PostgresServer, start_postgres

# The vectors and the query are chosen so that the cosine order is unambiguous.
ROWS = [
    (1, "[1, 0, 0]"),
    (2, "[0, 1, 0]"),
    (3, "[0, 0, 1]"),
    (4, "[1, 1, 0]"),
    (5, "[0.9, 0.1, 0]"),
]
QUERY = "[1, 0.05, 0]"
EXPECTED_ORDER = [1, 5, 4]  # by cosine distance to QUERY


@pytest.fixture(scope="module")
def pg(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


def test_pgvector_0_8_on_postgres_18(pg: PostgresServer) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert row is not None
        assert row[0].startswith("0.8."), row[0]
        server = conn.execute("SHOW server_version_num").fetchone()
        assert server is not None
        assert int(server[0]) >= 180000


def test_hnsw_nearest_neighbours_psycopg(pg: PostgresServer) -> None:
    with psycopg.connect(pg.dsn) as conn:
        # A temp table: safe when DATABASE_URL points at a shared database.
        conn.execute("CREATE TEMP TABLE nn_items (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("CREATE INDEX ON nn_items USING hnsw (embedding vector_cosine_ops)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO nn_items VALUES (%s, %s::vector)", ROWS)
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        sql = "SELECT id FROM nn_items ORDER BY embedding <=> %s::vector LIMIT 3"
        plan = "\n".join(str(r[0]) for r in conn.execute("EXPLAIN " + sql, (QUERY,)).fetchall())
        assert "nn_items_embedding_idx" in plan, plan
        ids = [r[0] for r in conn.execute(sql, (QUERY,)).fetchall()]
        assert ids == EXPECTED_ORDER
        setting = conn.execute("SHOW hnsw.iterative_scan").fetchone()
        assert setting == ("relaxed_order",)


async def test_nearest_neighbours_asyncpg(pg: PostgresServer) -> None:
    conn = await asyncpg.connect(pg.dsn)
    try:
        async with conn.transaction():
            await conn.execute("CREATE TEMP TABLE nn_async (id int, embedding vector(3))")
            await conn.executemany("INSERT INTO nn_async VALUES ($1, $2::vector)", ROWS)
            rows = await conn.fetch(
                "SELECT id, embedding <=> $1::vector AS d FROM nn_async ORDER BY d LIMIT 3", QUERY
            )
        assert [r["id"] for r in rows] == EXPECTED_ORDER
        assert rows[0]["d"] < rows[1]["d"] < rows[2]["d"]
    finally:
        await conn.close()


def test_database_url_is_used_instead_of_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u%40x:p%3Aw@db.example:6543/app")
    server = start_postgres()
    assert server.external
    assert server.state_file is None
    assert server.dsn == "postgresql://u%40x:p%3Aw@db.example:6543/app"
    assert (server.host, server.port, server.user, server.password, server.database) == (
        "db.example",
        6543,
        "u@x",
        "p:w",
        "app",
    )
    assert server.sqlalchemy_url("asyncpg").startswith("postgresql+asyncpg://")
