"""The two drivers of the engine's workflows: one async, one blocking.

:func:`run_async` and :func:`run_sync` run a workflow of :mod:`sentinel_vectors.engine`
to its end, answering each effect it yields:

- :class:`~sentinel_vectors.engine.effects.AskAccess` and
  :class:`~sentinel_vectors.engine.effects.AskRegistered` go to the caller's
  :class:`~sentinel_vectors.scope.Scope` (the permission service, failing closed);
- :class:`~sentinel_vectors.engine.effects.Native` calls the store's client. The async
  driver awaits a coroutine method and runs a blocking one in a worker thread (a sync
  ``chromadb.Collection`` under the async wrapper); the blocking driver calls it.

Auditing: each run keeps an :class:`~sentinel_vectors.events.AuditRun` (unless no sink
wants anything) that the policy reports the call's events to; the driver adds the time
of each permission lookup and store call (and, for a tracing sink, each step's times:
the call is queued as a :class:`~sentinel_vectors.events.CallRecord` when it ends), and
the refusal or failed-write event when the workflow raises. A fail-closed auditor's
read waits for its events here (:mod:`sentinel_vectors.audit`).

A native error is offered to the adapter's ``translate`` (a store outage becomes
:class:`~sentinel_vectors.errors.StoreUnavailableError`, and so on) and thrown into the
workflow at the point that asked, so a write can undo what it did before re-raising.

``connect`` opens the store connection a ``Native`` without a ``target`` runs on (a
SQLAlchemy session in a transaction), lazily, at the first such call: identity questions
asked before it never hold a connection. It is closed when the workflow ends (a
transaction commits on success and rolls back on any error).

Sync code reaching the permission service. Sentinel's ``RequestAuth`` talks to the
service on the event loop that owns its HTTP client; :func:`call_blocking` is how a
blocking caller reaches that loop:

- on an event loop thread it refuses: it would block the very loop that must answer
  (await the async entry point instead);
- with ``portal`` (an ``anyio.from_thread.BlockingPortal``) it runs there: the way for
  a plain script, whose permission client then lives on the portal's loop;
- with ``loop_token`` (``anyio.lowlevel.current_token()`` taken on the request's loop)
  it runs on that loop from any other thread;
- otherwise from a worker thread of the loop (a FastAPI ``def`` route,
  ``anyio.to_thread.run_sync``) it runs on that loop;
- anywhere else it refuses rather than start a fresh loop per call (that would strand
  the permission client's pooled connections on a dead loop).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    AsyncExitStack,
    ExitStack,
)
from typing import Any

import anyio.from_thread
from anyio import NoEventLoopError, RunFinishedError
from anyio.lowlevel import EventLoopToken

from sentinel_vectors import audit
from sentinel_vectors.engine.effects import AskAccess, AskRegistered, Effect, Native, Step
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.events import AuditRun, enter_run, exit_run
from sentinel_vectors.scope import Scope

__all__ = ["Blocking", "Translate", "call_blocking", "run_async", "run_sync"]

Translate = Callable[[Exception, Native], BaseException | None]
"""Maps a native client's exception to the suite's typed error (``None``: keep it)."""

Blocking = Callable[[Callable[[], Awaitable[Any]]], Any]
"""Runs a coroutine function to completion from blocking code (see :func:`call_blocking`)."""


async def run_async[T](
    step: Step[T],
    scope: Scope,
    *,
    connect: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
    translate: Translate | None = None,
) -> T:
    """Run ``step`` on the event loop; returns what the workflow returns."""
    async with AsyncExitStack() as stack:
        conn: list[Any] = []

        async def native(effect: Native) -> Any:
            target = effect.target
            if target is None:
                if not conn:
                    conn.append(await stack.enter_async_context(_need(connect)()))
                target = conn[0]
            fn: Callable[..., Any] = getattr(target, effect.method)
            if inspect.iscoroutinefunction(fn):
                result = await fn(*effect.args, **effect.kwargs)
            else:
                # A blocking client under the async wrapper: keep the loop free.
                result = await asyncio.to_thread(fn, *effect.args, **effect.kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        async def answer(effect: Effect) -> Any:
            if isinstance(effect, AskAccess):
                return await scope.access(effect.action)
            if isinstance(effect, AskRegistered):
                return await scope.registered(effect.resource_ids)
            return await native(effect)

        turn = _Turn[T](step, translate)
        run = audit.start_run(scope, _name(step))
        if run is None:
            try:
                while (effect := turn.next()) is not None:
                    try:
                        turn.answer(await answer(effect))
                    except Exception as exc:
                        turn.fail(exc, effect)
                return turn.result
            finally:
                step.close()
        token = enter_run(run)
        error: BaseException | None = None
        try:
            while (effect := turn.next()) is not None:
                started = _effect_start(run, effect)
                try:
                    turn.answer(await answer(effect))
                except Exception as exc:
                    _effect_end(run, effect, started, exc)
                    turn.fail(exc, effect)
                else:
                    _effect_end(run, effect, started, None)
            if run.pending:
                await _confirm(run)
            return turn.result
        except BaseException as exc:
            error = exc
            audit.finish_run(run, scope, exc)
            raise
        finally:
            audit.end_run(run, error)
            exit_run(token)
            step.close()


def run_sync[T](
    step: Step[T],
    scope: Scope,
    *,
    blocking: Blocking,
    connect: Callable[[], AbstractContextManager[Any]] | None = None,
    translate: Translate | None = None,
) -> T:
    """Run ``step`` blocking; identity questions go through ``blocking``."""
    with ExitStack() as stack:
        conn: list[Any] = []

        def native(effect: Native) -> Any:
            target = effect.target
            if target is None:
                if not conn:
                    conn.append(stack.enter_context(_need(connect)()))
                target = conn[0]
            fn: Callable[..., Any] = getattr(target, effect.method)
            if inspect.iscoroutinefunction(fn):
                raise InvalidInputError(
                    f"the sync wrapper was given an async client ({type(target).__name__}."
                    f"{effect.method} is a coroutine function); give it the blocking client, "
                    f"or use the async wrapper"
                )
            return fn(*effect.args, **effect.kwargs)

        def answer(effect: Effect) -> Any:
            if isinstance(effect, AskAccess):
                action = effect.action
                return blocking(lambda: scope.access(action))
            if isinstance(effect, AskRegistered):
                ids = effect.resource_ids
                return blocking(lambda: scope.registered(ids))
            return native(effect)

        turn = _Turn[T](step, translate)
        run = audit.start_run(scope, _name(step))
        if run is None:
            try:
                while (effect := turn.next()) is not None:
                    try:
                        turn.answer(answer(effect))
                    except Exception as exc:
                        turn.fail(exc, effect)
                return turn.result
            finally:
                step.close()
        token = enter_run(run)
        error: BaseException | None = None
        try:
            while (effect := turn.next()) is not None:
                started = _effect_start(run, effect)
                try:
                    turn.answer(answer(effect))
                except Exception as exc:
                    _effect_end(run, effect, started, exc)
                    turn.fail(exc, effect)
                else:
                    _effect_end(run, effect, started, None)
            if run.pending:
                # Fail-closed: wait where identity questions wait (never blocking a loop
                # that the pgvector greenlet or a worker thread borrows).
                blocking(lambda: _confirm(run))
            return turn.result
        except BaseException as exc:
            error = exc
            audit.finish_run(run, scope, exc)
            raise
        finally:
            audit.end_run(run, error)
            exit_run(token)
            step.close()


def _name(step: Step[Any]) -> str:
    """The workflow's name (``top_k``, ``put``, an adapter's own flow) for its events."""
    return str(getattr(step, "__name__", "?")).lstrip("_")


async def _confirm(run: AuditRun) -> None:
    """A fail-closed read: wait (without blocking the loop) for its events' delivery."""
    try:
        await asyncio.wait_for(
            asyncio.gather(*(asyncio.wrap_future(f) for f in run.pending)), run.timeout
        )
    except Exception as exc:
        raise audit.audit_refusal(exc) from None


def _effect_start(run: AuditRun, effect: Effect) -> int:
    return time.time_ns()


def _effect_end(run: AuditRun, effect: Effect, started: int, error: BaseException | None) -> None:
    if isinstance(effect, Native):
        audit.step_done(run, True, effect.method, started, error)
    else:
        audit.step_done(run, False, type(effect).__name__, started, error)


class _Turn[T]:
    """Where a workflow is: the answer or error to resume it with, or its result."""

    def __init__(self, step: Step[T], translate: Translate | None) -> None:
        self.step, self.translate = step, translate
        self.value: Any = None
        self.error: BaseException | None = None
        self.result: T

    def next(self) -> Effect | None:
        """Resume the workflow; its next effect, or ``None`` once it returned."""
        value, error = self.value, self.error
        self.value, self.error = None, None
        try:
            return self.step.send(value) if error is None else self.step.throw(error)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def answer(self, value: Any) -> None:
        self.value = value

    def fail(self, exc: Exception, effect: Effect) -> None:
        self.error = _translated(exc, effect, self.translate)


def _need[C](connect: C | None) -> C:
    if connect is None:
        raise InvalidInputError(
            "a native call named no target and the wrapper opened no store connection"
        )
    return connect


def _translated(exc: Exception, effect: Effect, translate: Translate | None) -> BaseException:
    if translate is None or not isinstance(effect, Native):
        return exc
    mapped = translate(exc, effect)
    if mapped is None or mapped is exc:
        return exc
    mapped.__cause__ = exc
    return mapped


def call_blocking[T](
    fn: Callable[[], Awaitable[T]],
    *,
    portal: anyio.from_thread.BlockingPortal | None = None,
    loop_token: EventLoopToken | None = None,
    what: str = "this retriever",
    use_async: str = "its async method",
) -> T:
    """Run the coroutine function ``fn`` to completion from sync code (see module doc)."""

    async def run() -> T:
        return await fn()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise InvalidInputError(
            f"the sync call of {what} ran on an event loop thread, where it would block the "
            f"loop that must answer it; await {use_async} instead"
        )
    if portal is not None:
        return portal.call(run)
    try:
        return anyio.from_thread.run(run, token=loop_token)
    except NoEventLoopError as exc:
        raise InvalidInputError(
            f"the sync call of {what} must reach the event loop that owns the permission "
            f"client: call it from a worker thread of that loop (a FastAPI def route, "
            f"anyio.to_thread.run_sync), pass loop_token=anyio.lowlevel.current_token() "
            f"taken on that loop, pass portal=anyio.from_thread.BlockingPortal in a "
            f"script, or await {use_async}"
        ) from exc
    except RunFinishedError as exc:
        raise InvalidInputError(
            f"the event loop of {what}'s loop_token has finished; build the retriever "
            f"again on a running loop"
        ) from exc
