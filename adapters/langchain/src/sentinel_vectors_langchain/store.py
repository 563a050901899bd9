"""A LangChain ``VectorStore`` scoped to one caller, over any backend binding."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings as LCEmbeddings
from langchain_core.vectorstores import VectorStore

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.embedders import Embeddings, aembed_documents, aembed_query
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.records import (
    Record,
    RecordBackend,
    RecordStore,
    mmr,
    records_of,
    shown_metadata,
    stored_metadata,
)
from sentinel_vectors.retrieval import (
    Relevance,
    as_filter,
    call_blocking,
    check_store_options,
    cosine_relevance,
)

__all__ = ["SentinelVectorStore"]

T = TypeVar("T")

_SEARCH_OPTIONS = frozenset({"filter"})


class SentinelVectorStore(VectorStore):
    """A LangChain ``VectorStore`` that reads only what the caller may view and writes
    only what it may edit, on Chroma, Qdrant or pgvector.

    Build one per request from the request's auth (it holds the caller's scope; never
    share one between users)::

        store = SentinelVectorStore.from_backend(backend, request_auth, embeddings=emb)
        await store.aadd_documents(
            [Document(page_content=text, metadata={"resource_id": str(doc_id)})]
        )
        docs = await store.asimilarity_search("refunds", k=4, filter={"topic": "billing"})

    Every call goes through the backend's scoped wrapper (``backend.records(auth)``):
    written records are stamped with the caller's workspace and owner and need edit
    access to their resource; reads, deletes and ``get_by_ids`` see only what the
    caller may view, and records it may not view behave as absent.

    Args:
        records: the caller's :class:`~sentinel_vectors.records.RecordStore`
            (``backend.records(auth)``; :meth:`from_backend` builds it).
        embeddings: the embedding model (any LangChain ``Embeddings``), as the native
            stores take it.
        resource_id: the Sentinel resource of documents whose metadata names none
            (a store bound to one document). Without it, a document without the
            resource key in its metadata is refused with
            :class:`~sentinel_vectors.errors.MissingResourceError`, nothing written.
            Documents read back do not show the bound resource id.
        relevance: distance to relevance score, for ``similarity_search_with_relevance_scores``
            and the ``similarity_score_threshold`` retriever (default ``1 - distance``,
            the cosine similarity on a cosine collection).
        portal, loop_token: how the sync methods reach the event loop that owns the
            permission client (see :func:`sentinel_vectors.retrieval.call_blocking`);
            the async methods need neither.

    Scores. ``similarity_search_with_score`` returns the backend's *distance* (smaller
    is closer), as langchain-chroma and langchain-postgres do.

    Filters are LangChain's dict filters in the Chroma/Mongo style (``{"topic":
    "billing"}``, ``{"$and": [...]}``, ``$eq``, ``$ne``, ``$in``, ``$nin``, ``$gt``,
    ...) or :mod:`sentinel_vectors.filters` nodes, ANDed under the scope. A filter on
    ``workspace_id``, ``owner_id`` or the resource key is refused
    (:class:`~sentinel_vectors.errors.ReservedKeyError`).
    """

    def __init__(
        self,
        records: RecordStore,
        embeddings: Embeddings | LCEmbeddings,
        *,
        resource_id: str | uuid.UUID | None = None,
        relevance: Relevance = cosine_relevance,
        portal: Any = None,
        loop_token: Any = None,
    ) -> None:
        self.resource_id = check_store_options(
            records, resource_id=resource_id, relevance=relevance, embeddings=embeddings
        )
        self.records = records
        self._embeddings = embeddings
        self.relevance = relevance
        self.portal = portal
        self.loop_token = loop_token

    @classmethod
    def from_backend(
        cls,
        backend: RecordBackend,
        auth: AuthContext,
        *,
        embeddings: Embeddings | LCEmbeddings,
        **options: Any,
    ) -> SentinelVectorStore:
        """The store of ``auth`` over a backend binding (Chroma, Qdrant, pgvector)."""
        return cls(records_of(backend, auth), embeddings, **options)

    def __repr__(self) -> str:
        return (
            f"SentinelVectorStore(scope={self.records.scope!r}, resource_id={self.resource_id!r})"
        )

    @property
    def embeddings(self) -> LCEmbeddings | None:
        """The embedding model."""
        return self._embeddings  # type: ignore[return-value]  # the protocol is LangChain's shape

    # -- writes -----------------------------------------------------------------------

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and upsert texts; returns their ids (new UUIDs where none are given).

        Each metadata names its resource under the resource key (or the store's
        ``resource_id`` fills it in). Everything is checked before anything is
        written; replacing a stored record needs edit access to it.
        """
        _no_options(kwargs, {"batch_size"}, "add_texts")
        items = list(texts)
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a list of strings, not one string")
        if metadatas is not None and len(metadatas) != len(items):
            raise InvalidInputError("metadatas must be as many as the texts")
        if ids is not None and len(ids) != len(items):
            raise InvalidInputError("ids must be as many as the texts")
        record_ids = [
            i if i else str(uuid.uuid4()) for i in (ids if ids is not None else [None] * len(items))
        ]
        scope = self.records.scope
        metas = [
            stored_metadata(metadatas[n] if metadatas else None, scope, self.resource_id)
            for n in range(len(items))
        ]
        if not items:
            return []
        vectors = await aembed_documents(self._embeddings, items)
        await self.records.put(record_ids, items, vectors, metas)
        return record_ids

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Sync :meth:`aadd_texts`."""
        items = list(texts)
        return self._blocking(lambda: self.aadd_texts(items, metadatas, ids=ids, **kwargs))

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete records by id; ``True`` when done.

        Records the caller may not view are treated as absent (left untouched); one it
        may view but not edit raises :class:`~sentinel_vectors.errors.AccessDeniedError`
        and nothing is deleted. ``ids=None`` ("delete everything") is refused: a scoped
        store deletes what it names.
        """
        _no_options(kwargs, set(), "delete")
        if ids is None:
            raise InvalidInputError(
                "delete() needs ids: a scoped store does not delete everything it can reach"
            )
        await self.records.delete(list(ids))
        return True

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Sync :meth:`adelete`."""
        return self._blocking(lambda: self.adelete(ids, **kwargs))

    # -- reads ------------------------------------------------------------------------

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The named documents the caller may view; the others are absent."""
        return [self._document(r) for r in await self.records.get(list(ids))]

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Sync :meth:`aget_by_ids`."""
        return self._blocking(lambda: self.aget_by_ids(ids))

    async def asimilarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` nearest documents the caller may view, with their distances."""
        _no_options(kwargs, _SEARCH_OPTIONS, "similarity_search")
        if not any(embedding):
            return []  # the zero vector (an empty query) matches nothing
        found = await self.records.search(embedding, k, filter=as_filter(kwargs.get("filter")))
        return [(self._document(r), float(r.distance or 0.0)) for r in found]

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` nearest documents to ``query`` the caller may view, with distances."""
        vector = await aembed_query(self._embeddings, query)
        return await self.asimilarity_search_with_score_by_vector(vector, k, **kwargs)

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` nearest documents to ``embedding`` the caller may view."""
        pairs = await self.asimilarity_search_with_score_by_vector(embedding, k, **kwargs)
        return [doc for doc, _ in pairs]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` nearest documents to ``query`` the caller may view."""
        pairs = await self.asimilarity_search_with_score(query, k, **kwargs)
        return [doc for doc, _ in pairs]

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR among the ``fetch_k`` nearest documents the caller may view."""
        _no_options(kwargs, _SEARCH_OPTIONS, "max_marginal_relevance_search")
        if not any(embedding):
            return []
        found = await self.records.search(
            embedding,
            max(k, fetch_k),
            filter=as_filter(kwargs.get("filter")),
            with_embeddings=True,
        )
        chosen = mmr(embedding, [r.embedding or [] for r in found], k, lambda_mult)
        return [self._document(found[i]) for i in chosen]

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR for ``query`` among the caller's ``fetch_k`` nearest documents."""
        vector = await aembed_query(self._embeddings, query)
        return await self.amax_marginal_relevance_search_by_vector(
            vector, k, fetch_k, lambda_mult, **kwargs
        )

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Sync :meth:`asimilarity_search_with_score_by_vector`."""
        return self._blocking(
            lambda: self.asimilarity_search_with_score_by_vector(embedding, k, **kwargs)
        )

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Sync :meth:`asimilarity_search_with_score`."""
        return self._blocking(lambda: self.asimilarity_search_with_score(query, k, **kwargs))

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """Sync :meth:`asimilarity_search_by_vector`."""
        return self._blocking(lambda: self.asimilarity_search_by_vector(embedding, k, **kwargs))

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Sync :meth:`asimilarity_search`."""
        return self._blocking(lambda: self.asimilarity_search(query, k, **kwargs))

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """Sync :meth:`amax_marginal_relevance_search_by_vector`."""
        return self._blocking(
            lambda: self.amax_marginal_relevance_search_by_vector(
                embedding, k, fetch_k, lambda_mult, **kwargs
            )
        )

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """Sync :meth:`amax_marginal_relevance_search`."""
        return self._blocking(
            lambda: self.amax_marginal_relevance_search(query, k, fetch_k, lambda_mult, **kwargs)
        )

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return self.relevance

    # -- construction from texts ----------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: LCEmbeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> SentinelVectorStore:
        """A store over ``backend=`` for ``auth=`` (both required), with ``texts`` added."""
        store = cls._from_kwargs(embedding, kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: LCEmbeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> SentinelVectorStore:
        """Async :meth:`from_texts`."""
        store = cls._from_kwargs(embedding, kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def _from_kwargs(cls, embedding: LCEmbeddings, kwargs: dict[str, Any]) -> SentinelVectorStore:
        backend, auth = kwargs.pop("backend", None), kwargs.pop("auth", None)
        if backend is None or auth is None:
            raise InvalidInputError("from_texts() needs backend= and auth= (the caller's)")
        return cls.from_backend(backend, auth, embeddings=embedding, **kwargs)

    # -- helpers ----------------------------------------------------------------------

    def _document(self, record: Record) -> Document:
        metadata = shown_metadata(record.metadata, self.records.scope, self.resource_id)
        return Document(page_content=record.text, metadata=metadata, id=record.id)

    def _blocking(self, fn: Callable[[], Awaitable[T]]) -> T:
        return call_blocking(
            fn,
            portal=self.portal,
            loop_token=self.loop_token,
            what="SentinelVectorStore",
            use_async="the a-prefixed method",
        )


def _no_options(kwargs: dict[str, Any], allowed: set[str] | frozenset[str], what: str) -> None:
    unknown = set(kwargs) - allowed
    if unknown:
        raise InvalidInputError(f"{what}() got unsupported options {sorted(unknown)}")
