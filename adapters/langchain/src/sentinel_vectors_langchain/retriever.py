"""LangChain ``BaseRetriever`` over one caller's scoped chunk index (any backend)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.binding import StoreBackend
from sentinel_vectors.embedders import Embeddings
from sentinel_vectors.index import ChunkIndex
from sentinel_vectors.retrieval import (
    Passage,
    Relevance,
    ScopedRetrieval,
    call_blocking,
    cosine_relevance,
)

__all__ = ["ScopedRetriever", "to_document"]


def to_document(passage: Passage) -> Document:
    """A LangChain ``Document`` of a passage: ``id`` is the chunk id, and ``metadata``
    carries ``resource_id``, ``chunk_id``, ``score`` and ``distance`` for citations."""
    return Document(page_content=passage.text, metadata=dict(passage.metadata), id=passage.chunk_id)


class ScopedRetriever(BaseRetriever):
    """A LangChain retriever that returns only chunks the caller may view.

    Build one per request from the request's auth (never share one between users)::

        retriever = ScopedRetriever.from_backend(backend, request_auth, embeddings=emb, k=4)
        docs = await retriever.ainvoke("how do refunds work?")

    or in a FastAPI route with ``Depends(scoped_retriever("documents", embeddings=emb))``
    (:mod:`sentinel_vectors_langchain.fastapi`). Every search goes through the caller's
    :class:`~sentinel_vectors.index.ChunkIndex`, so the workspace filter and Sentinel's
    ``accessible()`` constraint apply on Chroma, Qdrant and pgvector alike.

    Attributes:
        index: the caller's chunk index (``backend.index(auth)``).
        embeddings: the query embedder (the model the chunks were embedded with).
        k: how many chunks to fetch.
        filter: a caller filter (``sentinel_vectors.filters`` node or a ``where`` dict),
            ANDed under the scope: it only narrows.
        score_threshold: drop documents whose ``score`` is below it.
        relevance: distance to score (default ``1 - distance``: cosine similarity on a
            cosine collection).
        portal, loop_token: how sync ``invoke`` reaches the event loop that owns the
            permission client (see :func:`sentinel_vectors.retrieval.call_blocking`).
            ``ainvoke`` needs neither.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    embeddings: Any
    k: int = 4
    filter: Any = None
    score_threshold: float | None = None
    relevance: Relevance = cosine_relevance
    # anyio.from_thread.BlockingPortal | None and anyio.lowlevel.EventLoopToken | None;
    # typed Any because pydantic cannot build validators for them.
    portal: Any = None
    loop_token: Any = None

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self.retrieval()  # validate now: the suite's errors, not a pydantic wrapper

    @classmethod
    def from_backend(
        cls,
        backend: StoreBackend[Any],
        auth: AuthContext,
        *,
        embeddings: Embeddings,
        **options: Any,
    ) -> ScopedRetriever:
        """The retriever of ``auth`` over a backend binding (Chroma, Qdrant, pgvector)."""
        return cls(index=backend.index(auth), embeddings=embeddings, **options)

    def retrieval(self) -> ScopedRetrieval:
        """The framework-neutral retrieval with this retriever's current settings."""
        index: ChunkIndex = self.index
        return ScopedRetrieval(
            index,
            self.embeddings,
            k=self.k,
            filter=self.filter,
            score_threshold=self.score_threshold,
            relevance=self.relevance,
        )

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        passages = await self.retrieval().retrieve(query)
        return [to_document(p) for p in passages]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        retrieval = self.retrieval()

        async def search() -> list[Passage]:
            return await retrieval.retrieve(query)

        passages = call_blocking(
            search,
            portal=self.portal,
            loop_token=self.loop_token,
            what="ScopedRetriever.invoke",
            use_async="ainvoke",
        )
        return [to_document(p) for p in passages]
