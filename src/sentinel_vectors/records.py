"""Records by id: the backend-neutral view the framework-native vector stores use.

A LangChain ``VectorStore`` or a LlamaIndex vector store thinks in *records* (a text,
its embedding, its metadata, under an id the framework chose), not in the chunks of a
resource that :class:`~sentinel_vectors.index.ChunkIndex` manages. :class:`RecordStore`
is that view, for one caller's scope: upsert records, get and delete them by id, search
(optionally with the stored embeddings, for MMR). Each backend binding implements it in
its adapter distribution (``backend.records(auth)``) over the backend's scoped wrapper,
so every rule of the wrapper applies: writes are stamped and need edit access to the
resource named in each record's metadata (invariants 2, 4, 8, 10), reads see only what
the caller may view (1, 7), ids are namespaced per workspace (3), records the caller
may not view behave as absent (9).

What this module adds on top of the wrappers is the input contract shared by every
framework store (:meth:`StoreRecords.put` checks everything before anything is
written, and names a record whose metadata has no resource with
:class:`~sentinel_vectors.errors.MissingResourceError`), and :func:`mmr`, maximal
marginal relevance over the returned embeddings.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.errors import InvalidInputError, MissingResourceError
from sentinel_vectors.filters import Filter
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Scope
from sentinel_vectors.validation import as_embeddings, check_positive_int

__all__ = [
    "DocumentWrapper",
    "Record",
    "RecordBackend",
    "RecordStore",
    "StoreRecords",
    "WrapperRecords",
    "check_ids",
    "cosine_similarity",
    "mmr",
    "records_of",
    "shown_metadata",
    "stored_metadata",
]


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record as the caller may see it.

    ``metadata`` is the stored metadata, tenancy keys (``workspace_id``, ``owner_id``,
    the resource key) included. ``embedding`` is set when asked for; ``distance`` on
    search results only (the backend's, smaller is closer).
    """

    id: str
    text: str
    metadata: Mapping[str, Any]
    embedding: list[float] | None = None
    distance: float | None = None


def check_ids(ids: object, *, what: str = "ids") -> list[str]:
    """``ids`` as a list of non-empty strings without duplicates, or InvalidInputError."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise InvalidInputError(f"{what} must be a list of strings")
    out: list[str] = []
    for i, value in enumerate(ids):
        if not isinstance(value, str) or not value:
            raise InvalidInputError(f"{what}[{i}] must be a non-empty string, got {value!r}")
        out.append(value)
    if len(set(out)) != len(out):
        raise InvalidInputError(f"{what} contain duplicates")
    return out


@runtime_checkable
class RecordStore(Protocol):
    """One caller's records in one collection, by id (see the module docstring)."""

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        ...

    async def put(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert or replace records (one write: all or nothing where the store allows).

        Each metadata names its resource under the scope's resource key; the wrapper
        stamps the workspace and owner. Replacing a stored record needs edit access to it.
        """
        ...

    async def get(self, ids: Sequence[str], *, with_embeddings: bool = False) -> list[Record]:
        """The named records the caller may view; the others are absent."""
        ...

    async def select(
        self, filter: Filter | None = None, *, limit: int | None = None
    ) -> list[Record]:
        """Records the caller may view that match ``filter`` (all of them: ``None``).

        ``filter`` is ANDed under the scope like a search's; at most ``limit`` records.
        """
        ...

    async def delete(self, ids: Sequence[str]) -> int:
        """Delete the named records; how many were deleted.

        Records the caller may not view count as absent (nothing happens to them);
        one it may view but not edit raises
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted.
        """
        ...

    async def delete_where(self, filter: Filter) -> None:
        """Delete the records matching ``filter`` that the caller may edit.

        The others are left alone, silently: the filter is caller-writable metadata, so a
        record someone else tagged alike is not the caller's to delete, nor a reason to
        refuse. ``filter`` is ANDed under the scope's edit constraint.
        """
        ...

    async def search(
        self,
        embedding: Sequence[float],
        k: int,
        *,
        filter: Filter | None = None,
        with_embeddings: bool = False,
    ) -> list[Record]:
        """The ``k`` records nearest ``embedding`` that the caller may view, nearest first.

        ``filter`` is the caller's, ANDed under the scope (it only narrows; naming a
        tenancy key is refused with :class:`~sentinel_vectors.errors.ReservedKeyError`).
        """
        ...


@runtime_checkable
class RecordBackend(Protocol):
    """A store binding that can build a caller's :class:`RecordStore`."""

    @property
    def resource_type(self) -> str:
        """The Sentinel resource type of the records' parents."""
        ...

    def records(self, auth: AuthContext) -> RecordStore:
        """The :class:`RecordStore` of ``auth`` over the backend's scoped wrapper."""
        ...


def records_of(backend: object, auth: AuthContext) -> RecordStore:
    """The :class:`RecordStore` of ``auth`` over a backend binding.

    What the framework stores' ``from_backend`` does; anything but a
    :class:`RecordBackend` is :class:`~sentinel_vectors.errors.InvalidInputError`.
    """
    if not isinstance(backend, RecordBackend):
        raise InvalidInputError(
            f"backend must be a store binding with records(auth) (ChromaBackend, "
            f"QdrantBackend, PgvectorBackend), got {type(backend).__name__}"
        )
    return backend.records(auth)


class StoreRecords(ABC):
    """:class:`RecordStore` written once; a binding supplies the wrapper calls.

    Input is checked here, before any call: ids (non-empty strings, no duplicates),
    lengths, embeddings (finite, one dimension), metadata (dicts naming their resource).
    Empty id lists return at once. The binding's ``_put``, ``_get``, ``_delete`` and
    ``_search`` are calls on the backend's scoped wrapper and nothing else.
    """

    @property
    @abstractmethod
    def scope(self) -> Scope:
        """The caller's scope."""

    async def put(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Upsert records after checking all of them (nothing is written on bad input)."""
        checked = check_ids(ids)
        n = len(checked)
        if isinstance(texts, str) or len(texts) != n or len(metadatas) != n:
            raise InvalidInputError(
                f"ids, texts, embeddings and metadatas must have the same length ({n})"
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(f"texts[{i}] must be a string")
        key = self.scope.resource_key
        metas: list[dict[str, Any]] = []
        for i, meta in enumerate(metadatas):
            if not isinstance(meta, Mapping):
                raise InvalidInputError(f"metadatas[{i}] must be a dict")
            if meta.get(key) in (None, ""):
                raise MissingResourceError(
                    f"record {i} (id {checked[i]!r}) names no resource: set metadata[{key!r}] "
                    f"to the Sentinel id of the {self.scope.resource_type} it belongs to, or "
                    f"build the store with resource_id=..."
                )
            metas.append(dict(meta))
        if not n:
            return
        vectors = as_embeddings(embeddings, n=n, dimension=None, what="embeddings")
        await self._put(checked, list(texts), [list(v) for v in vectors], metas)

    async def get(self, ids: Sequence[str], *, with_embeddings: bool = False) -> list[Record]:
        """The named records the caller may view (others absent), in the order asked."""
        wanted = list(dict.fromkeys(check_ids(list(ids))))
        if not wanted:
            return []
        found = {r.id: r for r in await self._get(wanted, with_embeddings)}
        return [found[i] for i in wanted if i in found]

    async def select(
        self, filter: Filter | None = None, *, limit: int | None = None
    ) -> list[Record]:
        """Records the caller may view matching ``filter``, at most ``limit``."""
        if limit is not None:
            check_positive_int(limit, what="limit")
        return await self._select(filter, limit)

    async def delete(self, ids: Sequence[str]) -> int:
        """Delete the named records the caller may edit (hidden ones are absent)."""
        wanted = list(dict.fromkeys(check_ids(list(ids))))
        if not wanted:
            return 0
        return await self._delete(wanted)

    async def delete_where(self, filter: Filter) -> None:
        """Delete the records matching ``filter`` that the caller may edit (others stay)."""
        if filter is None:
            raise InvalidInputError("delete_where() needs a filter")
        await self._delete_where(filter)

    async def search(
        self,
        embedding: Sequence[float],
        k: int,
        *,
        filter: Filter | None = None,
        with_embeddings: bool = False,
    ) -> list[Record]:
        """The ``k`` nearest records the caller may view, ``filter`` ANDed under the scope."""
        check_positive_int(k, what="k")
        (vector,) = as_embeddings([embedding], n=1, dimension=None, what="query embedding")
        return await self._search(list(vector), k, filter, with_embeddings)

    @abstractmethod
    async def _put(
        self,
        ids: list[str],
        texts: list[str],
        embeddings: list[list[float]],
        metadatas: list[dict[str, Any]],
    ) -> None:
        """Upsert through the scoped wrapper."""

    @abstractmethod
    async def _get(self, ids: list[str], with_embeddings: bool) -> list[Record]:
        """The wrapper's get by ids."""

    @abstractmethod
    async def _select(self, flt: Filter | None, limit: int | None) -> list[Record]:
        """The wrapper's listing by filter (get / scroll)."""

    @abstractmethod
    async def _delete(self, ids: list[str]) -> int:
        """The wrapper's delete by ids; how many were deleted."""

    @abstractmethod
    async def _delete_where(self, flt: Filter) -> None:
        """The wrapper's delete by filter (editable records only)."""

    @abstractmethod
    async def _search(
        self, embedding: list[float], k: int, flt: Filter | None, with_embeddings: bool
    ) -> list[Record]:
        """The wrapper's top-``k`` search (distances as the backend reports them)."""


class DocumentWrapper(Protocol):
    """A scoped wrapper whose ``upsert`` takes the texts as ``documents`` (Chroma, pgvector)."""

    @property
    def scope(self) -> Scope:
        """The caller's scope."""
        ...

    async def upsert(
        self, ids: list[str], embeddings: Any, metadatas: Any, documents: list[str]
    ) -> None:
        """Insert or replace records through the wrapper's rules."""
        ...


class WrapperRecords[W: DocumentWrapper](StoreRecords):
    """:class:`StoreRecords` over a wrapper that stores texts as ``documents``.

    What such bindings share, written once: the wrapper is the scope's source and a put
    is one ``upsert``. The binding keeps what is its own (how the wrapper reads,
    deletes and searches, and the shape its answers come in).
    """

    def __init__(self, store: W) -> None:
        self.store = store

    @property
    def scope(self) -> Scope:
        """The caller's scope."""
        return self.store.scope

    async def _put(
        self,
        ids: list[str],
        texts: list[str],
        embeddings: list[list[float]],
        metadatas: list[dict[str, Any]],
    ) -> None:
        await self.store.upsert(
            ids=ids, embeddings=embeddings, metadatas=metadatas, documents=texts
        )


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine similarity of two vectors (0 if either is zero or their lengths differ)."""
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    if na == 0.0 or nb == 0.0 or len(a) != len(b):
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


def mmr(
    query: Sequence[float],
    candidates: Sequence[Sequence[float]],
    k: int,
    lambda_mult: float = 0.5,
) -> list[int]:
    """Maximal marginal relevance: indices of ``k`` candidates, relevant yet diverse.

    Each step picks the candidate maximising ``lambda_mult * sim(query, c) -
    (1 - lambda_mult) * max(sim(c, chosen))`` (cosine similarity), as LangChain's and
    LlamaIndex's own MMR do. ``lambda_mult`` 1 is plain similarity order, 0 maximal
    diversity.
    """
    check_positive_int(k, what="k")
    if not 0.0 <= lambda_mult <= 1.0:
        raise InvalidInputError(f"lambda_mult must be in [0, 1], got {lambda_mult!r}")
    relevance = [cosine_similarity(query, c) for c in candidates]
    chosen: list[int] = []
    while len(chosen) < min(k, len(candidates)):
        best, best_score = -1, -math.inf
        for i, c in enumerate(candidates):
            if i in chosen:
                continue
            redundancy = max((cosine_similarity(c, candidates[j]) for j in chosen), default=0.0)
            score = lambda_mult * relevance[i] - (1.0 - lambda_mult) * redundancy
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
    return chosen


def stored_metadata(
    metadata: Mapping[str, Any] | None, scope: Scope, resource_id: str | None
) -> dict[str, Any]:
    """The metadata to write for a framework document: its own, plus the default resource.

    ``resource_id`` (a store bound to one resource) fills the resource key when the
    document does not name one; a document naming another resource keeps it (the
    wrapper checks the caller may edit it).
    """
    out = dict(metadata or {})
    if resource_id is not None and out.get(scope.resource_key) in (None, ""):
        out[scope.resource_key] = resource_id
    return out


def shown_metadata(
    metadata: Mapping[str, Any], scope: Scope, resource_id: str | None
) -> dict[str, Any]:
    """A record's metadata as a framework document shows it: what the caller wrote.

    The stamped ``workspace_id`` and ``owner_id`` are dropped, and the resource key too
    when it is the store's bound ``resource_id`` (it was filled in, not written).
    """
    out = {k: v for k, v in metadata.items() if k not in (WORKSPACE_KEY, OWNER_KEY)}
    if resource_id is not None and out.get(scope.resource_key) == resource_id:
        del out[scope.resource_key]
    return out
