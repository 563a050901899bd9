"""FastAPI: each retriever with one ``Depends(...)``, behind the SDK's ``JWTAuthMiddleware``.

The app installs the example corpus's store in ``VectorStores``; the dependencies build
a retriever per request from the SDK's ``RequestAuth`` (the default ``request_auth``).

No ``from __future__ import annotations`` here: the routes' ``Annotated`` aliases are
local to ``build_app``, and FastAPI resolves string annotations in module globals only.
"""

from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI
from sentinel_auth.middleware import JWTAuthMiddleware

from sentinel_vectors.embedders import StaticModelEmbedder
from sentinel_vectors.fastapi import VectorStores, add_exception_handlers
from sentinel_vectors_langchain import ScopedRetriever as LangChainRetriever
from sentinel_vectors_langchain.fastapi import scoped_retriever as langchain_retriever
from sentinel_vectors_llamaindex import ScopedRetriever as LlamaIndexRetriever
from sentinel_vectors_llamaindex.fastapi import scoped_retriever as llamaindex_retriever
from tests.rag.conftest import World

SALARY = "What are the salary bands for engineers?"


def build_app(world: World, embedder: StaticModelEmbedder) -> FastAPI:
    app = FastAPI()
    stores = VectorStores(world.permissions)
    stores.add("documents", world.store.backend)
    stores.install(app)
    app.add_middleware(JWTAuthMiddleware, public_key=world.running.keys.public_pem)
    add_exception_handlers(app)
    LangChain = Annotated[
        LangChainRetriever, Depends(langchain_retriever("documents", embeddings=embedder, k=3))
    ]
    LlamaIndex = Annotated[
        LlamaIndexRetriever, Depends(llamaindex_retriever("documents", embeddings=embedder, k=3))
    ]

    @app.get("/langchain")
    async def search_langchain(q: str, retriever: LangChain) -> dict[str, Any]:
        docs = await retriever.ainvoke(q)
        return {"results": [{"resource_id": d.metadata["resource_id"]} for d in docs]}

    @app.get("/langchain-sync")
    def search_langchain_sync(q: str, retriever: LangChain) -> dict[str, Any]:
        # A def route runs in a worker thread of the loop: sync invoke reaches the loop.
        docs = retriever.invoke(q)
        return {"results": [{"resource_id": d.metadata["resource_id"]} for d in docs]}

    @app.get("/llamaindex")
    async def search_llamaindex(q: str, retriever: LlamaIndex) -> dict[str, Any]:
        nodes = await retriever.aretrieve(q)
        return {"results": [{"resource_id": n.node.ref_doc_id} for n in nodes]}

    return app


async def test_one_depends_gives_each_request_its_users_retriever(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    world = chroma_world
    salary = next(d.resource_id for d in world.corpus.documents if d.key == "acme/salary-bands")
    app = build_app(world, embedder)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rag.test") as http:
        for name in ("bob", "carol", "erin"):
            _, token = world.credentials(name)
            headers = {"Authorization": f"Bearer {token}"}
            for path in ("/langchain", "/langchain-sync", "/llamaindex"):
                r = await http.get(path, params={"q": SALARY}, headers=headers)
                assert r.status_code == 200, r.text
                found = {hit["resource_id"] for hit in r.json()["results"]}
                assert len(r.json()["results"]) == 3
                assert found <= world.may_view(name), (name, path)
                assert (salary in found) == (name == "carol"), (name, path)
        r = await http.get("/langchain", params={"q": SALARY})
        assert r.status_code == 401
