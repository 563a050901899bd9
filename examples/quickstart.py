"""Who sees what: one query, six users, two workspaces, one Chroma collection.

Runs fully offline on embedded defaults: Chroma's PersistentClient in a temp dir and the
test kit's Sentinel permission-service emulator on a local port, with real RS256 tokens
and the SDK's real ``PermissionClient`` and ``RequestAuth``.

    python examples/quickstart.py [--backend chroma|qdrant]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import uuid
from typing import Any

import chromadb
import numpy as np

from sentinel_vectors import request_auth
from sentinel_vectors.errors import ReservedKeyError
from sentinel_vectors.testing import make_user, run_emulator
from sentinel_vectors_chroma import ScopedCollection

DIM = 64
QUERY = "quarterly revenue forecast"


def embed(text: str) -> list[float]:
    """A deterministic bag-of-words embedding (hashed tokens), good enough for a demo."""
    vec = np.zeros(DIM)
    for token in text.lower().split():
        digest = hashlib.sha256(token.encode()).digest()
        vec[int.from_bytes(digest[:4], "big") % DIM] += 1.0
    return list(vec / (np.linalg.norm(vec) or 1.0))


class ChromaDemo:
    """Embedded Chroma (PersistentClient in a temp dir) behind ScopedCollection."""

    def __init__(self, path: str) -> None:
        client = chromadb.PersistentClient(path=path)
        self.collection = client.create_collection("docs", embedding_function=None)

    async def write(
        self,
        auth: Any,
        ids: list[str],
        vectors: list[list[float]],
        resources: list[str],
        texts: list[str],
        extra: dict[str, str] | None = None,
    ) -> None:
        await ScopedCollection(self.collection, auth, resource_type="document").add(
            ids=ids,
            embeddings=vectors,
            metadatas=[{"resource_id": r, **(extra or {})} for r in resources],
            documents=texts,
        )

    async def search(self, auth: Any, vector: list[float], k: int) -> list[str]:
        docs = ScopedCollection(self.collection, auth, resource_type="document")
        return list((await docs.query(query_embeddings=[vector], n_results=k))["ids"][0])

    def raw_search(self, vector: list[float], k: int) -> list[str]:
        raw = self.collection.query(query_embeddings=[vector], n_results=k)
        return list(raw["documents"][0])

    def raw_count(self) -> int:
        return int(self.collection.count())


class QdrantDemo:
    """Embedded Qdrant (QdrantClient(path=...)) behind ScopedQdrantClient."""

    def __init__(self, path: str) -> None:
        from qdrant_client import QdrantClient, models

        self.models = models
        self.client = QdrantClient(path=path)
        self.client.create_collection(
            "docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
        )

    def _scoped(self, auth: Any) -> Any:
        from sentinel_vectors_qdrant import ScopedQdrantClient

        return ScopedQdrantClient(self.client, auth, resource_type="document")

    async def write(
        self,
        auth: Any,
        ids: list[str],
        vectors: list[list[float]],
        resources: list[str],
        texts: list[str],
        extra: dict[str, str] | None = None,
    ) -> None:
        points = [
            self.models.PointStruct(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, i)),
                vector=v,
                payload={"resource_id": r, "name": i, "text": t, **(extra or {})},
            )
            for i, v, r, t in zip(ids, vectors, resources, texts, strict=True)
        ]
        await self._scoped(auth).upsert("docs", points)

    async def search(self, auth: Any, vector: list[float], k: int) -> list[str]:
        hits = await self._scoped(auth).query_points("docs", query=vector, limit=k)
        return [p.payload["name"] for p in hits.points]

    def raw_search(self, vector: list[float], k: int) -> list[str]:
        hits = self.client.query_points("docs", query=vector, limit=k, with_payload=True)
        return [p.payload["text"] for p in hits.points if p.payload]

    def raw_count(self) -> int:
        return int(self.client.count("docs").count)


BACKENDS: dict[str, Any] = {"chroma": ChromaDemo, "qdrant": QdrantDemo}


async def main(backend_name: str) -> None:
    with run_emulator() as sentinel, tempfile.TemporaryDirectory() as data:
        perms = sentinel.permission_client()
        emulator = sentinel.emulator
        ws_acme, ws_globex = uuid.uuid4(), uuid.uuid4()
        finance = uuid.uuid4()  # a group in Acme

        def person(role: str, ws: uuid.UUID, name: str, groups: tuple[uuid.UUID, ...] = ()):
            user, token = make_user(
                sentinel.keys, workspace_id=ws, role=role, groups=groups, name=name
            )
            return name, user, token

        people = [
            person("editor", ws_acme, "ana (owner of the docs, editor)"),
            person("editor", ws_acme, "eli (editor)"),
            person("viewer", ws_acme, "vic (viewer, finance group)", (finance,)),
            person("viewer", ws_acme, "val (viewer)"),
            person("admin", ws_acme, "ada (admin)"),
            person("admin", ws_globex, "gus (Globex admin)"),
        ]
        _, ana, _ = people[0]
        _, val, _ = people[3]
        _, gus, _ = people[5]

        docs = {
            "private-plan": ("private", "revenue forecast draft for next quarter"),
            "team-wiki": ("workspace", "quarterly revenue summary for the whole team"),
            "shared-with-val": ("private", "revenue forecast notes shared with val"),
            "finance-only": ("private", "quarterly forecast model for the finance group"),
        }
        ids = {name: uuid.uuid4() for name in docs}
        for name, (visibility, _) in docs.items():
            emulator.register("document", ids[name], ws_acme, ana.user_id, visibility=visibility)
        emulator.share("document", ids["shared-with-val"], "user", val.user_id, "view")
        emulator.share("document", ids["finance-only"], "group", finance, "view")
        globex_doc = uuid.uuid4()
        emulator.register("document", globex_doc, ws_globex, gus.user_id, visibility="workspace")

        backend = BACKENDS[backend_name](data)
        auth_of = {name: request_auth(user, token, perms) for name, user, token in people}
        ana_auth = auth_of[people[0][0]]
        gus_auth = auth_of[people[5][0]]

        # Ana indexes Acme's documents; Gus indexes Globex's, with a near-identical text.
        await backend.write(
            ana_auth,
            list(docs),
            [embed(text) for _, text in docs.values()],
            [str(ids[name]) for name in docs],
            [text for _, text in docs.values()],
        )
        globex_text = "quarterly revenue forecast for Globex"
        await backend.write(
            gus_auth, ["globex-forecast"], [embed(globex_text)], [str(globex_doc)], [globex_text]
        )

        columns = [*docs, "globex-forecast"]
        print(f'Query: "{QUERY}" (top 10), one {backend_name} collection, 5 chunks\n')
        header = f"{'who':<34}" + "".join(f"{c:>17}" for c in columns)
        print(header)
        print("-" * len(header))
        for name, _, _ in people:
            seen = set(await backend.search(auth_of[name], embed(QUERY), 10))
            print(f"{name:<34}" + "".join(f"{'sees' if c in seen else '-':>17}" for c in columns))

        print("\nThe same query on the bare collection, with no tenancy filter, starts with:")
        print(f"  {backend.raw_search(embed(QUERY), 3)}  <- Globex's text leaks into Acme")

        print("\nA write that forges another workspace is refused, and nothing is written:")
        before = backend.raw_count()
        try:
            await backend.write(
                ana_auth,
                ["planted"],
                [embed(QUERY)],
                [str(ids["team-wiki"])],
                ["planted into Globex"],
                extra={"workspace_id": str(ws_globex)},
            )
        except ReservedKeyError as exc:
            print(f"  ReservedKeyError: {exc}")
        print(f"  chunks before: {before}, after: {backend.raw_count()}")
        await perms.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Who sees what, on an embedded vector store.")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="chroma")
    asyncio.run(main(parser.parse_args().backend))
