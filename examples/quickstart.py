"""Who sees what: one query, six users, two workspaces, one Chroma collection.

Runs fully offline on embedded defaults: Chroma's PersistentClient in a temp dir and the
test kit's Sentinel permission-service emulator on a local port, with real RS256 tokens
and the SDK's real ``PermissionClient`` and ``RequestAuth``.

    python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import uuid

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


async def main() -> None:
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
        _, ana, ana_token = people[0]
        _, val, _ = people[3]
        _, gus, gus_token = people[5]

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

        client = chromadb.PersistentClient(path=data)
        collection = client.create_collection("docs", embedding_function=None)

        # Ana indexes Acme's documents; Gus indexes Globex's, with a near-identical text.
        ana_docs = ScopedCollection(
            collection, request_auth(ana, ana_token, perms), resource_type="document"
        )
        await ana_docs.add(
            ids=list(docs),
            embeddings=[embed(text) for _, text in docs.values()],
            metadatas=[{"resource_id": str(ids[name])} for name in docs],
            documents=[text for _, text in docs.values()],
        )
        gus_docs = ScopedCollection(
            collection, request_auth(gus, gus_token, perms), resource_type="document"
        )
        await gus_docs.add(
            ids=["globex-forecast"],
            embeddings=[embed("quarterly revenue forecast for Globex")],
            metadatas=[{"resource_id": str(globex_doc)}],
            documents=["quarterly revenue forecast for Globex"],
        )

        columns = [*docs, "globex-forecast"]
        print(f'Query: "{QUERY}" (top 10), one Chroma collection, {collection.count()} chunks\n')
        header = f"{'who':<34}" + "".join(f"{c:>17}" for c in columns)
        print(header)
        print("-" * len(header))
        for name, user, token in people:
            scoped = ScopedCollection(
                collection, request_auth(user, token, perms), resource_type="document"
            )
            hits = await scoped.query(query_embeddings=[embed(QUERY)], n_results=10)
            seen = set(hits["ids"][0])
            print(f"{name:<34}" + "".join(f"{'sees' if c in seen else '-':>17}" for c in columns))

        raw = collection.query(query_embeddings=[embed(QUERY)], n_results=3)
        print("\nThe same query on the bare collection, with no tenancy filter, starts with:")
        print(f"  {[doc for doc in raw['documents'][0]]}  <- Globex's text leaks into Acme")

        print("\nA write that forges another workspace is refused, and nothing is written:")
        before = collection.count()
        try:
            await ana_docs.add(
                ids=["planted"],
                embeddings=[embed(QUERY)],
                metadatas=[{"resource_id": str(ids["team-wiki"]), "workspace_id": str(ws_globex)}],
                documents=["planted into Globex"],
            )
        except ReservedKeyError as exc:
            print(f"  ReservedKeyError: {exc}")
        print(f"  chunks before: {before}, after: {collection.count()}")
        await perms.close()


if __name__ == "__main__":
    asyncio.run(main())
