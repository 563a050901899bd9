"""``ScopedCollection``: a Chroma collection that only ever sees the caller's scope.

It keeps Chroma's method names and keyword arguments (``add``, ``upsert``, ``update``,
``delete``, ``get``, ``query``, ``count``, ``peek``) as coroutines, over a sync
``Collection`` (calls run in a worker thread) or an ``AsyncHttpClient`` collection.
Nothing else of the native collection is reachable through it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, cast

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.errors import (
    DimensionMismatchError,
    FilterError,
    InvalidInputError,
    StoreUnavailableError,
    WriteConflictError,
    is_store_outage,
)
from sentinel_vectors.filters import Filter, FilterCompiler, as_filter
from sentinel_vectors.policy import ExistingRecord, TenancyPolicy
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Access, Action, Scope
from sentinel_vectors.strategy import (
    DEFAULT_MAX_IDS_PER_QUERY,
    OverFetch,
    ReadPlan,
    StrategyName,
    merge_top_k,
    plan_read,
    postfilter_top_k,
)
from sentinel_vectors.validation import (
    as_embeddings,
    as_id_list,
    as_metadata_list,
    check_lengths,
    check_positive_int,
    refuse_existing_ids,
)
from sentinel_vectors_chroma.compiler import ChromaWhereCompiler, Where

__all__ = ["DEFAULT_POSTFILTER_MIN_IDS", "ScopedCollection", "ScopedQueryResult"]

Result = dict[str, Any]

DEFAULT_POSTFILTER_MIN_IDS: int | None = 20_001
"""Accessible-list size from which ``auto`` post-filters a ``query`` on Chroma.

See ``docs/benchmarks.md``: below it the ``IN`` pre-filter is faster than a workspace
query; above ``max_ids_per_query`` the pre-filter needs several queries, and a post-filter
that fills ``k`` within its over-fetch is one query on the workspace.
"""


class ScopedQueryResult(dict[str, Any]):
    """Chroma's ``QueryResult`` dict, plus the read's :attr:`complete` flag.

    The keys are exactly Chroma's; ``complete`` is an attribute (not a key), so code
    written against the native result is unaffected. It is ``False`` only when a forced
    ``postfilter`` read could not fill ``n_results`` for some query within its over-fetch
    (see :mod:`sentinel_vectors.strategy`): hits the caller may see may be missing.
    """

    complete: bool = True


_GET_FIELDS = ("ids", "embeddings", "documents", "uris", "data", "metadatas")
_QUERY_FIELDS = (*_GET_FIELDS, "distances")
_INCLUDABLE = frozenset({"embeddings", "documents", "uris", "data", "metadatas", "distances"})
_DEFAULT_GET_INCLUDE = ("metadatas", "documents")
_DEFAULT_QUERY_INCLUDE = ("metadatas", "documents", "distances")
# Chroma caps one call's id list by what SQLite binds; chunk our own id lookups below it.
_ID_BATCH = 5_000


class ScopedCollection:
    """A Chroma collection bound to one caller's workspace and permissions.

    Args:
        collection: a ``chromadb`` ``Collection`` or ``AsyncCollection``.
        auth: the request's ``sentinel_auth.RequestAuth`` (any :class:`AuthContext`).
        resource_type: the Sentinel resource type of the chunks' parent (``"document"``).
        resource_key: the metadata key naming each chunk's resource id.
        timeout: seconds to wait for the permission service before failing closed.
        strategy: force a read strategy (see :mod:`sentinel_vectors.strategy`).
        max_ids_per_query: accessible-list size above which reads are chunked.
        postfilter_min_ids: accessible-list size from which ``auto`` post-filters
            queries (``None``: never); see :data:`DEFAULT_POSTFILTER_MIN_IDS`.
        overfetch: the post-filter's fetch schedule.
        compiler: the filter compiler (a seam for tests and extensions).

    Record ids are stored as ``"<workspace_id>:<id>"`` so ids never collide across
    workspaces, and are returned exactly as the caller wrote them.
    """

    def __init__(
        self,
        collection: Any,
        auth: AuthContext | None,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        timeout: float = 5.0,
        strategy: StrategyName = "auto",
        max_ids_per_query: int = DEFAULT_MAX_IDS_PER_QUERY,
        postfilter_min_ids: int | None = DEFAULT_POSTFILTER_MIN_IDS,
        overfetch: OverFetch | None = None,
        compiler: FilterCompiler[Where] | None = None,
    ) -> None:
        scope = Scope.of(
            auth, resource_type=resource_type, resource_key=resource_key, timeout=timeout
        )
        if collection is None or not callable(getattr(collection, "query", None)):
            raise InvalidInputError("collection must be a chromadb Collection or AsyncCollection")
        self._collection = collection
        self._is_async = inspect.iscoroutinefunction(collection.query)
        self._policy = TenancyPolicy(scope, collection=str(getattr(collection, "name", "?")))
        self._compiler: FilterCompiler[Where] = compiler or ChromaWhereCompiler()
        self._strategy: StrategyName = strategy
        self._max_ids = check_positive_int(max_ids_per_query, what="max_ids_per_query")
        self._postfilter_min_ids = (
            None
            if postfilter_min_ids is None
            else check_positive_int(postfilter_min_ids, what="postfilter_min_ids")
        )
        if overfetch is not None and not isinstance(overfetch, OverFetch):
            raise InvalidInputError("overfetch must be a sentinel_vectors.strategy.OverFetch")
        self._overfetch = overfetch
        self._dimension: int | None = None

    # -- introspection ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The wrapped collection's name."""
        return self._policy.collection

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        return self._policy.scope

    @property
    def violations(self) -> int:
        """Hits dropped by the per-hit re-check since this wrapper was built (should be 0)."""
        return self._policy.violations

    def __repr__(self) -> str:
        scope = self._policy.scope
        return (
            f"ScopedCollection(name={self.name!r}, workspace_id={scope.workspace_id!r}, "
            f"user_id={scope.user_id!r}, resource_type={scope.resource_type!r})"
        )

    # -- writes ----------------------------------------------------------------------

    async def add(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """Add records, stamped with the caller's workspace, owner and resource.

        Each metadata must carry the resource key. Raises before writing anything if
        an argument is malformed, a tenancy key disagrees with the scope, the caller
        may not write to a named resource, or an id already exists in the workspace
        (``InvalidInputError``: Chroma's own ``add`` would skip it silently; use
        :meth:`upsert` to replace).
        """
        await self._write("add", ids, embeddings, metadatas, documents, images, uris)

    async def upsert(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """Insert or replace records; replacing needs edit access to the stored record."""
        await self._write("upsert", ids, embeddings, metadatas, documents, images, uris)

    async def update(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """Update existing records in place (metadata is merged, as in Chroma).

        Every named record the caller may view must be editable by it (else nothing is
        written); ids that do not exist in the caller's workspace, or name records the
        caller may not view, are ignored, as Chroma ignores unknown ids (invariant 9).
        Tenancy keys may only be repeated with their stored values.
        """
        id_list = as_id_list(ids)
        n = len(id_list)
        metas = as_metadata_list(metadatas, n, required=False)
        embs = None if embeddings is None else await self._embeddings(embeddings, n)
        docs = _as_list(documents, "documents")
        uri_list = _as_list(uris, "uris")
        check_lengths(n, documents=docs, uris=uri_list, images=_as_seq(images))
        if embs is None and (docs is not None or images is not None or uri_list is not None):
            # Chroma would re-embed them with the collection's embedding function.
            raise InvalidInputError(
                "update() of documents, images or uris needs their embeddings: this suite "
                "never embeds implicitly. Pass embeddings= with them."
            )
        edit = await self.scope.access("edit")
        pids = [self._policy.physical_id(i) for i in id_list]
        stored = await self._stored(pids)
        # A record the caller may not view is an absent id (invariant 9).
        reached = await self._reachable(stored, edit)
        keep = [i for i, pid in enumerate(pids) if pid in reached]
        existing = {pos: stored[pids[i]] for pos, i in enumerate(keep)}
        if not keep:
            return
        kept_metas = None
        if metas is not None:
            kept_metas = self._policy.check_partial_update([metas[i] for i in keep], existing)
        await self._call(
            "update",
            ids=[pids[i] for i in keep],
            embeddings=_pick(embs, keep),
            metadatas=kept_metas,
            documents=_pick(docs, keep),
            images=_pick(_as_seq(images), keep),
            uris=_pick(uri_list, keep),
        )

    async def delete(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        where_document: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Result:
        """Delete records the caller may edit, by id and/or filter.

        Named ids of records the caller may not view are treated as absent (invariant 9);
        named records it may view but not edit raise
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted; a
        filter only ever matches editable records. Returns ``{"deleted": n}``.
        """
        if ids is None and where is None and where_document is None:
            raise InvalidInputError("delete() needs ids, where or where_document")
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        if limit is not None:
            check_positive_int(limit, what="limit")
        caller = self._caller_filter(where)
        _check_where_document(where_document)
        edit = await self.scope.access("edit")
        pids = None if id_list is None else [self._policy.physical_id(i) for i in id_list]
        if pids is not None:
            stored = await self._stored(pids)
            # Hidden records are absent ids (invariant 9); visible, uneditable ones raise.
            reached = await self._reachable(stored, edit)
            if not reached:
                return {"deleted": 0}
            pids = [pid for pid in pids if pid in reached]
        plan = plan_read(
            self._policy, edit, caller, strategy=self._strategy, max_ids_per_query=self._max_ids
        )
        if plan is None:
            return {"deleted": 0}
        targets: list[tuple[str, Where]] = []
        for flt in plan.filters:
            where_native = self._compiler.compile(flt)
            found = await self._call(
                "get",
                ids=pids,
                where=where_native,
                where_document=where_document,
                include=["metadatas"],
            )
            for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
                if self._policy.recheck(meta, edit, pid):
                    targets.append((pid, where_native))
        if limit is not None:
            targets = targets[:limit]
        # Invariant 10: the delete carries the edit filter, so a record that left the
        # caller's editable scope since it was selected is not deleted.
        by_filter: dict[int, tuple[Where, list[str]]] = {}
        for pid, where_native in targets:
            by_filter.setdefault(id(where_native), (where_native, []))[1].append(pid)
        for where_native, chosen in by_filter.values():
            for start in range(0, len(chosen), _ID_BATCH):
                await self._call(
                    "delete", ids=chosen[start : start + _ID_BATCH], where=where_native
                )
        return {"deleted": len(targets)}

    # -- reads -----------------------------------------------------------------------

    async def get(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        limit: int | None = None,
        offset: int | None = None,
        where_document: Mapping[str, Any] | None = None,
        include: Sequence[str] = _DEFAULT_GET_INCLUDE,
    ) -> Result:
        """Records the caller may view, in Chroma's ``GetResult`` shape."""
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        if limit is not None:
            check_positive_int(limit, what="limit")
        if offset is not None and (
            isinstance(offset, bool) or not isinstance(offset, int) or offset < 0
        ):
            raise InvalidInputError(f"offset must be a non-negative integer, got {offset!r}")
        wanted = _check_include(include, allowed=_INCLUDABLE - {"distances"})
        caller = self._caller_filter(where)
        _check_where_document(where_document)
        access = await self.scope.access("view")
        plan = plan_read(
            self._policy, access, caller, strategy=self._strategy, max_ids_per_query=self._max_ids
        )
        if plan is None or id_list == []:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return _empty_get(wanted)
        pids = None if id_list is None else [self._policy.physical_id(i) for i in id_list]
        single = len(plan.filters) == 1
        rows: list[dict[str, Any]] = []
        for flt in plan.filters:
            raw = await self._call(
                "get",
                ids=pids,
                where=self._compiler.compile(flt),
                where_document=where_document,
                limit=limit if single else (None if limit is None else (offset or 0) + limit),
                offset=offset if single else None,
                include=sorted(set(wanted) | {"metadatas"}),
            )
            rows.extend(_rows(raw, _GET_FIELDS))
        if not single:
            start = offset or 0
            rows = rows[start : None if limit is None else start + limit]
        kept = self._recheck(rows, access)
        self._policy.audit(
            strategy=plan.strategy,
            examined=len(rows),
            returned=len(kept),
            dropped=len(rows) - len(kept),
        )
        return _columns(kept, wanted, _GET_FIELDS)

    async def query(
        self,
        query_embeddings: Any = None,
        query_texts: str | Sequence[str] | None = None,
        query_images: Any = None,
        query_uris: str | Sequence[str] | None = None,
        ids: str | Sequence[str] | None = None,
        n_results: int = 10,
        where: Mapping[str, Any] | Filter | None = None,
        where_document: Mapping[str, Any] | None = None,
        include: Sequence[str] = _DEFAULT_QUERY_INCLUDE,
    ) -> Result:
        """Nearest neighbours among the records the caller may view (``QueryResult`` shape).

        Pass ``query_embeddings``; ``query_texts``/``images``/``uris`` are embedded by
        the collection's own embedding function, if it has one. The result is a
        :class:`ScopedQueryResult` (a dict with Chroma's keys) whose ``complete``
        attribute tells whether a post-filter filled ``n_results``.
        """
        check_positive_int(n_results, what="n_results")
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        wanted = _check_include(include, allowed=_INCLUDABLE)
        inputs = {
            "query_embeddings": query_embeddings,
            "query_texts": query_texts,
            "query_images": query_images,
            "query_uris": query_uris,
        }
        given = {name: value for name, value in inputs.items() if value is not None}
        if len(given) != 1:
            raise InvalidInputError(
                "pass exactly one of query_embeddings, query_texts, query_images, query_uris"
            )
        native_query: dict[str, Any] = {}
        if query_embeddings is not None:
            vectors = await self._embeddings(query_embeddings, None, what="query_embeddings")
            native_query["query_embeddings"] = vectors
            n_queries = len(vectors)
        else:
            ((name, value),) = given.items()
            native_query[name] = [value] if isinstance(value, str) else list(value)
            n_queries = len(native_query[name])
        caller = self._caller_filter(where)
        _check_where_document(where_document)
        access = await self.scope.access("view")
        plan = plan_read(
            self._policy,
            access,
            caller,
            strategy=self._strategy,
            max_ids_per_query=self._max_ids,
            k=n_results,
            postfilter_min_ids=self._postfilter_min_ids,
            overfetch=self._overfetch,
        )
        if plan is None or id_list == []:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return _empty_query(wanted, n_queries)
        pids = None if id_list is None else [self._policy.physical_id(i) for i in id_list]
        include_native = sorted(set(wanted) | {"metadatas", "distances"})
        merged: list[list[dict[str, Any]]] | None = None
        complete = True
        if plan.postfilter:
            post = plan
            gathered = await postfilter_top_k(
                post,
                n_results,
                n_queries,
                lambda fetch, which: self._candidates(
                    post, native_query, which, pids, fetch, where_document, include_native
                ),
                admit=lambda row: self._policy.recheck(
                    row.get("metadatas"), access, row["ids"], postfiltered=True
                ),
                key=lambda row: str(row["ids"]),
                distance=lambda row: float(row["distances"]),
            )
            complete = all(g.complete for g in gathered)
            if complete or plan.fallback is None:
                examined = sum(g.examined for g in gathered)
                merged = [self._logical(g.hits) for g in gathered]
            else:
                fallback = plan.fallback_plan()
                assert fallback is not None
                plan = fallback
        if merged is None:
            per_query: list[list[list[dict[str, Any]]]] = [[] for _ in range(n_queries)]
            for flt in plan.filters:
                raw = await self._call(
                    "query",
                    **native_query,
                    ids=pids,
                    n_results=n_results,
                    where=self._compiler.compile(flt),
                    where_document=where_document,
                    include=include_native,
                )
                for q in range(n_queries):
                    per_query[q].append(_rows(_nth(raw, q, _QUERY_FIELDS), _QUERY_FIELDS))
            examined = 0
            merged = []
            complete = True
            for runs in per_query:
                top = merge_top_k(runs, n_results, distance=lambda row: float(row["distances"]))
                examined += len(top)
                merged.append(self._recheck(top, access))
        returned = sum(len(rows) for rows in merged)
        self._policy.audit(
            strategy=plan.strategy,
            examined=examined,
            returned=returned,
            dropped=examined - returned,
            complete=complete,
        )
        out = ScopedQueryResult(included=list(wanted))
        for field in _QUERY_FIELDS:
            if field == "ids" or field in wanted:
                out[field] = [[row[field] for row in rows] for rows in merged]
            else:
                out[field] = None
        out.complete = complete
        return out

    async def _candidates(
        self,
        plan: ReadPlan,
        native_query: Mapping[str, list[Any]],
        which: list[int],
        pids: list[str] | None,
        fetch: int,
        where_document: Mapping[str, Any] | None,
        include: list[str],
    ) -> list[list[dict[str, Any]]]:
        """A post-filter's ``fetch`` nearest candidates in the workspace, per query index."""
        ((name, inputs),) = native_query.items()
        raw = await self._call(
            "query",
            **{name: [inputs[q] for q in which]},
            ids=pids,
            n_results=fetch,
            where=self._compiler.compile(plan.filters[0]),
            where_document=where_document,
            include=include,
        )
        return [_rows(_nth(raw, i, _QUERY_FIELDS), _QUERY_FIELDS) for i in range(len(which))]

    async def count(self) -> int:
        """How many records the caller may view (not the collection's total)."""
        got = await self.get(include=[])
        return len(got["ids"])

    async def peek(self, limit: int = 10) -> Result:
        """The first ``limit`` records the caller may view, with embeddings."""
        return await self.get(limit=limit, include=["embeddings", "documents", "metadatas"])

    # -- internals -------------------------------------------------------------------

    async def _write(
        self,
        op: str,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: Any,
        images: Any,
        uris: Any,
    ) -> None:
        id_list = as_id_list(ids)
        n = len(id_list)
        metas = as_metadata_list(metadatas, n, required=True)
        assert metas is not None
        embs = None if embeddings is None else await self._embeddings(embeddings, n)
        docs = _as_list(documents, "documents")
        uri_list = _as_list(uris, "uris")
        check_lengths(n, documents=docs, uris=uri_list, images=_as_seq(images))
        if embs is None:
            # Chroma would embed documents, images or uris with the collection's embedding
            # function (a model download, a network call): this suite never does.
            raise InvalidInputError(
                f"{op}() needs embeddings: this suite never embeds implicitly. Embed the "
                f"documents yourself and pass embeddings=."
            )
        edit = await self.scope.access("edit")
        pids = [self._policy.physical_id(i) for i in id_list]
        stored = await self._stored(pids)
        existing = {i: stored[pid] for i, pid in enumerate(pids) if pid in stored}
        if op == "add":
            # Chroma's add skips existing ids without a word; ours refuses them.
            refuse_existing_ids([id_list[i] for i in existing])
        stamped = self._policy.stamp(metas, edit, existing)
        self._policy.check_ids(id_list, stamped)
        await self._policy.authorize_resources(edit, {m[self.scope.resource_key] for m in stamped})
        self._policy.authorize_write(edit, existing=existing.values())
        columns: dict[str, Sequence[Any] | None] = {
            "embeddings": embs,
            "metadatas": stamped,
            "documents": docs,
            "images": _as_seq(images),
            "uris": uri_list,
        }
        await self._write_checked(op, pids, stored, columns)

    async def _write_checked(
        self,
        op: str,
        pids: list[str],
        stored: Mapping[str, ExistingRecord],
        columns: Mapping[str, Sequence[Any] | None],
    ) -> None:
        """Apply an authorized ``add``/``upsert`` so that it never overwrites a record the
        check did not see (invariant 10).

        Chroma has no conditional upsert, but its ``delete`` takes a ``where`` and its
        ``add`` never replaces a stored id. So a record to replace is deleted under the
        condition that it still belongs to the workspace and to the resource the check
        saw, then every record goes in with ``add``, and the ids are read back. An id
        holding another writer's record (changed or created after the check, so the
        delete or the ``add`` skipped it) raises :class:`WriteConflictError` once this
        call's records are removed and the replaced ones put back (again with ``add``, so
        the other writer's record stays). What is left is in ``docs/security.md``.
        """
        # Chroma's add leaves existing ids as they are (as natively): only upsert replaces.
        known = [] if op == "add" else [i for i, pid in enumerate(pids) if pid in stored]
        fresh = [i for i, pid in enumerate(pids) if pid not in stored]
        snapshots = await self._snapshots([pids[i] for i in known])
        conflict = WriteConflictError(
            "another writer created, changed or removed a record with one of these ids "
            "after the write was checked; it was left as it is and nothing of this call "
            "was written. Read again and retry."
        )
        if any(
            self._existing(snapshots.get(pids[i], {}).get("metadatas")) != stored[pids[i]]
            for i in known
        ):
            raise conflict
        if known:
            resources = sorted({str(stored[pids[i]].resource_id) for i in known})
            still: Where = {
                "$and": [
                    {WORKSPACE_KEY: {"$eq": self.scope.workspace_id}},
                    {self.scope.resource_key: {"$in": resources}},
                ]
            }
            await self._call("delete", ids=[pids[i] for i in known], where=still)
        written = sorted(fresh + known)
        await self._call("add", **_subset(pids, columns, written))
        metas = columns["metadatas"]
        assert metas is not None
        after = await self._snapshots([pids[i] for i in written], include=["metadatas"])
        ours = [
            pids[i] for i in written if _holds(after.get(pids[i], {}).get("metadatas"), metas[i])
        ]
        if len(ours) == len(written):
            return
        try:
            for start in range(0, len(ours), _ID_BATCH):
                await self._call("delete", ids=ours[start : start + _ID_BATCH])
            rows = [snapshots[pids[i]] for i in known]
            if rows:
                await self._call("add", **_restore_columns(rows))
        except Exception as undo:
            conflict.add_note(f"sentinel-vectors: undoing the write failed too: {undo!r}")
        raise conflict

    async def _snapshots(
        self,
        pids: list[str],
        include: Sequence[str] = ("embeddings", "metadatas", "documents", "uris"),
    ) -> dict[str, dict[str, Any]]:
        """Stored records under these physical ids, one row dict per id."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(pids), _ID_BATCH):
            raw = await self._call(
                "get", ids=pids[start : start + _ID_BATCH], include=list(include)
            )
            for row in _rows(raw, _GET_FIELDS):
                out[row["ids"]] = row
        return out

    def _existing(self, meta: Mapping[str, Any] | None) -> ExistingRecord:
        meta = meta or {}
        return ExistingRecord(
            workspace_id=meta.get(WORKSPACE_KEY),
            resource_id=meta.get(self.scope.resource_key),
            owner_id=meta.get(OWNER_KEY),
        )

    def _caller_filter(self, where: Mapping[str, Any] | Filter | None) -> Filter | None:
        flt = as_filter(where)
        self._policy.check_caller_filter(flt)
        return flt

    def _logical(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows already admitted by the re-check, with the caller's ids."""
        for row in rows:
            row["ids"] = self._policy.logical_id(row["ids"])
        return rows

    def _recheck(self, rows: list[dict[str, Any]], access: Access) -> list[dict[str, Any]]:
        kept = []
        for row in rows:
            if self._policy.recheck(row.get("metadatas"), access, row["ids"]):
                row["ids"] = self._policy.logical_id(row["ids"])
                kept.append(row)
        return kept

    async def _stored(self, pids: list[str]) -> dict[str, ExistingRecord]:
        """Tenancy keys of the records that already exist under these physical ids."""
        out: dict[str, ExistingRecord] = {}
        for start in range(0, len(pids), _ID_BATCH):
            raw = await self._call(
                "get", ids=pids[start : start + _ID_BATCH], include=["metadatas"]
            )
            for pid, meta in zip(raw["ids"], raw["metadatas"] or [], strict=True):
                out[pid] = self._existing(meta)
        return out

    async def _reachable(self, found: Mapping[str, ExistingRecord], edit: Access) -> set[str]:
        """The found records (by physical id) an update/delete by id acts on.

        The core decides (:meth:`TenancyPolicy.reachable`); ``view`` is asked only when
        some record is not editable.
        """
        if not found:
            return set()
        view = edit
        if any(not edit.allows(r.resource_id) for r in found.values()):
            view = await self.scope.access("view")
        named = {self._policy.logical_id(pid): pid for pid in found}
        keys = self._policy.reachable({n: found[p] for n, p in named.items()}, edit, view)
        return {named[n] for n in keys}

    # -- internals: whole resources (the lifecycle's chunk index) --------------------

    async def _resource_ids(self, resource_id: str, action: Action) -> list[str]:
        """Physical ids of every record of one resource in the workspace, if reachable."""
        access = await self.scope.access(action)
        flt = self._policy.resource_filter(access, resource_id)
        if flt is None:
            return []
        raw = await self._call("get", where=self._compiler.compile(flt), include=["metadatas"])
        return [
            pid
            for pid, meta in zip(raw["ids"], raw["metadatas"] or [], strict=True)
            if self._policy.recheck(meta, access, pid)
        ]

    async def _remove_resource(self, resource_id: str, keep: Collection[str] = ()) -> int:
        """Delete every record of the resource but ``keep`` (caller ids), if editable."""
        kept = {self._policy.physical_id(i) for i in keep}
        targets = [p for p in await self._resource_ids(resource_id, "edit") if p not in kept]
        flt = self._policy.resource_filter(await self.scope.access("edit"), resource_id)
        if flt is None:
            return 0
        for start in range(0, len(targets), _ID_BATCH):
            await self._call(
                "delete",
                ids=targets[start : start + _ID_BATCH],
                where=self._compiler.compile(flt),
            )
        return len(targets)

    async def _resource_owners(self, resource_id: str) -> set[object]:
        """Owners of the resource's records in the workspace, whatever the caller may see.

        For the lifecycle's claim check only; never returned to a caller.
        """
        full = Access(action="view", full=True, resource_ids=frozenset())
        flt = self._policy.resource_filter(full, resource_id)
        assert flt is not None
        raw = await self._call("get", where=self._compiler.compile(flt), include=["metadatas"])
        return {(meta or {}).get(OWNER_KEY) for meta in raw["metadatas"] or []}

    async def _embeddings(
        self, embeddings: Any, n: int | None, *, what: str = "embeddings"
    ) -> list[list[float]]:
        if self._dimension is None:
            self._dimension = await self._stored_dimension()
        return as_embeddings(embeddings, n=n, dimension=self._dimension, what=what)

    async def _stored_dimension(self) -> int | None:
        # Any stored vector tells the collection's dimension; it is never returned.
        raw = await self._call("get", limit=1, include=["embeddings"])
        vectors = raw.get("embeddings")
        if vectors is None or len(vectors) == 0:
            return None
        return len(vectors[0])

    async def _call(self, method: str, **kwargs: Any) -> Any:
        fn: Callable[..., Any] = getattr(self._collection, method)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            if self._is_async:
                return await fn(**kwargs)
            return await asyncio.to_thread(fn, **kwargs)
        except Exception as exc:
            if is_store_outage(exc):
                # Not the identity service: Chroma itself, or the model download Chroma's
                # default embedding function starts when documents come without vectors.
                raise StoreUnavailableError(
                    f"Chroma could not be reached during {method}() "
                    f"({type(exc).__name__}: {exc}). If the collection embeds documents "
                    f"itself, its embedding model may be downloading: pass embeddings= "
                    f"(sentinel-vectors never embeds implicitly).",
                    store="chroma",
                ) from exc
            if "dimension" in str(exc).lower():
                raise DimensionMismatchError(
                    f"Chroma refused the vectors: {exc}. Nothing was written."
                ) from exc
            raise


def _subset(
    pids: list[str], columns: Mapping[str, Sequence[Any] | None], keep: list[int]
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


_DOCUMENT_OPS = frozenset({"$contains", "$not_contains", "$regex", "$not_regex"})


def _check_where_document(where: object, *, depth: int = 0) -> None:
    """Refuse a malformed ``where_document`` with :class:`FilterError` before Chroma sees it.

    It only narrows a read or delete (Chroma ANDs it with ``where``); this is about a
    typed error instead of Chroma's ``ValueError``.
    """
    if where is None and depth == 0:
        return
    if not isinstance(where, Mapping) or len(where) != 1:
        raise FilterError(
            "where_document must be a dict with one operator ($contains, $not_contains, "
            f"$regex, $not_regex, $and, $or), got {where!r}"
        )
    ((op, value),) = where.items()
    if op in _DOCUMENT_OPS:
        if not isinstance(value, str) or not value or "\x00" in value:
            raise FilterError(f"where_document {op} takes a non-empty string, got {value!r}")
    elif op in ("$and", "$or"):
        if not isinstance(value, list) or not value:
            raise FilterError(f"where_document {op} takes a non-empty list of filters")
        for item in value:
            _check_where_document(item, depth=depth + 1)
    else:
        raise FilterError(f"where_document has an unknown operator {op!r}")


def _as_list(value: Any, what: str) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence):
        raise InvalidInputError(f"{what} must be a string or a list of strings")
    for item in value:
        if not isinstance(item, str):
            raise InvalidInputError(f"{what} must be strings, got {type(item).__name__}")
    return list(value)


def _as_seq(value: Any) -> Sequence[Any] | None:
    return None if value is None else cast(Sequence[Any], value)


def _pick(column: Sequence[Any] | None, keep: list[int]) -> list[Any] | None:
    return None if column is None else [column[i] for i in keep]


def _check_include(include: Sequence[str], *, allowed: frozenset[str]) -> tuple[str, ...]:
    if isinstance(include, str) or not isinstance(include, Sequence):
        raise InvalidInputError(f"include must be a list of field names, got {include!r}")
    for item in include:
        if item not in allowed:
            raise InvalidInputError(f"include may contain {sorted(allowed)}, got {item!r}")
    return tuple(dict.fromkeys(include))


def _rows(raw: Mapping[str, Any], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Chroma's columnar result -> one dict per record."""
    ids = list(raw["ids"])
    rows: list[dict[str, Any]] = [{"ids": pid} for pid in ids]
    for field in fields:
        column = raw.get(field)
        if field == "ids" or column is None:
            continue
        for row, value in zip(rows, column, strict=True):
            row[field] = value
    return rows


def _nth(raw: Mapping[str, Any], q: int, fields: Sequence[str]) -> dict[str, Any]:
    """The q-th query's columns of a batched ``QueryResult``."""
    return {f: (None if raw.get(f) is None else raw[f][q]) for f in fields}


def _columns(rows: list[dict[str, Any]], wanted: Sequence[str], fields: Sequence[str]) -> Result:
    out: Result = {"included": list(wanted)}
    for field in fields:
        if field == "ids" or field in wanted:
            out[field] = [row.get(field) for row in rows]
        else:
            out[field] = None
    return out


def _empty_get(wanted: Sequence[str]) -> Result:
    return _columns([], wanted, _GET_FIELDS)


def _empty_query(wanted: Sequence[str], n_queries: int) -> Result:
    out = ScopedQueryResult(included=list(wanted))
    for field in _QUERY_FIELDS:
        out[field] = [[] for _ in range(n_queries)] if field == "ids" or field in wanted else None
    return out
