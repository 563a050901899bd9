"""The tiered Chroma wrappers: each operation placed by the placement registry.

Under a ``tiered`` placement a workspace lives in the shared collection ``base`` until
:func:`~sentinel_vectors_chroma.promotion.promote_workspace` moves it into its own
``<base>__ws_<hex>``. :class:`TieredCollection` (async) and :class:`SyncTieredCollection`
are the scoped collections for that: the same methods, workflows and checks as
:class:`~sentinel_vectors_chroma.ScopedCollection`, over a routing stand-in for the native
collection. At the start of each operation the wrapper reads the workspace's state in
the registry (:mod:`sentinel_vectors_chroma.promotion`) and picks the one collection the
whole operation runs on:

* absent: the shared collection (reads and writes);
* ``moving``: reads the shared collection; a write waits for ``promoted`` (polling the
  registry every ``poll`` seconds for at most ``write_wait``, then
  :class:`~sentinel_vectors.errors.PlacementError`, HTTP 503, retryable: nothing written);
* ``promoted``: the own collection; promotion is one-way, so a wrapper remembers it and
  stops asking (a promoted workspace pays nothing per operation).

An operation on the shared collection holds the state it read for ``lease`` seconds:
each native call checks the window first, and past it reads the state again (unchanged:
a new window; changed: :class:`~sentinel_vectors.errors.PlacementError`). The promoter
waits longer than any lease before it copies and before it deletes, so no operation that
planned against the shared collection runs into the copy or the delete.

The place is chosen from the scope's workspace and the registry only; no argument of a
call names a collection, the registry included. The tenancy filter and the physical ids
``"<workspace>:<id>"`` stay on in every place.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import math
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.engine import Step
from sentinel_vectors.errors import InvalidInputError, PlacementError
from sentinel_vectors.filters import Filter
from sentinel_vectors.placement import dedicated_name
from sentinel_vectors_chroma.collection import ScopedCollection
from sentinel_vectors_chroma.promotion import (
    DEFAULT_LEASE,
    MOVING,
    PROMOTED,
    REGISTRY_METADATA,
    PlacementState,
    registry_name,
    state_of,
)
from sentinel_vectors_chroma.results import Result
from sentinel_vectors_chroma.sync import SyncScopedCollection

__all__ = [
    "DEFAULT_POLL",
    "DEFAULT_WRITE_WAIT",
    "ChromaPlaces",
    "SyncTieredCollection",
    "TieredCollection",
]

DEFAULT_WRITE_WAIT = 30.0
"""Seconds a write of a workspace being promoted waits for the promotion to finish."""

DEFAULT_POLL = 0.1
"""Seconds between two readings of the registry while a write waits."""


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{what} must be a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{what} must be a positive, finite number of seconds")
    return float(value)


_WRITE_CALLS = frozenset({"add", "update", "delete"})


@dataclass(slots=True)
class _Op:
    """One operation's place: the native collection and its leases on the state read.

    ``deadline`` bounds the operation's reads (renewed by reading ``absent`` or
    ``moving``), ``write_deadline`` its writes (renewed only by reading ``absent``): a
    write never lands in the shared collection once a promotion may be copying it.
    Both are ``time.monotonic()`` values; ``inf`` in the own collection (promotion is
    final).
    """

    places: ChromaPlaces
    workspace_id: str
    collection: Any
    deadline: float
    write_deadline: float
    wrote: bool = False

    def check(self, method: str) -> None:
        """Before a native call: renew an expired lease, or refuse if the place changed."""
        write = method in _WRITE_CALLS
        if time.monotonic() >= (self.write_deadline if write else self.deadline):
            started = time.monotonic()
            state = self.places.state(self.workspace_id)
            if state is None:
                self.deadline = self.write_deadline = started + self.places.lease
            elif state == MOVING and not write:
                self.deadline = started + self.places.lease
            else:
                applied = (
                    "part of it may have been applied: read, then retry"
                    if self.wrote
                    else "nothing was written: retry it"
                )
                raise PlacementError(
                    f"this operation overlapped a promotion of the workspace for longer "
                    f"than its lease and stopped; {applied}",
                    store="chroma",
                )
        self.wrote = self.wrote or write


_OP: contextvars.ContextVar[_Op | None] = contextvars.ContextVar("sentinel_chroma_op", default=None)
_WRITING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sentinel_chroma_writing", default=False
)


@contextmanager
def _writing() -> Iterator[None]:
    token = _WRITING.set(True)
    try:
        yield
    finally:
        _WRITING.reset(token)


class ChromaPlaces:
    """The collections of one base on one sync client: shared, registry, own ones.

    Built once per application (a binding keeps one) or per call; the wrappers read
    the registry through it and remember promoted workspaces in it.

    Args:
        client: a sync ``chromadb`` client (``HttpClient``, ``PersistentClient``).
        base: the shared collection's name (created if missing, ``embedding_function=None``).
        lease: seconds an operation runs on one reading of the state (the promoter's
            ``settle`` and ``grace`` must exceed it).
        write_wait: seconds a write waits for a promotion in progress.
        poll: seconds between readings while a write waits.
    """

    def __init__(
        self,
        client: Any,
        base: str,
        *,
        lease: float = DEFAULT_LEASE,
        write_wait: float = DEFAULT_WRITE_WAIT,
        poll: float = DEFAULT_POLL,
    ) -> None:
        registry = registry_name(base)  # refuses a base that is a registry or an own place
        self.lease = _seconds(lease, "lease")
        self.write_wait = _seconds(write_wait, "write_wait")
        self.poll = _seconds(poll, "poll")
        create = getattr(client, "get_or_create_collection", None)
        if not callable(create) or inspect.iscoroutinefunction(create):
            raise InvalidInputError(
                "client must be a sync chromadb client (HttpClient, PersistentClient)"
            )
        self.client = client
        self.base = base
        self.shared = client.get_or_create_collection(base, embedding_function=None)
        self.registry = client.get_or_create_collection(
            registry, embedding_function=None, metadata=REGISTRY_METADATA
        )
        self._own: dict[str, Any] = {}
        self._promoted: set[str] = set()
        self._lock = threading.Lock()

    def own(self, workspace_id: str) -> Any:
        """The workspace's own collection (the promoter created it; cached)."""
        with self._lock:
            found = self._own.get(workspace_id)
        if found is None:
            found = self.client.get_collection(
                dedicated_name(self.base, workspace_id), embedding_function=None
            )
            with self._lock:
                self._own[workspace_id] = found
        return found

    def state(self, workspace_id: str) -> PlacementState:
        """The workspace's registry state, read now (one native ``get``)."""
        return state_of(self.registry.get(ids=[workspace_id], include=["metadatas"]))

    def _decide(
        self, workspace_id: str, writing: bool, state: PlacementState, started: float
    ) -> _Op | None:
        if state == PROMOTED:
            with self._lock:
                self._promoted.add(workspace_id)
            return None
        until = started + self.lease
        if state is None:
            return _Op(self, workspace_id, self.shared, until, until)
        if not writing:  # a read while moving: the shared collection, no writes
            return _Op(self, workspace_id, self.shared, until, -math.inf)
        return None  # a write while moving: wait

    def _known(self, workspace_id: str) -> bool:
        with self._lock:
            return workspace_id in self._promoted

    def _timeout(self) -> PlacementError:
        return PlacementError(
            f"the workspace is being moved into its own collection; the write waited "
            f"{self.write_wait:g} s and was not applied. Retry it.",
            store="chroma",
        )

    def begin_sync(self, workspace_id: str, writing: bool) -> _Op:
        """The place of one operation (blocking): waits while a write meets ``moving``."""
        give_up = time.monotonic() + self.write_wait
        while True:
            if self._known(workspace_id):
                return _Op(self, workspace_id, self.own(workspace_id), math.inf, math.inf)
            started = time.monotonic()
            op = self._decide(workspace_id, writing, self.state(workspace_id), started)
            if op is not None:
                return op
            if self._known(workspace_id):
                continue
            if time.monotonic() >= give_up:
                raise self._timeout()
            time.sleep(self.poll)

    async def begin(self, workspace_id: str, writing: bool) -> _Op:
        """The async form of :meth:`begin_sync` (the client's calls in a worker thread)."""
        give_up = time.monotonic() + self.write_wait
        while True:
            if self._known(workspace_id):
                with self._lock:
                    own = self._own.get(workspace_id)
                if own is None:  # a handle to fetch: once per workspace, off the loop
                    own = await asyncio.to_thread(self.own, workspace_id)
                return _Op(self, workspace_id, own, math.inf, math.inf)
            started = time.monotonic()
            state = await asyncio.to_thread(self.state, workspace_id)
            op = self._decide(workspace_id, writing, state, started)
            if op is not None:
                return op
            if self._known(workspace_id):
                continue
            if time.monotonic() >= give_up:
                raise self._timeout()
            await asyncio.sleep(self.poll)


class _Routed:
    """The native collection a tiered wrapper holds: each call goes to its operation's.

    Only the calls the scoped workflows make exist here (deny by default).
    """

    def __init__(self, places: ChromaPlaces) -> None:
        self._places = places

    @property
    def name(self) -> str:
        """The base name (the audit's collection)."""
        return self._places.base

    def _call(self, method: str, kwargs: Mapping[str, Any]) -> Any:
        op = _OP.get()
        if op is None:  # pragma: no cover - every call runs inside a wrapper's operation
            raise PlacementError("a tiered call outside an operation", store="chroma")
        op.check(method)
        return getattr(op.collection, method)(**kwargs)

    def get(self, **kwargs: Any) -> Any:
        """``get`` on the operation's collection."""
        return self._call("get", kwargs)

    def query(self, **kwargs: Any) -> Any:
        """``query`` on the operation's collection."""
        return self._call("query", kwargs)

    def add(self, **kwargs: Any) -> Any:
        """``add`` on the operation's collection."""
        return self._call("add", kwargs)

    def update(self, **kwargs: Any) -> Any:
        """``update`` on the operation's collection."""
        return self._call("update", kwargs)

    def delete(self, **kwargs: Any) -> Any:
        """``delete`` on the operation's collection."""
        return self._call("delete", kwargs)


class TieredCollection(ScopedCollection):
    """A :class:`~sentinel_vectors_chroma.ScopedCollection` placed by the registry (async).

    Build it with :func:`~sentinel_vectors_chroma.placed_collection` (``tiered``) or a
    :class:`~sentinel_vectors_chroma.PlacedChromaBackend`. ``options`` are
    ``ScopedCollection``'s.
    """

    def __init__(self, places: ChromaPlaces, auth: AuthContext | None, **options: Any) -> None:
        if not isinstance(places, ChromaPlaces):
            raise InvalidInputError("places must be a ChromaPlaces")
        super().__init__(_Routed(places), auth, **options)
        self._places = places

    async def _drive[T](self, step: Step[T]) -> T:
        try:
            op = await self._places.begin(self.scope.workspace_id, _WRITING.get())
        except BaseException:
            step.close()
            raise
        token = _OP.set(op)
        try:
            return await super()._drive(step)
        finally:
            _OP.reset(token)

    async def add(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`ScopedCollection.add <sentinel_vectors_chroma.ScopedCollection.add>`."""
        with _writing():
            await super().add(*args, **kwargs)

    async def upsert(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`ScopedCollection.upsert <sentinel_vectors_chroma.ScopedCollection.upsert>`."""
        with _writing():
            await super().upsert(*args, **kwargs)

    async def update(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`ScopedCollection.update <sentinel_vectors_chroma.ScopedCollection.update>`."""
        with _writing():
            await super().update(*args, **kwargs)

    async def delete(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        where_document: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Result:
        """See :meth:`ScopedCollection.delete <sentinel_vectors_chroma.ScopedCollection.delete>`."""
        with _writing():
            return await super().delete(ids, where, where_document, limit)

    async def _remove_resource(self, resource_id: str, keep: Collection[str] = ()) -> int:
        with _writing():
            return await super()._remove_resource(resource_id, keep)


class SyncTieredCollection(SyncScopedCollection):
    """The blocking form of :class:`TieredCollection` (a ``SyncScopedCollection``)."""

    def __init__(self, places: ChromaPlaces, auth: AuthContext | None, **options: Any) -> None:
        if not isinstance(places, ChromaPlaces):
            raise InvalidInputError("places must be a ChromaPlaces")
        super().__init__(_Routed(places), auth, **options)
        self._places = places

    def _drive[T](self, step: Step[T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return super()._drive(step)  # refused there, before anything is read
        try:
            op = self._places.begin_sync(self.scope.workspace_id, _WRITING.get())
        except BaseException:
            step.close()
            raise
        token = _OP.set(op)
        try:
            return super()._drive(step)
        finally:
            _OP.reset(token)

    def add(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`ScopedCollection.add <sentinel_vectors_chroma.ScopedCollection.add>`."""
        with _writing():
            super().add(*args, **kwargs)

    def upsert(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`ScopedCollection.upsert <sentinel_vectors_chroma.ScopedCollection.upsert>`."""
        with _writing():
            super().upsert(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`ScopedCollection.update <sentinel_vectors_chroma.ScopedCollection.update>`."""
        with _writing():
            super().update(*args, **kwargs)

    def delete(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        where_document: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Result:
        """See :meth:`ScopedCollection.delete <sentinel_vectors_chroma.ScopedCollection.delete>`."""
        with _writing():
            return super().delete(ids, where, where_document, limit)
