"""LlamaIndex ``BaseRetriever`` over one caller's scoped chunk index (any backend)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio.from_thread
from anyio.lowlevel import EventLoopToken
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from pydantic import ConfigDict

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.binding import StoreBackend
from sentinel_vectors.embedders import Embeddings, aembed_documents, aembed_query
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter
from sentinel_vectors.index import ChunkIndex
from sentinel_vectors.retrieval import (
    INTERNAL_KEYS,
    SCORE_KEY,
    Passage,
    Relevance,
    ScopedRetrieval,
    call_blocking,
    cosine_relevance,
)

__all__ = ["EmbeddingModel", "LlamaIndexEmbeddings", "ScopedRetriever", "to_node"]

_HIDDEN = sorted(INTERNAL_KEYS | {SCORE_KEY})


def to_node(passage: Passage) -> NodeWithScore:
    """A ``NodeWithScore`` of a passage.

    The node's id is the chunk id, its source (``ref_doc_id``) the resource id, and its
    metadata carries ``resource_id``, ``chunk_id``, ``score`` and ``distance``. Tenancy
    and bookkeeping keys stay in the metadata but out of the LLM's and the embedder's
    view of the node; ``resource_id`` and ``chunk_id`` stay visible, to cite.
    """
    node = TextNode(
        id_=passage.chunk_id,
        text=passage.text,
        metadata=dict(passage.metadata),
        excluded_llm_metadata_keys=list(_HIDDEN),
        excluded_embed_metadata_keys=list(_HIDDEN),
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=passage.resource_id)},
    )
    return NodeWithScore(node=node, score=passage.score)


class LlamaIndexEmbeddings:
    """A LlamaIndex ``BaseEmbedding`` seen as :class:`~sentinel_vectors.embedders.Embeddings`."""

    def __init__(self, model: BaseEmbedding) -> None:
        self.model = model

    def __repr__(self) -> str:
        return f"LlamaIndexEmbeddings({self.model.model_name!r})"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The model's text embeddings."""
        return [list(v) for v in self.model.get_text_embedding_batch(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        """The model's query embedding."""
        return list(self.model.get_query_embedding(text))

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """The model's text embeddings (async)."""
        return [list(v) for v in await self.model.aget_text_embedding_batch(list(texts))]

    async def aembed_query(self, text: str) -> list[float]:
        """The model's query embedding (async)."""
        return list(await self.model.aget_query_embedding(text))


class EmbeddingModel(BaseEmbedding):
    """An :class:`~sentinel_vectors.embedders.Embeddings` (the offline
    ``StaticModelEmbedder``, a LangChain model, ...) as a LlamaIndex ``BaseEmbedding``,
    for ``VectorStoreIndex(embed_model=...)`` and ingestion pipelines."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    embeddings: Any = None

    def __init__(self, embeddings: Embeddings, **kwargs: Any) -> None:
        if not isinstance(embeddings, Embeddings):
            raise InvalidInputError(
                f"embeddings must have embed_documents() and embed_query(), "
                f"got {type(embeddings).__name__}"
            )
        fields: dict[str, Any] = {"embeddings": embeddings, "model_name": repr(embeddings)}
        super().__init__(**fields, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's component name."""
        return "SentinelVectorsEmbeddingModel"

    def _get_query_embedding(self, query: str) -> list[float]:
        return list(self.embeddings.embed_query(query))

    def _get_text_embedding(self, text: str) -> list[float]:
        return list(self.embeddings.embed_documents([text])[0])

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self.embeddings.embed_documents(list(texts))]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await aembed_query(self.embeddings, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await aembed_documents(self.embeddings, [text]))[0]


class ScopedRetriever(BaseRetriever):
    """A LlamaIndex retriever that returns only chunks the caller may view.

    Build one per request from the request's auth (never share one between users)::

        retriever = ScopedRetriever.from_backend(backend, request_auth, embeddings=emb, k=4)
        engine = RetrieverQueryEngine.from_args(retriever, llm=llm)
        answer = await engine.aquery("how do refunds work?")

    or in a FastAPI route with ``Depends(scoped_retriever("documents", embeddings=emb))``
    (:mod:`sentinel_vectors_llamaindex.fastapi`). Every search goes through the caller's
    :class:`~sentinel_vectors.index.ChunkIndex`, so the workspace filter and Sentinel's
    ``accessible()`` constraint apply on Chroma, Qdrant and pgvector alike.

    Args:
        index: the caller's chunk index (``backend.index(auth)``).
        embeddings: the query embedder (the model the chunks were embedded with): an
            :class:`~sentinel_vectors.embedders.Embeddings` or a LlamaIndex
            ``BaseEmbedding``. The query bundle's ``embedding_strs`` are embedded with it
            and averaged (LlamaIndex's own rule); a precomputed ``QueryBundle.embedding``
            is ignored, since another model may have made it.
        k: how many chunks to fetch (LlamaIndex's ``similarity_top_k``).
        filter: a caller filter (``sentinel_vectors.filters`` node or a ``where`` dict),
            ANDed under the scope: it only narrows.
        score_threshold: drop nodes whose score is below it.
        relevance: distance to score (default ``1 - distance``: cosine similarity on a
            cosine collection).
        portal, loop_token: how sync ``retrieve`` / ``query`` reach the event loop that
            owns the permission client (see
            :func:`sentinel_vectors.retrieval.call_blocking`). ``aretrieve`` / ``aquery``
            need neither.
    """

    def __init__(
        self,
        index: ChunkIndex,
        embeddings: Embeddings | BaseEmbedding,
        *,
        k: int = 4,
        filter: Filter | Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
        relevance: Relevance = cosine_relevance,
        portal: anyio.from_thread.BlockingPortal | None = None,
        loop_token: EventLoopToken | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        embedder: Embeddings = (
            LlamaIndexEmbeddings(embeddings)
            if isinstance(embeddings, BaseEmbedding)
            else embeddings
        )
        self.retrieval = ScopedRetrieval(
            index,
            embedder,
            k=k,
            filter=filter,
            score_threshold=score_threshold,
            relevance=relevance,
        )
        self.portal = portal
        self.loop_token = loop_token
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def __repr__(self) -> str:
        return f"ScopedRetriever({self.retrieval!r})"

    @classmethod
    def from_backend(
        cls,
        backend: StoreBackend[Any],
        auth: AuthContext,
        *,
        embeddings: Embeddings | BaseEmbedding,
        **options: Any,
    ) -> ScopedRetriever:
        """The retriever of ``auth`` over a backend binding (Chroma, Qdrant, pgvector)."""
        return cls(backend.index(auth), embeddings, **options)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        texts = query_bundle.embedding_strs
        if not texts:
            return []
        embedder = self.retrieval.embeddings
        vectors = [await aembed_query(embedder, text) for text in texts]
        vector = [sum(column) / len(vectors) for column in zip(*vectors, strict=True)]
        passages = await self.retrieval.retrieve_by_vector(vector)
        return [to_node(p) for p in passages]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        async def search() -> list[NodeWithScore]:
            return await self._aretrieve(query_bundle)

        return call_blocking(
            search,
            portal=self.portal,
            loop_token=self.loop_token,
            what="ScopedRetriever.retrieve",
            use_async="aretrieve (or aquery)",
        )
