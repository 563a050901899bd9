"""Where audit events go: the sink protocol, three sinks, and the bounded queue.

The engine reports one typed event (:mod:`sentinel_vectors.events`) per read, write,
refusal and dropped hit; an :class:`Auditor` hands each to its sinks:

- :class:`LoggingSink` (the default): one log record per event on
  ``sentinel_vectors.audit``, the records of earlier versions with more fields. It runs
  *inline* (in the caller's thread) by default, exactly as before; logging has its own
  queueing (``logging.handlers.QueueHandler``) if a handler is slow;
- :class:`JsonLinesSink`: one JSON object per line in a file;
- :class:`sentinel_vectors.audit_otel.OTelSink`: OpenTelemetry spans, counters and
  histograms (the ``sentinel-vectors[otel]`` extra).

Queued sinks never block or fail a request: the caller puts the event on a bounded
queue and goes on; one worker thread (started once, never one per event) delivers it.
A full queue or a sink error is counted (:attr:`Auditor.dropped`, :attr:`Auditor.errors`)
and logged, never raised into the read, unless the auditor is *fail-closed*: then the
read waits for its events to be delivered and is refused with
:class:`~sentinel_vectors.errors.AuditError` if they are not.

Set the process's auditor with :func:`configure` (or :func:`use`); the FastAPI layer
binds one per request with the request id (:func:`bind_request`,
``VectorStores(audit=...)``). Nothing is built for a kind of event no sink wants.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from typing import IO, Any, Protocol, runtime_checkable

from sentinel_vectors.errors import (
    AccessDeniedError,
    AuditError,
    DimensionMismatchError,
    FilterError,
    InvalidInputError,
    PermissionServiceError,
    ReservedKeyError,
    SentinelVectorsError,
    WriteConflictError,
)
from sentinel_vectors.events import (
    ALL_KINDS,
    AUDIT_LOGGER,
    AuditEvent,
    AuditRun,
    CallRecord,
    EventKind,
    ReadEvent,
    RefusalEvent,
    StepTiming,
    WriteEvent,
    log_fields,
    now,
)

__all__ = [
    "AUDIT_LOGGER",
    "Auditor",
    "JsonLinesSink",
    "LoggingSink",
    "Sink",
    "audit_refusal",
    "bind_request",
    "configure",
    "end_run",
    "finish_run",
    "get_auditor",
    "parse_setting",
    "rule_of",
    "start_run",
    "step_done",
    "use",
]

_log = logging.getLogger(AUDIT_LOGGER)


@runtime_checkable
class Sink(Protocol):
    """Where audit events go.

    ``inline``: deliver in the caller's thread (only for sinks that cannot block, such
    as logging); otherwise the auditor's worker thread calls :meth:`emit`.
    ``wants(kind)`` is asked once per call: answer ``False`` for kinds you ignore and
    nothing is built for them. :meth:`emit` may raise: the error is counted and logged
    (or refuses the read, fail-closed). :meth:`close` flushes and releases.
    """

    inline: bool

    def wants(self, kind: EventKind) -> bool:
        """Whether this sink wants events of ``kind`` now."""
        ...

    def emit(self, event: AuditEvent) -> None:
        """Record one event."""
        ...

    def close(self) -> None:
        """Flush and release what the sink holds."""
        ...


class LoggingSink:
    """One log record per event on ``sentinel_vectors.audit`` (the default sink).

    Reads, writes and refusals at INFO, violations at ERROR; the fields of the event are
    the record's attributes (``record.event == "sentinel_vectors.read"``,
    ``record.returned``, ``record.request_id``, ...). A kind is wanted only when the
    logger is enabled for its level, so with logging at WARNING no read event is built.
    """

    def __init__(self, logger: str = AUDIT_LOGGER, *, inline: bool = True) -> None:
        self.logger = logging.getLogger(logger)
        self.inline = inline

    def wants(self, kind: EventKind) -> bool:
        """Whether the logger is enabled for the level of ``kind``."""
        return self.logger.isEnabledFor(logging.ERROR if kind == "violation" else logging.INFO)

    def emit(self, event: AuditEvent) -> None:
        """Log ``event``."""
        if event.kind == "violation":
            self.logger.error(event.message, extra=log_fields(event))  # type: ignore[union-attr]
        else:
            self.logger.info(_MESSAGES[event.kind], extra=log_fields(event))

    def close(self) -> None:
        """Nothing to release."""


_MESSAGES: dict[str, str] = {
    "read": "sentinel-vectors scoped read",
    "write": "sentinel-vectors scoped write",
    "refusal": "sentinel-vectors refused a call",
}


class JsonLinesSink:
    """One JSON object per event, one per line, appended to ``path`` (queued).

    Lines are written whole by the one worker thread, so concurrent requests never
    interleave. ``fsync``: sync the file after every line (slow; for audit stores that
    must survive a crash); otherwise it is flushed per line.
    """

    inline = False

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = os.fspath(path)
        self.fsync = fsync
        self._file: IO[str] | None = None

    def wants(self, kind: EventKind) -> bool:
        """Every kind."""
        return True

    def emit(self, event: AuditEvent) -> None:
        """Append ``event`` as one line."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self._file.write(json.dumps(event.to_dict(), separators=(",", ":"), default=str) + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


_STOP = object()


class Auditor:
    """Hands audit events to sinks: inline ones at once, the others through one queue.

    Args:
        sinks: where events go (default: a :class:`LoggingSink`).
        queue_size: how many events may wait for the queued sinks; when full, an event
            is dropped and counted (:attr:`dropped`), never waited for.
        fail_closed: a read whose events are not delivered is refused with
            :class:`~sentinel_vectors.errors.AuditError` (queue full, a sink error, or
            no confirmation within ``timeout`` seconds). The read then waits for its
            events. Writes and refusals are never undone or changed by an audit failure.
        digest_key: when set, ids in events are HMAC-SHA256 digests under this key
            (:func:`sentinel_vectors.events.digest_id`), for audit stores that must not
            hold ids.
        timeout: how long a fail-closed read waits for its events.
    """

    def __init__(
        self,
        sinks: Sequence[Sink] | None = None,
        *,
        queue_size: int = 10_000,
        fail_closed: bool = False,
        digest_key: bytes | None = None,
        timeout: float = 5.0,
    ) -> None:
        sinks = [LoggingSink()] if sinks is None else list(sinks)
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.sinks = sinks
        self.inline = [s for s in sinks if s.inline]
        self.queued = [s for s in sinks if not s.inline]
        self.fail_closed = fail_closed
        self.digest_key = digest_key
        self.timeout = timeout
        # Tracing sinks (OTelSink) also take whole calls: record_call(CallRecord), queued.
        self.tracing: list[Any] = [s for s in self.queued if hasattr(s, "record_call")]
        capture = [getattr(s, "capture_parent", None) for s in self.tracing]
        self._capture: Any = next((c for c in capture if c is not None), None)
        self.dropped = 0
        """Events dropped because the queue was full."""
        self.errors = 0
        """Sink errors (an event a sink failed to record)."""
        self.delivered = 0
        """Events handed to the queued sinks (each once, whatever the number of sinks)."""
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # Kinds the queued sinks want, asked once (they are fixed for a queued sink).
        self._queued_wants = frozenset(k for k in ALL_KINDS if any(s.wants(k) for s in self.queued))

    def __repr__(self) -> str:
        return f"Auditor({self.sinks!r}, fail_closed={self.fail_closed})"

    # -- the hot path ----------------------------------------------------------------

    def wants(self) -> frozenset[EventKind]:
        """The kinds some sink wants now (asked once per call)."""
        if not self.inline:
            return self._queued_wants
        return self._queued_wants | frozenset(
            k for k in ALL_KINDS if any(s.wants(k) for s in self.inline)
        )

    def start(self, request_id: str | None = None) -> AuditRun | None:
        """The audit record of one call, or ``None`` when nobody wants anything."""
        wants = self.wants()
        if not wants:
            return None
        run = AuditRun(
            wants=wants,
            emit=self.emit,
            request_id=request_id,
            digest_key=self.digest_key,
            timeout=self.timeout,
        )
        if self.tracing and not self._closed:
            run.trace = self.trace
            run.start_ns = time.time_ns()
            if self._capture is not None:
                run.parent = self._capture()
        return run

    def trace(self, call: CallRecord) -> None:
        """Queue a finished call for the tracing sinks (never blocks; counted if full)."""
        self._ensure_worker()
        try:
            self._queue.put_nowait((call, None))
        except queue.Full:
            self._overflow()

    def emit(self, event: AuditEvent) -> Future[None] | None:
        """Deliver ``event`` to the inline sinks, then queue it for the others.

        Returns a future of its delivery when fail-closed (for reads), else ``None``.
        Never raises, except fail-closed for a read (the future then holds the error).
        """
        failed: BaseException | None = None
        for sink in self.inline:
            try:
                if sink.wants(event.kind):
                    sink.emit(event)
            except Exception as exc:  # a sink must never fail the request
                failed = exc
                self._sink_failed(sink, exc)
        waits = self.fail_closed and isinstance(event, ReadEvent)
        future: Future[None] | None = Future() if waits else None
        if self.queued and event.kind in self._queued_wants and not self._closed:
            self._ensure_worker()
            try:
                self._queue.put_nowait((event, future))
            except queue.Full:
                self._overflow()
                failed = failed or AuditError("the audit queue is full")
            else:
                if future is not None and failed is not None:
                    future.set_exception(failed)
                return future
        if future is not None:
            if failed is None:
                future.set_result(None)
            else:
                future.set_exception(failed)
        return future

    def _overflow(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            _log.warning(
                "sentinel-vectors audit queue full: %d item(s) dropped so far",
                self.dropped,
                extra={"event": "sentinel_vectors.audit_dropped", "dropped": self.dropped},
            )

    # -- the worker ------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is not None:
            return
        with self._lock:
            if self._worker is None:
                worker = threading.Thread(
                    target=self._drain, name="sentinel-vectors-audit", daemon=True
                )
                worker.start()
                self._worker = worker

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                event, future = item
                if isinstance(event, CallRecord):
                    self._deliver_call(event)
                else:
                    self._deliver(event, future)
            finally:
                self._queue.task_done()

    def _deliver(self, event: AuditEvent, future: Future[None] | None) -> None:
        failed: BaseException | None = None
        for sink in self.queued:
            try:
                if sink.wants(event.kind):
                    sink.emit(event)
            except Exception as exc:
                failed = exc
                self._sink_failed(sink, exc)
        self.delivered += 1
        if future is not None and not future.done():
            if failed is None:
                future.set_result(None)
            else:
                future.set_exception(failed)

    def _deliver_call(self, call: CallRecord) -> None:
        for sink in self.tracing:
            try:
                sink.record_call(call)
            except Exception as exc:
                self._sink_failed(sink, exc)

    def _sink_failed(self, sink: object, exc: BaseException) -> None:
        self.errors += 1
        with contextlib.suppress(Exception):
            _log.warning(
                "sentinel-vectors audit sink %s failed: %r",
                type(sink).__name__,
                exc,
                extra={"event": "sentinel_vectors.audit_sink_error", "errors": self.errors},
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been delivered; ``False`` on timeout."""
        if self._worker is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def close(self, timeout: float | None = 10.0) -> None:
        """Deliver what is queued, stop the worker and close every sink."""
        self._closed = True
        if self._worker is not None:
            self.flush(timeout)
            self._queue.put(_STOP)
            self._worker.join(timeout)
            self._worker = None
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                self._sink_failed(sink, exc)


# -- the driver's side -----------------------------------------------------------------


def rule_of(exc: BaseException) -> str | None:
    """The rule a refusal names for ``exc``, or ``None`` when ``exc`` is not a refusal.

    A store or network failure is no refusal (a write then fails with outcome
    ``failed``); the permission service failing is one (``fail-closed``).
    """
    if not isinstance(exc, SentinelVectorsError):
        return None
    if exc.rule is not None:
        return exc.rule
    for kind, rule in _RULES:
        if isinstance(exc, kind):
            return rule
    return None


_RULES: tuple[tuple[type[SentinelVectorsError], str], ...] = (
    (AuditError, "audit-failed"),
    (ReservedKeyError, "reserved-key"),
    (FilterError, "bad-filter"),
    (DimensionMismatchError, "dimension"),
    (InvalidInputError, "invalid-input"),
    (AccessDeniedError, "access-denied"),
    (WriteConflictError, "write-conflict"),
    (PermissionServiceError, "fail-closed"),
)


def finish_run(run: AuditRun, scope: Any, error: BaseException | None) -> None:
    """Report what only the driver sees: a refusal, a failed write (never raises)."""
    if error is None:
        return
    try:
        rule = rule_of(error)
        base = _base(run, scope)
        if run.write is not None and "write" in run.wants:
            operation, ids, resources = run.write
            shown, digested = run.ids(ids)
            run.send(
                WriteEvent(
                    **{**base, "operation": operation},
                    ids=shown,
                    resources=resources,
                    outcome="failed" if rule is None else "refused",
                    error=type(error).__name__,
                    ids_digested=digested,
                )
            )
        if rule is not None and "refusal" in run.wants:
            run.send(RefusalEvent(**base, rule=rule, error=type(error).__name__))
    except Exception as exc:  # auditing never changes the caller's error
        _log.warning("sentinel-vectors could not report a refusal: %r", exc)


def end_run(run: AuditRun, error: BaseException | None) -> None:
    """Hand a finished call to the tracing sinks, when one is on (never raises)."""
    trace = run.trace
    if trace is None:
        return
    with contextlib.suppress(Exception):  # tracing never fails a call
        trace(
            CallRecord(
                operation=run.operation,
                parent=run.parent,
                start_ns=run.start_ns,
                end_ns=time.time_ns(),
                steps=tuple(run.steps),
                recheck_ns=run.recheck_ns,
                events=tuple(run.events),
                error=None if error is None else type(error).__name__,
            )
        )


def step_done(
    run: AuditRun, native: bool, detail: str, start_ns: int, error: BaseException | None
) -> None:
    """Account one lookup or store call (the drivers call this after each)."""
    end = time.time_ns()
    if native:
        run.store_ns += end - start_ns
    else:
        run.lookup_ns += end - start_ns
    if run.trace is not None:
        run.steps.append(
            StepTiming(
                "store" if native else "lookup",
                detail,
                start_ns,
                end,
                None if error is None else type(error).__name__,
            )
        )


def _base(run: AuditRun, scope: Any) -> dict[str, Any]:
    if run.describe is not None:
        return run.describe(run, run.collection)
    return {
        "at": now(),
        "request_id": run.request_id,
        "operation": run.operation,
        "workspace_id": scope.workspace_id,
        "user_id": scope.user_id,
        "role": scope.role,
        "collection": run.collection or "?",
        "resource_type": scope.resource_type,
    }


def audit_refusal(cause: BaseException) -> AuditError:
    """The error a fail-closed read is refused with (the cause is logged, not shown)."""
    _log.warning("sentinel-vectors refused a read: its audit events failed: %r", cause)
    return AuditError(
        "the audit trail could not record this read, so it was refused (fail-closed "
        "auditing); retry later"
    )


# -- which auditor a call uses -------------------------------------------------------


class _Current:
    auditor: Auditor = Auditor()


_CURRENT = _Current()

# id(auth) -> (auditor, request id) of one request; dropped when the auth object goes.
_BOUND: dict[int, tuple[Auditor, str | None]] = {}


def configure(auditor: Auditor | None = None, /, **kwargs: Any) -> Auditor:
    """Make ``auditor`` (or ``Auditor(**kwargs)``) the process's auditor; returns it.

    The previous one is closed (its queued events delivered first).
    """
    new = auditor if auditor is not None else Auditor(**kwargs)
    old, _CURRENT.auditor = _CURRENT.auditor, new
    if old is not new:
        old.close()
    return new


def use(auditor: Auditor) -> Auditor:
    """Make ``auditor`` the process's auditor without closing the previous one; returns
    the previous one (to restore it)."""
    old, _CURRENT.auditor = _CURRENT.auditor, auditor
    return old


def get_auditor() -> Auditor:
    """The process's auditor."""
    return _CURRENT.auditor


def bind_request(
    auth: object, auditor: Auditor | None = None, request_id: str | None = None
) -> str:
    """Tie a request's auth object to an auditor and a request id; returns the id.

    Every scoped call made with a scope built from ``auth`` then reports to
    ``auditor`` (default: the process's) with ``request_id`` (default: a new UUID) in
    its events. The FastAPI dependencies call it; a worker can too. The binding goes
    when ``auth`` is garbage-collected. An auth object that cannot be weakly referenced
    is not bound (its binding could outlive it and be found by another object at the
    same address: a wrong request id in an audit trail is worse than none).
    """
    rid = request_id or uuid.uuid4().hex
    key = id(auth)
    if key not in _BOUND:
        try:
            weakref.finalize(auth, _BOUND.pop, key, None)
        except TypeError:
            return rid
    _BOUND[key] = (auditor or _CURRENT.auditor, rid)
    return rid


def start_run(scope: Any, operation: str) -> AuditRun | None:
    """The audit record of one call on ``scope`` (the drivers call this)."""
    bound = _BOUND.get(id(scope.auth))
    if bound is None:
        auditor, request_id = _CURRENT.auditor, None
    else:
        auditor, request_id = bound
    run = auditor.start(request_id)
    if run is not None:
        run.operation = operation
    return run


def parse_setting(setting: str | Auditor | None) -> Auditor | None:
    """An auditor from one setting (``VectorStores(audit=...)``, an environment variable).

    ``None`` or ``""``: none (the process's applies). ``"logging"``, ``"jsonl:<path>"``,
    ``"otel"``, comma-separated for several (``"logging,jsonl:/var/log/audit.jsonl"``);
    add ``"fail-closed"`` to refuse reads whose events are not delivered. An
    :class:`Auditor` is used as it is.
    """
    if setting is None or isinstance(setting, Auditor):
        return setting
    sinks: list[Sink] = []
    fail_closed = False
    for raw in setting.split(","):
        part = raw.strip()
        if not part:
            continue
        if part == "logging":
            sinks.append(LoggingSink())
        elif part.startswith("jsonl:"):
            sinks.append(JsonLinesSink(part.removeprefix("jsonl:")))
        elif part == "otel":
            from sentinel_vectors.audit_otel import OTelSink  # the optional extra

            sinks.append(OTelSink())
        elif part == "fail-closed":
            fail_closed = True
        else:
            raise ValueError(
                f"unknown audit setting {part!r}: use logging, jsonl:<path>, otel, "
                f"fail-closed (comma-separated)"
            )
    if not sinks:
        return None
    return Auditor(sinks, fail_closed=fail_closed)
