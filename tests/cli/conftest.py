"""Command-line fixtures: a store on each backend, filled by its raw client.

Each :class:`RawSide` holds one fresh collection or table and writes records the way a
legacy service (or the wrappers) left them, with the store's own client: Chroma on the
session's ``chroma run`` server, Qdrant in local mode on disk (the CLI opens the same
directory, so the raw client is closed between steps), pgvector on the session's
PostgreSQL. Commands run in process with Typer's ``CliRunner``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from sqlalchemy import MetaData, Table, create_engine, delete, insert, select, text
from typer.testing import CliRunner, Result

from sentinel_vectors.access import namespaced_id
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_cli.app import app
from sentinel_vectors_pgvector import chunk_table, enable_rls, hnsw_index
from sentinel_vectors_qdrant.points import ID_KEY, PointIds

DIM = 4
BACKENDS = ["chroma", "qdrant", "pgvector"]


def vec(seed: int) -> list[float]:
    """A deterministic unit-ish vector."""
    return [float(x) for x in np.random.default_rng(seed).normal(size=DIM)]


@dataclass(frozen=True)
class Row:
    """A record as a raw client writes it: caller id, stamps (any may be None), payload."""

    id: str
    workspace_id: str | None = None
    owner_id: str | None = None
    resource_id: str | None = None
    document: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    key: str | None = None  # the stored id; default: the wrappers' namespaced id

    def metadata(self) -> dict[str, Any]:
        """Metadata with the stamps that are set."""
        out = dict(self.meta)
        for k, v in (
            ("workspace_id", self.workspace_id),
            ("owner_id", self.owner_id),
            ("resource_id", self.resource_id),
        ):
            if v is not None:
                out[k] = v
        return out


class RawSide:
    """One fresh store on one backend, written and read with its native client."""

    backend: str
    url: str

    def put(self, rows: Sequence[Row]) -> None:
        """Write ``rows`` natively."""
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """Every stored record: key -> (document, metadata JSON, embedding), exactly."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop the store."""


class ChromaSide(RawSide):
    backend = "chroma"

    def __init__(self, server: ChromaServer, *, embedding_function: bool = False) -> None:
        self.client = chromadb.HttpClient(host=server.host, port=server.port)
        self.name = f"cli-{uuid.uuid4().hex[:10]}"
        kwargs: dict[str, Any] = {"configuration": {"hnsw": {"space": "cosine"}}}
        if not embedding_function:
            kwargs["embedding_function"] = None
        self.collection = self.client.create_collection(self.name, **kwargs)
        self.url = f"chroma://{server.host}:{server.port}/{self.name}"

    def key(self, row: Row) -> str:
        if row.key is not None:
            return row.key
        return namespaced_id(row.workspace_id, row.id) if row.workspace_id else row.id

    def put(self, rows: Sequence[Row]) -> None:
        self.collection.add(
            ids=[self.key(r) for r in rows],
            embeddings=[vec(r.seed) for r in rows],
            metadatas=[r.metadata() or None for r in rows],
            documents=[r.document for r in rows],
        )

    def snapshot(self) -> dict[str, Any]:
        got = self.collection.get(include=["documents", "metadatas", "embeddings"])
        return {
            k: (d, json.dumps(m, sort_keys=True), [float(x) for x in e])
            for k, d, m, e in zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
            )
        }

    def close(self) -> None:
        self.client.delete_collection(self.name)


class QdrantSide(RawSide):
    backend = "qdrant"

    def __init__(self, root: Path) -> None:
        self.path = str(root / "qdrant")
        self.name = "docs"
        with closing(self._client()) as client:
            client.create_collection(
                self.name,
                vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
            )
        self.url = f"qdrant+local://{self.path}/{self.name}"

    def _client(self) -> QdrantClient:
        return QdrantClient(path=self.path)

    def key(self, row: Row) -> str:
        if row.key is not None:
            return row.key
        if row.workspace_id is None:
            return row.id
        ws = row.workspace_id
        return PointIds(lambda c: namespaced_id(ws, c)).physical(row.id)

    def put(self, rows: Sequence[Row]) -> None:
        points = []
        for r in rows:
            payload = r.metadata()
            if r.workspace_id is not None:
                payload[ID_KEY] = r.id
            if r.document is not None:
                payload["text"] = r.document
            points.append(models.PointStruct(id=self.key(r), vector=vec(r.seed), payload=payload))
        with closing(self._client()) as client:
            client.upsert(self.name, points=points, wait=True)

    def snapshot(self) -> dict[str, Any]:
        with closing(self._client()) as client:
            points, _ = client.scroll(self.name, limit=10_000, with_payload=True, with_vectors=True)
        return {
            str(p.id): (json.dumps(p.payload, sort_keys=True), list(p.vector))  # type: ignore[arg-type]
            for p in points
        }


class PgvectorSide(RawSide):
    backend = "pgvector"

    def __init__(self, server: PostgresServer, *, hnsw: bool = True, rls: bool = True) -> None:
        self.engine = create_engine(server.sqlalchemy_url("psycopg"))
        self.name = f"cli_{uuid.uuid4().hex[:10]}"
        self.table: Table = chunk_table(self.name, MetaData(), dim=DIM)
        if hnsw:
            hnsw_index(self.table, "cosine")
        self.table.metadata.create_all(self.engine)
        if rls:
            with self.engine.begin() as conn:
                for stmt in enable_rls(self.table, force=True):
                    conn.execute(stmt)
        self.url = f"{server.sqlalchemy_url('asyncpg')}/{self.name}"

    def put(self, rows: Sequence[Row]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(self.table),
                [
                    {
                        "workspace_id": uuid.UUID(str(r.workspace_id)),
                        "id": r.id,
                        "owner_id": uuid.UUID(str(r.owner_id)),
                        "resource_id": uuid.UUID(str(r.resource_id)),
                        "document": r.document,
                        "meta": r.meta,
                        "embedding": vec(r.seed),
                    }
                    for r in rows
                ],
            )

    def snapshot(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.table)).all()
        return {
            f"{r.workspace_id}:{r.id}": (
                str(r.owner_id),
                str(r.resource_id),
                r.document,
                json.dumps(r.meta, sort_keys=True),
                [float(x) for x in r.embedding],
            )
            for r in rows
        }

    def clear(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self.table))

    def close(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{self.name}"'))
        self.engine.dispose()


@pytest.fixture
def make_side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """``make_side(backend, **options)``: a fresh store, dropped after the test."""
    made: list[RawSide] = []

    def make(backend: str, **options: Any) -> RawSide:
        side: RawSide
        if backend == "chroma":
            side = ChromaSide(request.getfixturevalue("chroma_http"), **options)
        elif backend == "qdrant":
            side = QdrantSide(tmp_path / f"q{len(made)}")
        else:
            side = PgvectorSide(request.getfixturevalue("postgres_server"), **options)
        made.append(side)
        return side

    yield make
    for side in made:
        side.close()


@pytest.fixture
def cli() -> Any:
    """``cli(*args, env=...)``: run the command line in process; returns the Result."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def sentinel_env(sentinel_emulator: RunningEmulator) -> dict[str, str]:
    """The environment naming the session's Sentinel emulator (service key)."""
    return {
        "SENTINEL_URL": sentinel_emulator.url,
        "SENTINEL_SERVICE_NAME": sentinel_emulator.service_name,
        "SENTINEL_SERVICE_KEY": sentinel_emulator.service_key,
    }


def new_id() -> str:
    """A fresh UUID string."""
    return str(uuid.uuid4())
