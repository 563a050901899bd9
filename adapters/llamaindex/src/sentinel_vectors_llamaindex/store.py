"""A LlamaIndex vector store scoped to one caller, over any backend binding."""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from pydantic import ConfigDict, PrivateAttr

from sentinel_vectors import filters as F
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.errors import FilterError, InvalidInputError
from sentinel_vectors.policy import TenancyPolicy
from sentinel_vectors.records import (
    Record,
    RecordBackend,
    RecordStore,
    cosine_similarity,
    mmr,
    records_of,
    shown_metadata,
    stored_metadata,
)
from sentinel_vectors.retrieval import (
    INTERNAL_KEYS,
    Relevance,
    call_blocking,
    check_store_options,
    cosine_relevance,
)

__all__ = ["REF_DOC_KEY", "SentinelVectorStore", "to_filter"]

T = TypeVar("T")

REF_DOC_KEY = "ref_doc_id"
"""Metadata key of a node's source document id (``node.ref_doc_id``), as LlamaIndex stores
keep it; ``delete(ref_doc_id)`` and ``VectorStoreQuery.doc_ids`` select by it."""

_BOOKKEEPING = ("doc_id", "document_id", REF_DOC_KEY)
_HIDDEN = sorted(INTERNAL_KEYS | set(_BOOKKEEPING))
_MMR_PREFETCH_FACTOR = 4

_COMPARE: dict[FilterOperator, Callable[[str, Any], F.Filter]] = {
    FilterOperator.EQ: F.eq,
    FilterOperator.NE: F.ne,
    FilterOperator.GT: F.gt,
    FilterOperator.GTE: F.gte,
    FilterOperator.LT: F.lt,
    FilterOperator.LTE: F.lte,
    FilterOperator.IN: F.in_,
    FilterOperator.NIN: F.not_in,
}


def to_filter(filters: MetadataFilters | F.Filter | None) -> F.Filter | None:
    """LlamaIndex ``MetadataFilters`` as a neutral filter (``None`` and neutral
    :mod:`sentinel_vectors.filters` nodes pass through).

    ``==``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``, ``nin``, nested filters and the
    ``and`` / ``or`` / ``not`` conditions are supported; other operators (text match,
    ``any``, ``all``, ``contains``, ``is_empty``) raise
    :class:`~sentinel_vectors.errors.FilterError`.
    """
    if filters is None:
        return None
    if isinstance(filters, F.Comparison | F.Membership | F.And | F.Or | F.Not):
        return filters
    if not isinstance(filters, MetadataFilters):
        raise FilterError(f"filters must be MetadataFilters, got {type(filters).__name__}")
    items: list[F.Filter] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = to_filter(item)
            if nested is not None:
                items.append(nested)
            continue
        op = FilterOperator(item.operator)
        make = _COMPARE.get(op)
        if make is None:
            raise FilterError(f"filter operator {op.value!r} is not supported by the scoped store")
        items.append(make(item.key, item.value))
    if not items:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.OR:
        return F.or_(*items)
    if condition == FilterCondition.NOT:
        return F.not_(F.and_(*items) if len(items) > 1 else items[0])
    return F.and_(*items) if len(items) > 1 else items[0]


class SentinelVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store that reads only what the caller may view and writes only
    what it may edit, on Chroma, Qdrant or pgvector.

    Build one per request from the request's auth (never share one between users)::

        store = SentinelVectorStore.from_backend(backend, request_auth)
        index = VectorStoreIndex.from_vector_store(store, embed_model=model)
        await index.ainsert(Document(text=text, metadata={"resource_id": str(doc_id)}))
        answer = await index.as_query_engine(llm=llm).aquery("how do refunds work?")

    Every call goes through the backend's scoped wrapper (``backend.records(auth)``):
    nodes written are stamped with the caller's workspace and owner and need edit access
    to their resource (``metadata["resource_id"]``, or the store's ``resource_id``; none
    raises :class:`~sentinel_vectors.errors.MissingResourceError`, nothing written);
    queries, ``get_nodes`` and deletes see only what the caller may view, and records
    it may not view behave as absent. ``clear()`` is refused.

    Args:
        records: the caller's :class:`~sentinel_vectors.records.RecordStore`.
        resource_id: the Sentinel resource of nodes whose metadata names none.
        relevance: distance to similarity (default ``1 - distance``).
        portal, loop_token: how the sync methods reach the permission client's loop
            (see :func:`sentinel_vectors.retrieval.call_blocking`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stores_text: bool = True
    is_embedding_query: bool = True
    flat_metadata: bool = True
    resource_id: str | None = None
    relevance: Any = cosine_relevance
    portal: Any = None
    loop_token: Any = None
    _records: RecordStore = PrivateAttr()

    def __init__(
        self,
        records: RecordStore,
        *,
        resource_id: str | uuid.UUID | None = None,
        relevance: Relevance = cosine_relevance,
        portal: Any = None,
        loop_token: Any = None,
    ) -> None:
        rid = check_store_options(records, resource_id=resource_id, relevance=relevance)
        fields: dict[str, Any] = {
            "resource_id": rid,
            "relevance": relevance,
            "portal": portal,
            "loop_token": loop_token,
        }
        super().__init__(**fields)
        self._records = records

    @classmethod
    def from_backend(
        cls, backend: RecordBackend, auth: AuthContext, **options: Any
    ) -> SentinelVectorStore:
        """The store of ``auth`` over a backend binding (Chroma, Qdrant, pgvector)."""
        return cls(records_of(backend, auth), **options)

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's component name."""
        return "SentinelVectorStore"

    @property
    def client(self) -> RecordStore:
        """The caller's scoped records (never the native client)."""
        return self._records

    # -- writes -----------------------------------------------------------------------

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Upsert embedded nodes; returns their ids. Checked whole before any write."""
        scope = self._records.scope
        ids, texts, vectors, metas = [], [], [], []
        for i, node in enumerate(nodes):
            if node.embedding is None:
                raise InvalidInputError(f"nodes[{i}] has no embedding: embed it first")
            meta = stored_metadata(node.metadata, scope, self.resource_id)
            if node.ref_doc_id is not None:
                meta[REF_DOC_KEY] = meta["doc_id"] = meta["document_id"] = node.ref_doc_id
            ids.append(node.node_id)
            texts.append(node.get_content(metadata_mode=MetadataMode.NONE))
            vectors.append(list(node.embedding))
            metas.append(meta)
        if not ids:
            return []
        await self._records.put(ids, texts, vectors, metas)
        return ids

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Sync :meth:`async_add`."""
        return self._blocking(lambda: self.async_add(nodes, **kwargs))

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete the nodes of source document ``ref_doc_id`` that the caller may edit.

        ``ref_doc_id`` is ordinary metadata, which anyone writing a node can set: nodes
        the caller may not edit (someone else's, tagged alike) are left alone, and nodes
        it may not view are absent. Deleting what is not there is a no-op.
        """
        if not isinstance(ref_doc_id, str) or not ref_doc_id:
            raise InvalidInputError("ref_doc_id must be a non-empty string")
        await self._records.delete_where(F.eq(REF_DOC_KEY, ref_doc_id))

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Sync :meth:`adelete`."""
        self._blocking(lambda: self.adelete(ref_doc_id, **delete_kwargs))

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | F.Filter | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the named nodes, or those matching ``filters``, that the caller may edit.

        Named nodes are all or nothing: one the caller may view but not edit raises
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted; named
        nodes it may not view are absent. ``filters`` alone delete the matching nodes the
        caller may edit and leave the others. With both, the named nodes that match.
        """
        if node_ids is None and filters is None:
            raise InvalidInputError("delete_nodes() needs node_ids or filters")
        if node_ids is None:
            flt = to_filter(filters)
            if flt is not None:
                await self._records.delete_where(flt)
            return
        found = await self._find(node_ids, filters)
        await self._records.delete([r.id for r in found])

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | F.Filter | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Sync :meth:`adelete_nodes`."""
        self._blocking(lambda: self.adelete_nodes(node_ids, filters))

    async def aclear(self) -> None:
        """Refused: a scoped store deletes what it names (``delete`` / ``delete_nodes``)."""
        raise InvalidInputError(
            "clear() is refused on a scoped store: delete documents (delete(ref_doc_id)) or "
            "nodes (delete_nodes) the caller may edit instead"
        )

    def clear(self) -> None:
        """Refused, as :meth:`aclear`."""
        self._blocking(self.aclear)

    # -- reads ------------------------------------------------------------------------

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | F.Filter | None = None
    ) -> list[BaseNode]:
        """The named nodes (and/or those matching ``filters``) the caller may view."""
        return [self._node(r) for r in await self._find(node_ids, filters)]

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | F.Filter | None = None
    ) -> list[BaseNode]:
        """Sync :meth:`aget_nodes`."""
        return self._blocking(lambda: self.aget_nodes(node_ids, filters))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Nearest nodes the caller may view (``DEFAULT`` or ``MMR`` mode).

        ``filters`` and ``doc_ids`` narrow under the scope; ``node_ids`` ranks only those
        nodes (by cosine distance, computed here). MMR fetches ``mmr_prefetch_k`` (or
        ``similarity_top_k * mmr_prefetch_factor``, default 4) candidates and trades
        relevance for diversity by ``mmr_threshold`` (default 0.5).
        """
        mode = VectorStoreQueryMode(query.mode)
        if mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise InvalidInputError(f"query mode {mode.value!r} is not supported (default, mmr)")
        if query.query_embedding is None:
            raise InvalidInputError("the query needs a query_embedding")
        vector = list(query.query_embedding)
        k = query.similarity_top_k
        flt = to_filter(query.filters)
        if query.doc_ids:
            docs = F.in_(REF_DOC_KEY, query.doc_ids)
            flt = docs if flt is None else F.and_(flt, docs)
        mmr_mode = mode == VectorStoreQueryMode.MMR
        if not any(vector):
            found: list[Record] = []
        elif query.node_ids:  # LlamaIndex passes [] when it has no restriction
            found = await self._rank(query.node_ids, vector, flt, k)
        else:
            fetch = k
            if mmr_mode:
                factor = kwargs.get("mmr_prefetch_factor", _MMR_PREFETCH_FACTOR)
                fetch = int(kwargs.get("mmr_prefetch_k") or math.ceil(k * factor))
            found = await self._records.search(
                vector, max(k, fetch), filter=flt, with_embeddings=mmr_mode
            )
        if mmr_mode and found:
            lambda_mult = 0.5 if query.mmr_threshold is None else query.mmr_threshold
            chosen = mmr(vector, [r.embedding or [] for r in found], k, lambda_mult)
            found = [found[i] for i in chosen]
        found = found[:k]
        return VectorStoreQueryResult(
            nodes=[self._node(r) for r in found],
            similarities=[float(self.relevance(r.distance or 0.0)) for r in found],
            ids=[r.id for r in found],
        )

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Sync :meth:`aquery`."""
        return self._blocking(lambda: self.aquery(query, **kwargs))

    # -- helpers ----------------------------------------------------------------------

    async def _find(
        self, node_ids: list[str] | None, filters: MetadataFilters | F.Filter | None
    ) -> list[Record]:
        flt = to_filter(filters)
        if node_ids is None:
            return await self._records.select(flt)
        return await self._named(node_ids, flt)

    async def _named(
        self, node_ids: list[str], flt: F.Filter | None, *, with_embeddings: bool = False
    ) -> list[Record]:
        # The caller's filter is checked as a search's would be, then applied to the
        # named records the caller may view.
        TenancyPolicy(self._records.scope).check_caller_filter(flt)
        found = await self._records.get(list(node_ids), with_embeddings=with_embeddings)
        return [r for r in found if flt is None or F.matches(flt, r.metadata)]

    async def _rank(
        self, node_ids: list[str], vector: list[float], flt: F.Filter | None, k: int
    ) -> list[Record]:
        found = await self._named(node_ids, flt, with_embeddings=True)
        ranked = [
            Record(
                r.id,
                r.text,
                r.metadata,
                r.embedding,
                1.0 - cosine_similarity(vector, r.embedding or []),
            )
            for r in found
        ]
        ranked.sort(key=lambda r: r.distance or 0.0)
        return ranked[: max(k, 1)]

    def _node(self, record: Record) -> TextNode:
        metadata = shown_metadata(record.metadata, self._records.scope, self.resource_id)
        source = metadata.get(REF_DOC_KEY) or record.metadata.get(self._records.scope.resource_key)
        for key in _BOOKKEEPING:
            metadata.pop(key, None)
        relationships = {}
        if source:
            relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=str(source))
        return TextNode(
            id_=record.id,
            text=record.text,
            metadata=metadata,
            embedding=record.embedding,
            excluded_llm_metadata_keys=list(_HIDDEN),
            excluded_embed_metadata_keys=list(_HIDDEN),
            relationships=relationships,
        )

    def _blocking(self, fn: Callable[[], Awaitable[T]]) -> T:
        return call_blocking(
            fn,
            portal=self.portal,
            loop_token=self.loop_token,
            what="SentinelVectorStore",
            use_async="the async method (async_add, aquery, adelete, ...)",
        )
