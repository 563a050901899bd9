"""``ScopedQdrantClient`` and ``SyncScopedQdrantClient``: Qdrant clients that only ever see
the caller's scope.

They keep ``QdrantClient``'s method names and arguments for point operations (``upsert``,
``upload_points``, ``query_points``, ``query_batch_points``, ``query_points_groups``,
``scroll``, ``retrieve``, ``count``, ``facet``, ``delete``, ``set_payload``,
``overwrite_payload``, ``delete_payload``, ``clear_payload``, ``update_vectors``,
``delete_vectors``): as coroutines on :class:`ScopedQdrantClient` (over an
``AsyncQdrantClient``, or a sync ``QdrantClient`` whose calls run in a worker thread), as
blocking methods on :class:`SyncScopedQdrantClient` (over a ``QdrantClient``). Nothing
else of the native client is reachable through them: collection administration goes
through :func:`sentinel_vectors_qdrant.ensure_collection` or the native client, outside
the scope.

One code, two drivers: every operation is written once in :class:`QdrantOperations` as
a workflow (a generator of :mod:`sentinel_vectors.engine` effects: ask the permission
service, call the native client); each method of the two clients runs it with
:func:`sentinel_vectors.drive.run_async` or :func:`sentinel_vectors.drive.run_sync`.
Every tenancy decision is made by :class:`sentinel_vectors.policy.TenancyPolicy`. The
operations live by responsibility: :mod:`~sentinel_vectors_qdrant.reads`,
:mod:`~sentinel_vectors_qdrant.upserts`, :mod:`~sentinel_vectors_qdrant.updates`,
:mod:`~sentinel_vectors_qdrant.resources`, over :mod:`~sentinel_vectors_qdrant.base`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Literal

import anyio.from_thread
from anyio.lowlevel import EventLoopToken
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.drive import call_blocking, run_async, run_sync
from sentinel_vectors.engine import Step
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import FilterCompiler
from sentinel_vectors.placement import Placement
from sentinel_vectors.scope import Scope
from sentinel_vectors.strategy import OverFetch, StrategyName
from sentinel_vectors_qdrant.base import (
    DEFAULT_POSTFILTER_MIN_IDS,
    LOCAL_POSTFILTER_MIN_IDS,
)
from sentinel_vectors_qdrant.compiler import QdrantCondition
from sentinel_vectors_qdrant.reads import Reads
from sentinel_vectors_qdrant.resources import Resources
from sentinel_vectors_qdrant.results import ScopedQueryResponse
from sentinel_vectors_qdrant.updates import PointsSelectorArg, Updates
from sentinel_vectors_qdrant.upserts import Upserts

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "LOCAL_POSTFILTER_MIN_IDS",
    "PointsSelectorArg",
    "QdrantOperations",
    "ScopedQdrantClient",
    "ScopedQueryResponse",
    "SyncScopedQdrantClient",
]


class QdrantOperations(Upserts, Updates, Reads, Resources):
    """Every operation of the scoped clients, once, as a workflow of effects.

    Each method has the native name and arguments and returns a generator that yields
    :mod:`sentinel_vectors.engine` effects; :class:`ScopedQdrantClient` and
    :class:`SyncScopedQdrantClient` drive it. The arguments are the clients'.
    """


class _Facade:
    """What both clients share: the operations and the caller's scope."""

    _ops: QdrantOperations

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        return self._ops.scope

    @property
    def violations(self) -> int:
        """Hits dropped by the per-hit re-check since this wrapper was built (should be 0)."""
        return self._ops.violations

    @property
    def placement(self) -> Placement:
        """The placement setting (``shared`` unless one was given)."""
        return self._ops._routing.placement

    def __repr__(self) -> str:
        scope = self._ops.scope
        return (
            f"{type(self).__name__}(workspace_id={scope.workspace_id!r}, "
            f"user_id={scope.user_id!r}, resource_type={scope.resource_type!r})"
        )


type _Refuse = Callable[[QdrantOperations, tuple[Any, ...], dict[str, Any]], None]


def _refusing(flow: Callable[..., Any]) -> _Refuse:
    """The check a method runs before its workflow: no shard key of the caller's own
    under a forced placement (:meth:`ShardRouting.refuse`), in any argument."""
    signature = inspect.signature(flow)

    def refuse(ops: QdrantOperations, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not ops._routing.forced:
            return
        try:
            bound = signature.bind(ops, *args, **kwargs)
        except TypeError:
            return  # the workflow's own call raises the same TypeError, before any request
        ops._routing.refuse(bound.arguments)

    return refuse


def _awaited[**P, T](
    flow: Callable[Concatenate[QdrantOperations, P], Step[T]],
) -> Callable[Concatenate[ScopedQdrantClient, P], Coroutine[Any, Any, T]]:
    """The async method of ``flow``: the workflow run by the async driver."""
    refuse = _refusing(flow)

    async def method(self: ScopedQdrantClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        ops = self._ops
        refuse(ops, args, kwargs)
        return await run_async(flow(ops, *args, **kwargs), ops.scope, translate=ops._translate)

    functools.update_wrapper(method, flow)  # the name and docstring of the operation
    return method


def _blocking[**P, T](
    flow: Callable[Concatenate[QdrantOperations, P], Step[T]],
) -> Callable[Concatenate[SyncScopedQdrantClient, P], T]:
    """The blocking method of ``flow``: the workflow run by the blocking driver."""
    refuse = _refusing(flow)

    def method(self: SyncScopedQdrantClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        ops = self._ops
        refuse(ops, args, kwargs)
        return run_sync(
            flow(ops, *args, **kwargs),
            ops.scope,
            blocking=self._call_blocking,
            translate=ops._translate,
        )

    functools.update_wrapper(method, flow)  # the name and docstring of the operation
    return method


class ScopedQdrantClient(_Facade):
    """A Qdrant client bound to one caller's workspace and permissions (async methods).

    Args:
        client: a ``qdrant_client.AsyncQdrantClient`` or ``QdrantClient``.
        auth: the request's ``sentinel_auth.RequestAuth`` (any :class:`AuthContext`).
        resource_type: the Sentinel resource type of the points' parent (``"document"``).
        resource_key: the payload key naming each point's resource id.
        timeout: seconds to wait for the permission service before failing closed.
        search_params: default ``search_params`` for queries that pass none (for
            example ACORN: ``models.SearchParams(acorn=models.AcornSearchParams(enable=True))``
            on servers that support it).
        strategy: force a read strategy for ``query_points`` (see
            :mod:`sentinel_vectors.strategy`); other reads always pre-filter.
        postfilter_min_ids: accessible-list size from which ``auto`` post-filters
            ``query_points`` (``None``: never). Default: :data:`DEFAULT_POSTFILTER_MIN_IDS`
            on a server and qdrant-edge, :data:`LOCAL_POSTFILTER_MIN_IDS` in local mode.
        overfetch: the post-filter's fetch schedule.
        compiler: the filter compiler (a seam for tests and extensions).
        placement: where workspaces live (:mod:`sentinel_vectors_qdrant.placement`):
            ``None``/``shared`` sends requests as they are (a caller's
            ``shard_key_selector`` passes through); ``per_tenant`` and ``tiered`` force
            the scope's shard key on every request and refuse any shard key the caller
            sets (:class:`~sentinel_vectors.errors.ReservedKeyError`, nothing sent). A
            non-shared placement needs a Qdrant server: on qdrant-edge or local mode it is
            :class:`~sentinel_vectors.errors.UnsupportedError` here, at construction.

    Point ids are stored as ``uuid5(namespace, "<workspace_id>:<id>")`` so ids never
    collide across workspaces; the caller's id is kept in the payload and returned as
    written. Filters may be ``models.Filter`` (nested under the tenancy filter, so they
    only narrow) or a :mod:`sentinel_vectors.filters` node. The methods are documented
    on :class:`QdrantOperations` (same names and arguments, awaited here).
    """

    def __init__(
        self,
        client: AsyncQdrantClient | QdrantClient,
        auth: AuthContext | None,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        timeout: float = 5.0,
        search_params: models.SearchParams | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | Literal["default"] | None = "default",
        overfetch: OverFetch | None = None,
        compiler: FilterCompiler[QdrantCondition] | None = None,
        placement: Placement | None = None,
    ) -> None:
        self._ops = QdrantOperations(
            client,
            auth,
            resource_type=resource_type,
            resource_key=resource_key,
            timeout=timeout,
            search_params=search_params,
            strategy=strategy,
            postfilter_min_ids=postfilter_min_ids,
            overfetch=overfetch,
            compiler=compiler,
            placement=placement,
        )

    upsert = _awaited(QdrantOperations.upsert)
    upload_points = _awaited(QdrantOperations.upload_points)
    update_vectors = _awaited(QdrantOperations.update_vectors)
    delete = _awaited(QdrantOperations.delete)
    delete_vectors = _awaited(QdrantOperations.delete_vectors)
    set_payload = _awaited(QdrantOperations.set_payload)
    overwrite_payload = _awaited(QdrantOperations.overwrite_payload)
    clear_payload = _awaited(QdrantOperations.clear_payload)
    delete_payload = _awaited(QdrantOperations.delete_payload)
    query_points = _awaited(QdrantOperations.query_points)
    query_batch_points = _awaited(QdrantOperations.query_batch_points)
    query_points_groups = _awaited(QdrantOperations.query_points_groups)
    scroll = _awaited(QdrantOperations.scroll)
    retrieve = _awaited(QdrantOperations.retrieve)
    count = _awaited(QdrantOperations.count)
    facet = _awaited(QdrantOperations.facet)
    # The chunk index's whole-resource operations (sentinel_vectors_qdrant.binding).
    _remove_resource = _awaited(QdrantOperations._remove_resource)
    _count_resource = _awaited(QdrantOperations._count_resource)
    _resource_owners = _awaited(QdrantOperations._resource_owners)


class SyncScopedQdrantClient(_Facade):
    """The same client with blocking methods, over a sync ``QdrantClient``.

    Arguments as :class:`ScopedQdrantClient`, plus how a blocking call reaches the event
    loop that owns the permission client (Sentinel's ``RequestAuth`` is async; see
    :func:`sentinel_vectors.drive.call_blocking`): from a worker thread of that loop (a
    FastAPI ``def`` route, ``anyio.to_thread.run_sync``) automatically, or through
    ``portal`` (an ``anyio.from_thread.BlockingPortal``) or ``loop_token``
    (``anyio.lowlevel.current_token()`` taken on that loop). Calling it on an event loop
    thread is refused: it would block the loop.
    """

    def __init__(
        self,
        client: QdrantClient,
        auth: AuthContext | None,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        timeout: float = 5.0,
        search_params: models.SearchParams | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | Literal["default"] | None = "default",
        overfetch: OverFetch | None = None,
        compiler: FilterCompiler[QdrantCondition] | None = None,
        placement: Placement | None = None,
        portal: anyio.from_thread.BlockingPortal | None = None,
        loop_token: EventLoopToken | None = None,
    ) -> None:
        if isinstance(client, AsyncQdrantClient):
            raise InvalidInputError(
                "SyncScopedQdrantClient needs a qdrant_client.QdrantClient; for an "
                "AsyncQdrantClient use ScopedQdrantClient"
            )
        self._ops = QdrantOperations(
            client,
            auth,
            resource_type=resource_type,
            resource_key=resource_key,
            timeout=timeout,
            search_params=search_params,
            strategy=strategy,
            postfilter_min_ids=postfilter_min_ids,
            overfetch=overfetch,
            compiler=compiler,
            placement=placement,
        )
        self._portal = portal
        self._loop_token = loop_token

    def _call_blocking(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        return call_blocking(
            fn,
            portal=self._portal,
            loop_token=self._loop_token,
            what="SyncScopedQdrantClient",
            use_async="ScopedQdrantClient",
        )

    upsert = _blocking(QdrantOperations.upsert)
    upload_points = _blocking(QdrantOperations.upload_points)
    update_vectors = _blocking(QdrantOperations.update_vectors)
    delete = _blocking(QdrantOperations.delete)
    delete_vectors = _blocking(QdrantOperations.delete_vectors)
    set_payload = _blocking(QdrantOperations.set_payload)
    overwrite_payload = _blocking(QdrantOperations.overwrite_payload)
    clear_payload = _blocking(QdrantOperations.clear_payload)
    delete_payload = _blocking(QdrantOperations.delete_payload)
    query_points = _blocking(QdrantOperations.query_points)
    query_batch_points = _blocking(QdrantOperations.query_batch_points)
    query_points_groups = _blocking(QdrantOperations.query_points_groups)
    scroll = _blocking(QdrantOperations.scroll)
    retrieve = _blocking(QdrantOperations.retrieve)
    count = _blocking(QdrantOperations.count)
    facet = _blocking(QdrantOperations.facet)
