"""FastAPI: a LlamaIndex retriever scoped to the request with one ``Depends(...)``.

Builds on :mod:`sentinel_vectors.fastapi`: the store named ``name`` in the app's
``VectorStores`` and the request's ``RequestAuth`` (its ``request_auth`` dependency by
default, or yours: ``Sentinel.get_auth``)::

    retrieve = scoped_retriever("documents", embeddings=StaticModelEmbedder(), k=4)

    @app.get("/ask")
    async def ask(q: str, retriever: ScopedRetriever = Depends(retrieve)):
        engine = RetrieverQueryEngine.from_args(retriever, llm=llm)
        return str(await engine.aquery(q))
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from sentinel_vectors.embedders import Embeddings
from sentinel_vectors.fastapi import request_auth
from sentinel_vectors.fastapi.stores import from_scoped_index
from sentinel_vectors.filters import Filter
from sentinel_vectors.retrieval import Relevance, check_options, cosine_relevance
from sentinel_vectors_llamaindex.retriever import LlamaIndexEmbeddings, ScopedRetriever

__all__ = ["scoped_retriever"]


def scoped_retriever(
    name: str,
    *,
    embeddings: Embeddings | BaseEmbedding,
    k: int = 4,
    filter: Filter | Mapping[str, Any] | None = None,
    score_threshold: float | None = None,
    relevance: Relevance = cosine_relevance,
    auth: Callable[..., Any] = request_auth,
) -> Callable[..., Awaitable[ScopedRetriever]]:
    """Dependency: a :class:`ScopedRetriever` over store ``name`` for this request.

    The settings are checked here, at start-up, not on the first request.
    """
    embedder: Embeddings = (
        LlamaIndexEmbeddings(embeddings) if isinstance(embeddings, BaseEmbedding) else embeddings
    )
    check_options(
        embedder, k=k, filter=filter, score_threshold=score_threshold, relevance=relevance
    )
    return from_scoped_index(
        name,
        lambda index: ScopedRetriever(
            index,
            embedder,
            k=k,
            filter=filter,
            score_threshold=score_threshold,
            relevance=relevance,
        ),
        auth=auth,
        kind="scoped_retriever",
    )
