"""Framework-neutral retrieval over a scoped chunk index: what the RAG plug-ins share.

:class:`ScopedRetrieval` turns a query text into citation-ready :class:`Passage` objects:
it embeds the query, searches the caller's :class:`~sentinel_vectors.index.ChunkIndex`
(so the workspace filter and Sentinel's ``accessible()`` constraint apply, on any
backend), ANDs an optional caller filter under the scope, and drops hits below a score
threshold. The LangChain and LlamaIndex retrievers (``sentinel_vectors_langchain``,
``sentinel_vectors_llamaindex``) are thin shells that turn passages into their
framework's documents and nodes.

Scores. Backends report distances (smaller is closer); RAG frameworks expect scores
(larger is closer). ``relevance`` maps one to the other; the default,
:func:`cosine_relevance` (``1 - distance``), is the cosine similarity on a cosine
collection (Chroma ``hnsw:space=cosine``, Qdrant ``Distance.COSINE``, pgvector
``distance="cosine"``), the right setting for text embeddings. For another metric pass
your own function; ``score_threshold`` applies to the score.

Sync callers. The chunk index is async, and Sentinel's ``RequestAuth`` talks to the
permission service on the event loop that owns its HTTP client. :func:`call_blocking`
is how the plug-ins' sync entry points (LangChain ``invoke``, LlamaIndex ``retrieve``)
reach that loop, with the rules of ``SyncScopedVectorStore``:

- on an event loop thread it refuses: it would block the very loop that must answer
  (await the async entry point, ``ainvoke`` / ``aretrieve`` / ``aquery``, instead);
- with ``portal`` (an ``anyio.from_thread.BlockingPortal``) it runs there: the way for
  a plain script, whose permission client then lives on the portal's loop;
- with ``loop_token`` (``anyio.lowlevel.current_token()`` taken on the request's loop)
  it runs on that loop from any other thread, e.g. the thread pool LangChain uses for
  the branches of a sync ``RunnableParallel``;
- otherwise from a worker thread of the loop (a FastAPI ``def`` route,
  ``anyio.to_thread.run_sync``) it runs on that loop;
- anywhere else it refuses rather than start a fresh loop per call (that would strand
  the permission client's pooled connections on a dead loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sentinel_vectors import filters as F
from sentinel_vectors.drive import call_blocking
from sentinel_vectors.embedders import Embeddings, aembed_query
from sentinel_vectors.errors import FilterError, InvalidInputError
from sentinel_vectors.index import CHUNK_INDEX_KEY, CHUNK_OF_KEY, ChunkIndex, Hit
from sentinel_vectors.records import RecordStore
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, canonical_uuid
from sentinel_vectors.validation import check_positive_int

__all__ = [
    "CHUNK_ID_KEY",
    "CITATION_KEYS",
    "DISTANCE_KEY",
    "INTERNAL_KEYS",
    "RESOURCE_ID_KEY",
    "SCORE_KEY",
    "Passage",
    "Relevance",
    "ScopedRetrieval",
    "as_filter",
    "call_blocking",
    "check_embeddings",
    "check_options",
    "check_store_options",
    "cosine_relevance",
]

Relevance = Callable[[float], float]
"""Maps a backend distance (smaller is closer) to a score (larger is closer)."""

RESOURCE_ID_KEY = "resource_id"
"""Document metadata key of the resource (document) a passage belongs to."""
CHUNK_ID_KEY = "chunk_id"
"""Document metadata key of the chunk's record id."""
SCORE_KEY = "score"
"""Document metadata key of the passage's score (see ``relevance``)."""
DISTANCE_KEY = "distance"
"""Document metadata key of the backend's raw distance."""
CITATION_KEYS = (RESOURCE_ID_KEY, CHUNK_ID_KEY, SCORE_KEY, DISTANCE_KEY)
"""The keys every retrieved document's metadata carries, set by the retriever."""


def cosine_relevance(distance: float) -> float:
    """``1 - distance``: the cosine similarity when ``distance`` is a cosine distance."""
    return 1.0 - distance


INTERNAL_KEYS = frozenset({WORKSPACE_KEY, OWNER_KEY, CHUNK_OF_KEY, CHUNK_INDEX_KEY, DISTANCE_KEY})
"""Metadata keys that are bookkeeping rather than content (kept out of LLM prompts)."""


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved chunk, with what a citation needs.

    ``metadata`` is the chunk's stored metadata (the caller's keys, the tenancy and
    bookkeeping keys) plus :data:`CITATION_KEYS`.
    """

    chunk_id: str
    resource_id: str
    text: str
    score: float
    distance: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


def as_filter(value: object) -> F.Filter | None:
    """A caller filter from ``None``, a neutral :mod:`~sentinel_vectors.filters` node, or a
    Chroma/Mongo-style ``where`` dict (parsed by :func:`~sentinel_vectors.filters.parse_where`).
    """
    if value is None:
        return None
    if isinstance(value, F.Comparison | F.Membership | F.And | F.Or | F.Not):
        return value
    if isinstance(value, Mapping):
        return F.parse_where(value)
    raise FilterError(
        f"filter must be a sentinel_vectors.filters node or a where dict, "
        f"got {type(value).__name__}"
    )


def check_embeddings(embeddings: object) -> None:
    """:class:`~sentinel_vectors.errors.InvalidInputError` unless ``embeddings`` is an
    embedder (``embed_documents()`` and ``embed_query()``)."""
    if not isinstance(embeddings, Embeddings):
        raise InvalidInputError(
            f"embeddings must have embed_documents() and embed_query(), "
            f"got {type(embeddings).__name__}"
        )


_NO_EMBEDDINGS: Any = object()  # check_store_options: the store takes no embedder


def check_store_options(
    records: object,
    *,
    resource_id: object,
    relevance: object,
    embeddings: object = _NO_EMBEDDINGS,
) -> str | None:
    """Validate a framework vector store's settings; returns ``resource_id``, canonical.

    What the LangChain and LlamaIndex ``SentinelVectorStore`` constructors share, checked
    in this order: ``records`` is a :class:`~sentinel_vectors.records.RecordStore`, the
    embedder (when the store takes one) has ``embed_documents()`` and ``embed_query()``,
    ``relevance`` is callable, and ``resource_id`` (``None``: none bound) is a UUID.
    Raises :class:`~sentinel_vectors.errors.InvalidInputError`.
    """
    if not isinstance(records, RecordStore):
        raise InvalidInputError(
            f"records must be a RecordStore (a backend binding's records(auth)), "
            f"got {type(records).__name__}"
        )
    if embeddings is not _NO_EMBEDDINGS:
        check_embeddings(embeddings)
    if not callable(relevance):
        raise InvalidInputError("relevance must be a function of the distance")
    return None if resource_id is None else canonical_uuid(resource_id, what="resource_id")


def check_options(
    embeddings: object,
    *,
    k: object,
    filter: object,
    score_threshold: object,
    relevance: object,
) -> F.Filter | None:
    """Validate retrieval settings (see :class:`ScopedRetrieval`); returns the filter as a
    neutral node. Raises :class:`~sentinel_vectors.errors.InvalidInputError`."""
    check_embeddings(embeddings)
    check_positive_int(k, what="k")
    if score_threshold is not None and (
        isinstance(score_threshold, bool)
        or not isinstance(score_threshold, int | float)
        or not math.isfinite(score_threshold)
    ):
        raise InvalidInputError(
            f"score_threshold must be a finite number or None, got {score_threshold!r}"
        )
    if not callable(relevance):
        raise InvalidInputError("relevance must be a function of the distance")
    return as_filter(filter)


class ScopedRetrieval:
    """Query text in, citation-ready passages out, through one caller's chunk index.

    Args:
        index: the caller's :class:`~sentinel_vectors.index.ChunkIndex` (from a backend
            binding's ``index(auth)``, or ``Depends(scoped_index(...))``).
        embeddings: the query embedder; it must be the model the chunks were embedded
            with (an :class:`~sentinel_vectors.embedders.Embeddings`, e.g. a LangChain one).
        k: how many chunks to ask the index for.
        filter: the caller's filter (neutral node or ``where`` dict); ANDed under the
            scope, so it only narrows. Naming a tenancy key is refused by the store.
        score_threshold: drop passages whose score is below it (``None``: keep all ``k``).
        relevance: distance to score (default :func:`cosine_relevance`).
    """

    def __init__(
        self,
        index: ChunkIndex,
        embeddings: Embeddings,
        *,
        k: int = 4,
        filter: F.Filter | Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
        relevance: Relevance = cosine_relevance,
    ) -> None:
        if not isinstance(index, ChunkIndex):
            raise InvalidInputError(
                f"index must be a ChunkIndex (a backend binding's index(auth)), "
                f"got {type(index).__name__}"
            )
        self.filter = check_options(
            embeddings, k=k, filter=filter, score_threshold=score_threshold, relevance=relevance
        )
        self.index = index
        self.embeddings = embeddings
        self.k = k
        self.score_threshold = None if score_threshold is None else float(score_threshold)
        self.relevance = relevance

    def __repr__(self) -> str:
        return (
            f"ScopedRetrieval(k={self.k}, filter={self.filter!r}, "
            f"score_threshold={self.score_threshold!r})"
        )

    async def retrieve(self, query: str) -> list[Passage]:
        """The caller's passages for ``query``, best first, at most ``k``.

        A query whose embedding is the zero vector (empty, or no known word) matches
        nothing and returns ``[]`` without searching.
        """
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        vector = await aembed_query(self.embeddings, query)
        return await self.retrieve_by_vector(vector)

    async def retrieve_by_vector(self, vector: list[float]) -> list[Passage]:
        """As :meth:`retrieve`, for a query already embedded (with the same model)."""
        if not any(vector):
            return []
        hits = await self.index.search(vector, self.k, filter=self.filter)
        passages = [self._passage(hit) for hit in hits]
        if self.score_threshold is not None:
            passages = [p for p in passages if p.score >= self.score_threshold]
        return passages

    def _passage(self, hit: Hit) -> Passage:
        score = float(self.relevance(hit.distance))
        metadata = dict(hit.metadata)
        metadata[RESOURCE_ID_KEY] = hit.resource_id
        metadata[CHUNK_ID_KEY] = hit.id
        metadata[SCORE_KEY] = score
        metadata[DISTANCE_KEY] = hit.distance
        return Passage(
            chunk_id=hit.id,
            resource_id=hit.resource_id,
            text=hit.text,
            score=score,
            distance=hit.distance,
            metadata=metadata,
        )
