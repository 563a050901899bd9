"""Chroma's side of the tenancy engine: sources and targets yielding native calls.

Each class here implements one protocol of :mod:`sentinel_vectors.engine`
(:class:`~sentinel_vectors.engine.SearchSource`, :class:`~sentinel_vectors.engine.
ListSource`, :class:`~sentinel_vectors.engine.CountSource`, :class:`~sentinel_vectors.
engine.PutTarget`, :class:`~sentinel_vectors.engine.UpdateTarget`,
:class:`~sentinel_vectors.engine.DeleteTarget`) for one call of the facade: it compiles
the neutral filter the engine hands it to a Chroma ``where``, yields
:class:`~sentinel_vectors.engine.Native` calls of the collection, and turns Chroma's
columns into rows. It holds no policy: whatever it returns is re-checked by the engine.
Async or blocking is the driver's business, so the async and the sync facade share
every line here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sentinel_vectors import filters as F
from sentinel_vectors.engine import Native, Row, Step
from sentinel_vectors.errors import (
    DimensionMismatchError,
    StoreUnavailableError,
    WriteConflictError,
    is_store_outage,
)
from sentinel_vectors.filters import Filter, FilterCompiler
from sentinel_vectors.policy import ExistingRecord
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Access
from sentinel_vectors_chroma.compiler import Where
from sentinel_vectors_chroma.results import rows_of

__all__ = [
    "ID_BATCH",
    "ChromaCalls",
    "ChromaDelete",
    "ChromaListing",
    "ChromaPut",
    "ChromaSearch",
    "ChromaUpdate",
    "translate",
]

ID_BATCH = 5_000
"""Chroma caps one call's id list by what SQLite binds; our own id lookups stay below it."""


def translate(exc: Exception, effect: Native) -> BaseException | None:
    """A Chroma client error as the suite's typed error (the drivers' ``translate``)."""
    if is_store_outage(exc):
        # Not the identity service: Chroma itself, or the model download Chroma's
        # default embedding function starts when documents come without vectors.
        return StoreUnavailableError(
            f"Chroma could not be reached during {effect.method}() "
            f"({type(exc).__name__}: {exc}). If the collection embeds documents "
            f"itself, its embedding model may be downloading: pass embeddings= "
            f"(sentinel-vectors never embeds implicitly).",
            store="chroma",
        )
    if "dimension" in str(exc).lower():
        return DimensionMismatchError(f"Chroma refused the vectors: {exc}. Nothing was written.")
    return None


@dataclass(frozen=True, slots=True)
class ChromaCalls:
    """One native collection, its ``where`` compiler and the scope's resource key."""

    collection: Any
    compiler: FilterCompiler[Where]
    resource_key: str

    def call(self, method: str, **kwargs: Any) -> Native:
        """``collection.method(**kwargs)`` as an effect; ``None`` arguments left out."""
        given = {k: v for k, v in kwargs.items() if v is not None}
        return Native(method, kwargs=given, target=self.collection)

    def where(self, flt: Filter, ids: Access | None = None) -> Where:
        """``flt`` as a Chroma ``where``; ``ids`` (when the engine passes them) ANDed."""
        if ids is not None and not ids.full:
            flt = F.and_(flt, F.in_(self.resource_key, sorted(ids.resource_ids)))
        return self.compiler.compile(flt)

    def existing(self, meta: Mapping[str, Any] | None) -> ExistingRecord:
        """The tenancy keys of a stored metadata."""
        meta = meta or {}
        return ExistingRecord(
            workspace_id=meta.get(WORKSPACE_KEY),
            resource_id=meta.get(self.resource_key),
            owner_id=meta.get(OWNER_KEY),
        )

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """Tenancy keys of the records stored under these physical ids (engine ``Probe``)."""
        out: dict[str, ExistingRecord] = {}
        for start in range(0, len(pids), ID_BATCH):
            batch = list(pids[start : start + ID_BATCH])
            raw = yield self.call("get", ids=batch, include=["metadatas"])
            for row in rows_of(raw):
                out[row.pid] = self.existing(row.meta)
        return out

    def snapshots(
        self,
        pids: Sequence[str],
        include: Sequence[str] = ("embeddings", "metadatas", "documents", "uris"),
    ) -> Step[dict[str, dict[str, Any]]]:
        """Stored records under these physical ids, one native row dict per id."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(pids), ID_BATCH):
            batch = list(pids[start : start + ID_BATCH])
            raw = yield self.call("get", ids=batch, include=list(include))
            for row in rows_of(raw):
                out[row.pid] = row.native
        return out


# -- reads -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChromaSearch:
    """The :class:`~sentinel_vectors.engine.SearchSource` of one ``query`` call.

    ``inputs``: the native query argument (``query_embeddings``, ``query_texts``, ...)
    and its values, one per query; ``pids``: the caller's ``ids`` argument, physical.
    """

    chroma: ChromaCalls
    inputs: tuple[str, list[Any]]
    pids: list[str] | None
    where_document: Mapping[str, Any] | None
    include: list[str]

    def search(
        self, flt: Filter, fetch: int, which: Sequence[int], ids: Access | None
    ) -> Step[list[list[Row]]]:
        """One native ``query`` for the queries at ``which``; rows nearest first."""
        if self.pids == []:
            return [[] for _ in which]
        name, values = self.inputs
        raw = yield self.chroma.call(
            "query",
            **{name: [values[q] for q in which]},
            ids=self.pids,
            n_results=fetch,
            where=self.chroma.where(flt, ids),
            where_document=self.where_document,
            include=self.include,
        )
        return [rows_of(raw, query=i) for i in range(len(which))]


@dataclass(frozen=True, slots=True)
class ChromaListing:
    """The :class:`~sentinel_vectors.engine.ListSource` and ``CountSource`` of a ``get``."""

    chroma: ChromaCalls
    pids: list[str] | None = None
    where_document: Mapping[str, Any] | None = None
    include: tuple[str, ...] = ("metadatas",)

    def fetch(
        self, flt: Filter, ids: Access | None, *, limit: int | None, offset: int | None
    ) -> Step[list[Row]]:
        """One native ``get`` under ``flt``, in Chroma's order."""
        if self.pids == []:
            return []
        raw = yield self.chroma.call(
            "get",
            ids=self.pids,
            where=self.chroma.where(flt, ids),
            where_document=self.where_document,
            limit=limit,
            offset=offset,
            include=sorted({*self.include, "metadatas"}),
        )
        return rows_of(raw)

    def count(self, flt: Filter, ids: Access | None) -> Step[list[tuple[Row, int]]]:
        """Chroma counts only in total: one row per record, each counted once."""
        rows = yield from self.fetch(flt, ids, limit=None, offset=None)
        return [(row, 1) for row in rows]


# -- writes ------------------------------------------------------------------------

_CONFLICT = (
    "another writer created, changed or removed a record with one of these ids after the "
    "write was checked; it was left as it is and nothing of this call was written. Read "
    "again and retry."
)


@dataclass(frozen=True, slots=True)
class ChromaPut:
    """The :class:`~sentinel_vectors.engine.PutTarget` of one ``add``/``upsert``.

    ``columns``: the call's own native columns (``embeddings``, ``documents``,
    ``images``, ``uris``), one entry per id; the metadatas come stamped by the engine.
    """

    chroma: ChromaCalls
    pids: list[str]
    columns: Mapping[str, Sequence[Any] | None]
    workspace_id: str

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """See :meth:`ChromaCalls.probe`."""
        return self.chroma.probe(pids)

    def put(
        self,
        op: Literal["add", "upsert"],
        stamped: list[dict[str, Any]],
        stored: Mapping[str, ExistingRecord],
        condition: Filter | None,
    ) -> Step[None]:
        """Write so that no record the check did not see is overwritten (invariant 10).

        Chroma has no conditional upsert, but its ``delete`` takes a ``where`` and its
        ``add`` never replaces a stored id. So a record to replace is deleted under the
        condition that it still belongs to the workspace and to a resource the check
        saw (and authorized under ``condition``), then every record goes in with
        ``add``, and the ids are read back. An id holding another writer's record
        (changed or created after the check, so the delete or the ``add`` skipped it)
        raises :class:`WriteConflictError` once this call's records are removed and the
        replaced ones put back (again with ``add``, so the other writer's record stays).
        What is left is in ``docs/security.md``.
        """
        pids = self.pids
        # add leaves existing ids as they are (as natively): only upsert replaces.
        known = [] if op == "add" else [i for i, pid in enumerate(pids) if pid in stored]
        fresh = [i for i, pid in enumerate(pids) if pid not in stored]
        conflict = WriteConflictError(_CONFLICT)
        if known and condition is None:
            raise conflict  # the policy allows replacing nothing (it refused before)
        snapshots = yield from self.chroma.snapshots([pids[i] for i in known])
        if any(
            self.chroma.existing(snapshots.get(pids[i], {}).get("metadatas")) != stored[pids[i]]
            for i in known
        ):
            raise conflict
        if known:
            resources = sorted({str(stored[pids[i]].resource_id) for i in known})
            # Hand-built, not compiled: the write's condition does not depend on a
            # swappable compiler.
            still: Where = {
                "$and": [
                    {WORKSPACE_KEY: {"$eq": self.workspace_id}},
                    {self.chroma.resource_key: {"$in": resources}},
                ]
            }
            yield self.chroma.call("delete", ids=[pids[i] for i in known], where=still)
        written = sorted(fresh + known)
        columns = {**self.columns, "metadatas": stamped}
        yield self.chroma.call("add", **_subset(pids, columns, written))
        after = yield from self.chroma.snapshots([pids[i] for i in written], ("metadatas",))
        ours = [
            pids[i] for i in written if _holds(after.get(pids[i], {}).get("metadatas"), stamped[i])
        ]
        if len(ours) == len(written):
            return
        try:
            for start in range(0, len(ours), ID_BATCH):
                yield self.chroma.call("delete", ids=ours[start : start + ID_BATCH])
            rows = [snapshots[pids[i]] for i in known]
            if rows:
                yield self.chroma.call("add", **_restore_columns(rows))
        except Exception as undo:
            conflict.add_note(f"sentinel-vectors: undoing the write failed too: {undo!r}")
        raise conflict


@dataclass(frozen=True, slots=True)
class ChromaUpdate:
    """The :class:`~sentinel_vectors.engine.UpdateTarget` of one ``update``.

    Chroma's ``update`` takes no condition: the records were probed and reached just
    before, and an ``update`` never changes tenancy keys (the engine refuses that).
    """

    chroma: ChromaCalls
    pids: list[str]
    columns: Mapping[str, Sequence[Any] | None]

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """See :meth:`ChromaCalls.probe`."""
        return self.chroma.probe(pids)

    def update(
        self,
        keep: list[int],
        metadatas: list[dict[str, Any]] | None,
        existing: Mapping[int, ExistingRecord],
        condition: Filter | None,
    ) -> Step[None]:
        """One native ``update`` of the reached rows (metadata merged, as in Chroma)."""
        columns = _subset(self.pids, self.columns, keep)
        yield self.chroma.call("update", **columns, metadatas=metadatas)


@dataclass(frozen=True, slots=True)
class ChromaDelete:
    """The :class:`~sentinel_vectors.engine.DeleteTarget` of one ``delete``."""

    chroma: ChromaCalls
    where_document: Mapping[str, Any] | None = None

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """See :meth:`ChromaCalls.probe`."""
        return self.chroma.probe(pids)

    def select(self, flt: Filter, pids: Sequence[str] | None) -> Step[list[Row]]:
        """The delete's candidates under ``flt`` (among ``pids`` when given)."""
        raw = yield self.chroma.call(
            "get",
            ids=None if pids is None else list(pids),
            where=self.chroma.where(flt),
            where_document=self.where_document,
            include=["metadatas"],
        )
        return rows_of(raw)

    def remove(self, flt: Filter, pids: Sequence[str]) -> Step[None]:
        """Delete ``pids`` under ``flt``: a record that left it since is spared (inv. 10)."""
        where = self.chroma.where(flt)
        for start in range(0, len(pids), ID_BATCH):
            yield self.chroma.call("delete", ids=list(pids[start : start + ID_BATCH]), where=where)


def _subset(
    pids: Sequence[str], columns: Mapping[str, Sequence[Any] | None], keep: Sequence[int]
) -> dict[str, Any]:
    """Native write arguments for the rows at ``keep``."""
    out: dict[str, Any] = {"ids": [pids[i] for i in keep]}
    for name, column in columns.items():
        if column is not None:
            out[name] = [column[i] for i in keep]
    return out


def _restore_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Native ``add`` arguments that put snapshot rows back as they were."""
    out: dict[str, Any] = {
        "ids": [r["ids"] for r in rows],
        "embeddings": [r["embeddings"] for r in rows],
        "metadatas": [r["metadatas"] for r in rows],
    }
    if all(r.get("documents") is not None for r in rows):
        out["documents"] = [r["documents"] for r in rows]
    if all(r.get("uris") is not None for r in rows):
        out["uris"] = [r["uris"] for r in rows]
    return out


def _holds(stored: Mapping[str, Any] | None, written: Mapping[str, Any]) -> bool:
    """Whether a stored metadata is the one this call wrote (Chroma drops ``None`` values)."""
    if stored is None:
        return False
    return all(stored.get(k) == v for k, v in written.items() if v is not None)
