"""What the async and the sync scoped collection share: every method, as a workflow.

:class:`ScopedCollectionBase` checks a call's arguments, builds the call's source or
target (:mod:`sentinel_vectors_chroma.native`) and returns the engine's workflow for it
(:mod:`sentinel_vectors.engine`), finished into Chroma's result shape. It runs nothing:
:class:`~sentinel_vectors_chroma.collection.ScopedCollection` drives the workflow with
:func:`sentinel_vectors.drive.run_async`,
:class:`~sentinel_vectors_chroma.sync.SyncScopedCollection` with
:func:`sentinel_vectors.drive.run_sync`. So the two forms are one code, and a method
exists once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from sentinel_vectors import engine
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.engine import ReadSettings, Step
from sentinel_vectors.engine.resources import remove_resource, resource_owners, resource_records
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter, FilterCompiler, as_filter
from sentinel_vectors.policy import TenancyPolicy
from sentinel_vectors.scope import Action, Scope
from sentinel_vectors.strategy import DEFAULT_MAX_IDS_PER_QUERY, OverFetch, StrategyName
from sentinel_vectors.validation import (
    as_embeddings,
    as_id_list,
    as_metadata_list,
    check_lengths,
    check_positive_int,
)
from sentinel_vectors_chroma.arguments import (
    as_seq,
    as_str_list,
    check_include,
    check_offset,
    check_where_document,
)
from sentinel_vectors_chroma.compiler import ChromaWhereCompiler, Where
from sentinel_vectors_chroma.native import (
    ChromaCalls,
    ChromaDelete,
    ChromaListing,
    ChromaPut,
    ChromaSearch,
    ChromaUpdate,
)
from sentinel_vectors_chroma.results import (
    INCLUDABLE,
    Result,
    ScopedQueryResult,
    get_result,
    query_result,
)

__all__ = ["DEFAULT_POSTFILTER_MIN_IDS", "ScopedCollectionBase"]

DEFAULT_POSTFILTER_MIN_IDS: int | None = 20_001
"""Accessible-list size from which ``auto`` post-filters a ``query`` on Chroma.

See ``docs/benchmarks.md``: below it the ``IN`` pre-filter is faster than a workspace
query; above ``max_ids_per_query`` the pre-filter needs several queries, and a post-filter
that fills ``k`` within its over-fetch is one query on the workspace.
"""

Columns = dict[str, Sequence[Any] | None]


class ScopedCollectionBase:
    """A Chroma collection bound to one caller's workspace and permissions.

    The arguments are :class:`~sentinel_vectors_chroma.ScopedCollection`'s; each method
    here returns the workflow of one public method, which the subclass drives.

    Args:
        collection: a ``chromadb`` collection (which kind: see the subclasses).
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
        self._policy = TenancyPolicy(scope, collection=str(getattr(collection, "name", "?")))
        self._chroma = ChromaCalls(
            collection, compiler or ChromaWhereCompiler(), scope.resource_key
        )
        if overfetch is not None and not isinstance(overfetch, OverFetch):
            raise InvalidInputError("overfetch must be a sentinel_vectors.strategy.OverFetch")
        self._settings = ReadSettings(
            strategy=strategy,
            max_ids_per_query=check_positive_int(max_ids_per_query, what="max_ids_per_query"),
            postfilter_min_ids=(
                None
                if postfilter_min_ids is None
                else check_positive_int(postfilter_min_ids, what="postfilter_min_ids")
            ),
            overfetch=overfetch,
        )
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
            f"{type(self).__name__}(name={self.name!r}, workspace_id={scope.workspace_id!r}, "
            f"user_id={scope.user_id!r}, resource_type={scope.resource_type!r})"
        )

    # -- writes ----------------------------------------------------------------------

    def _put(
        self,
        op: Literal["add", "upsert"],
        ids: Any,
        embeddings: Any,
        metadatas: Any,
        documents: Any,
        images: Any,
        uris: Any,
    ) -> Step[None]:
        """``add``/``upsert``: stamped, authorized, written conditionally."""
        id_list = as_id_list(ids)
        metas = as_metadata_list(metadatas, len(id_list), required=True)
        assert metas is not None
        columns = _own_columns(len(id_list), documents, images, uris)
        if embeddings is None:
            # Chroma would embed documents, images or uris with the collection's embedding
            # function (a model download, a network call): this suite never does.
            raise InvalidInputError(
                f"{op}() needs embeddings: this suite never embeds implicitly. Embed the "
                f"documents yourself and pass embeddings=."
            )
        columns["embeddings"] = yield from self._vectors(embeddings, len(id_list))
        pids = [self._policy.physical_id(i) for i in id_list]
        target = ChromaPut(self._chroma, pids, columns, self.scope.workspace_id)
        yield from engine.put(self._policy, target, op, ids=id_list, pids=pids, metadatas=metas)

    def _update(
        self, ids: Any, embeddings: Any, metadatas: Any, documents: Any, images: Any, uris: Any
    ) -> Step[None]:
        """``update``: reachable records in place; tenancy keys only repeated."""
        id_list = as_id_list(ids)
        metas = as_metadata_list(metadatas, len(id_list), required=False)
        columns = _own_columns(len(id_list), documents, images, uris)
        if embeddings is None and any(column is not None for column in columns.values()):
            # Chroma would re-embed them with the collection's embedding function.
            raise InvalidInputError(
                "update() of documents, images or uris needs their embeddings: this suite "
                "never embeds implicitly. Pass embeddings= with them."
            )
        if embeddings is not None:
            columns["embeddings"] = yield from self._vectors(embeddings, len(id_list))
        pids = [self._policy.physical_id(i) for i in id_list]
        target = ChromaUpdate(self._chroma, pids, columns)
        yield from engine.update(self._policy, target, ids=id_list, pids=pids, metadatas=metas)

    def _delete(
        self,
        ids: Any,
        where: Mapping[str, Any] | Filter | None,
        where_document: Mapping[str, Any] | None,
        limit: int | None,
    ) -> Step[Result]:
        """``delete``: editable records by id and/or filter; ``{"deleted": n}``."""
        if ids is None and where is None and where_document is None:
            raise InvalidInputError("delete() needs ids, where or where_document")
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        if limit is not None:
            check_positive_int(limit, what="limit")
        caller = self._caller_filter(where)
        check_where_document(where_document)
        pids = None if id_list is None else [self._policy.physical_id(i) for i in id_list]
        deleted = yield from engine.delete(
            self._policy,
            ChromaDelete(self._chroma, where_document),
            ids=id_list,
            pids=pids,
            caller=caller,
            strategy=self._settings.strategy,
            max_ids_per_query=self._settings.max_ids_per_query,
            limit=limit,
        )
        return {"deleted": len(deleted)}

    # -- reads -----------------------------------------------------------------------

    def _get(
        self,
        ids: Any,
        where: Mapping[str, Any] | Filter | None,
        limit: int | None,
        offset: int | None,
        where_document: Mapping[str, Any] | None,
        include: Sequence[str],
    ) -> Step[Result]:
        """``get``/``peek``: records the caller may view, in Chroma's ``GetResult`` shape."""
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        if limit is not None:
            check_positive_int(limit, what="limit")
        offset = check_offset(offset)
        wanted = check_include(include, allowed=INCLUDABLE - {"distances"})
        caller = self._caller_filter(where)
        check_where_document(where_document)
        pids = None if id_list is None else [self._policy.physical_id(i) for i in id_list]
        source = ChromaListing(self._chroma, pids, where_document, wanted)
        listed = yield from engine.listing(
            self._policy, source, caller=caller, settings=self._settings, limit=limit, offset=offset
        )
        return get_result(listed.rows, wanted, self._policy.logical_id)

    def _query(
        self,
        query_embeddings: Any,
        query_texts: Any,
        query_images: Any,
        query_uris: Any,
        ids: Any,
        n_results: int,
        where: Mapping[str, Any] | Filter | None,
        where_document: Mapping[str, Any] | None,
        include: Sequence[str],
    ) -> Step[ScopedQueryResult]:
        """``query``: nearest neighbours the caller may view (``QueryResult`` shape)."""
        check_positive_int(n_results, what="n_results")
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        wanted = check_include(include, allowed=INCLUDABLE)
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
        ((name, value),) = given.items()
        values: list[Any]
        if name == "query_embeddings":
            values = yield from self._vectors(value, None, what="query_embeddings")
        else:
            values = [value] if isinstance(value, str) else list(value)
        caller = self._caller_filter(where)
        check_where_document(where_document)
        pids = None if id_list is None else [self._policy.physical_id(i) for i in id_list]
        include_native = sorted({*wanted, "metadatas", "distances"})
        source = ChromaSearch(self._chroma, (name, values), pids, where_document, include_native)
        found = yield from engine.top_k(
            self._policy,
            source,
            k=n_results,
            n_queries=len(values),
            caller=caller,
            settings=self._settings,
        )
        return query_result(found.hits, wanted, self._policy.logical_id, complete=found.complete)

    def _count(self) -> Step[int]:
        """``count``: how many records the caller may view."""
        counted = yield from engine.counting(
            self._policy, ChromaListing(self._chroma), caller=None, settings=self._settings
        )
        return counted.count

    # -- whole resources (the lifecycle's chunk index) -------------------------------

    def _resource_ids_step(self, resource_id: str, action: Action) -> Step[list[str]]:
        """Physical ids of every record of one resource in the workspace, if reachable."""
        return resource_records(self._policy, ChromaListing(self._chroma), resource_id, action)

    def _remove_resource_step(self, resource_id: str, keep: Collection[str]) -> Step[int]:
        """Delete every record of the resource but ``keep`` (caller ids), if editable."""
        kept = [self._policy.physical_id(i) for i in keep]
        return remove_resource(self._policy, ChromaDelete(self._chroma), resource_id, kept)

    def _resource_owners_step(self, resource_id: str) -> Step[set[object]]:
        """Owners of the resource's records in the workspace (for the claim check only)."""
        return resource_owners(self._policy, ChromaListing(self._chroma), resource_id)

    # -- internals -------------------------------------------------------------------

    def _caller_filter(self, where: Mapping[str, Any] | Filter | None) -> Filter | None:
        flt = as_filter(where)
        self._policy.check_caller_filter(flt)
        return flt

    def _vectors(
        self, embeddings: Any, n: int | None, *, what: str = "embeddings"
    ) -> Step[list[list[float]]]:
        """Checked vectors, of the collection's dimension once one is stored."""
        if self._dimension is None:
            # Any stored vector tells the collection's dimension; it is never returned.
            raw = yield self._chroma.call("get", limit=1, include=["embeddings"])
            vectors = raw.get("embeddings")
            if vectors is not None and len(vectors) > 0:
                self._dimension = len(vectors[0])
        return as_embeddings(embeddings, n=n, dimension=self._dimension, what=what)


def _own_columns(n: int, documents: Any, images: Any, uris: Any) -> Columns:
    """A write's ``documents``, ``images`` and ``uris`` columns, checked: one per id."""
    docs = as_str_list(documents, "documents")
    uri_list = as_str_list(uris, "uris")
    check_lengths(n, documents=docs, uris=uri_list, images=as_seq(images))
    return {"documents": docs, "images": as_seq(images), "uris": uri_list}
