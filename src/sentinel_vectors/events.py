"""Typed audit events: what a scoped read, write or refusal tells its auditors.

Every scoped call that runs on the engine (:mod:`sentinel_vectors.drive`) produces its
events once, in the core, whatever the adapter:

- :class:`ReadEvent`: one per read (``query``/``get``/``count``/...): who, what
  collection, the read strategy, how many records were examined, which were returned,
  how many the re-check dropped, and where the time went (permission lookup, store,
  re-check);
- :class:`WriteEvent`: one per write (``add``/``upsert``/``update``/``delete``): the ids
  and resources it named or reached, and its outcome;
- :class:`RefusalEvent`: a call refused by a rule (bad input, a reserved key, the write
  rule, the permission service failing closed). It names the *rule* and the error type,
  never the error message: a refusal for a record the caller may not see is the same
  event as one for a record that does not exist (invariant 9);
- :class:`ViolationEvent`: a hit the re-check dropped because it broke invariant 1 (a
  bug below the wrapper, invariant 7).

Events are frozen dataclasses; :meth:`AuditEventBase.to_dict` gives their JSON form (the
JSON-lines sink writes it). Sinks and the bounded queue that carries events to them are
in :mod:`sentinel_vectors.audit`.

This module is pure (no I/O): the policy builds events here; :class:`AuditRun` is the
per-call record the driver keeps and the policy reports to.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, NamedTuple

__all__ = [
    "AUDIT_LOGGER",
    "AuditEvent",
    "AuditEventBase",
    "AuditRun",
    "CallRecord",
    "EventKind",
    "ReadEvent",
    "RefusalEvent",
    "StepTiming",
    "ViolationEvent",
    "WriteEvent",
    "current_run",
    "digest_id",
    "log_fields",
]

AUDIT_LOGGER = "sentinel_vectors.audit"
"""Name of the logger that receives the audit events (:class:`sentinel_vectors.audit.
LoggingSink`): one per scoped read, write and refusal, and every dropped hit."""

EventKind = Literal["read", "write", "refusal", "violation"]
"""The four kinds of audit event."""

ALL_KINDS: frozenset[EventKind] = frozenset({"read", "write", "refusal", "violation"})


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEventBase:
    """What every audit event says: when, which request, who, where.

    ``at``: seconds since the epoch when the event was built. ``request_id``: the
    request the call served (set by the FastAPI dependencies, see
    :func:`sentinel_vectors.audit.bind_request`), or ``None``. ``operation``: the
    workflow that ran (``top_k``, ``listing``, ``counting``, ``put``, ``update``,
    ``delete``, or an adapter's own, e.g. Qdrant's ``query_points``).
    """

    kind: ClassVar[EventKind]
    at: float
    request_id: str | None
    operation: str
    workspace_id: str
    user_id: str
    role: str
    collection: str
    resource_type: str

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values, with its ``kind`` first."""
        out: dict[str, Any] = {"kind": self.kind}
        for key in _names(type(self)):
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadEvent(AuditEventBase):
    """One scoped read.

    ``accessible``: how many resource ids ``accessible()`` listed (``None`` with
    ``full_access``: admins and owners read the whole workspace). ``examined``: records
    the store returned and the re-check saw; ``returned``: how many left the wrapper,
    ``returned_ids`` which (the ids as the caller wrote them, on every backend), or
    their keyed digests when ``ids_digested`` (see
    :class:`sentinel_vectors.audit.Auditor`). ``dropped``: hits the re-check refused (for
    a post-filter, candidates of resources the caller may not see: expected).
    ``complete``: ``False`` when a post-filter could not fill ``k``. ``lookup_ms``,
    ``store_ms``, ``recheck_ms``: time spent asking the permission service, in the
    store's client, and re-checking hits.
    """

    kind: ClassVar[EventKind] = "read"
    strategy: str
    full_access: bool
    accessible: int | None
    examined: int
    returned: int
    returned_ids: tuple[str, ...]
    ids_digested: bool = False
    dropped: int
    complete: bool
    lookup_ms: float
    store_ms: float
    recheck_ms: float


WriteOutcome = Literal["ok", "refused", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteEvent(AuditEventBase):
    """One scoped write.

    ``ids``: the caller's ids the write named (``ok``: those it wrote or removed; an
    update or delete leaves out ids that are absent or hidden). ``resources``: the
    resources it named or touched. ``outcome``: ``ok``; ``refused`` (a rule refused it,
    nothing written; a :class:`RefusalEvent` says which); ``failed`` (the store or the
    identity service failed; ``error`` is the error type).
    """

    kind: ClassVar[EventKind] = "write"
    ids: tuple[str, ...]
    resources: tuple[str, ...]
    outcome: WriteOutcome
    error: str | None = None
    ids_digested: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalEvent(AuditEventBase):
    """A call a rule refused: ``rule`` names it, ``error`` is the error type raised.

    Deliberately nothing else: no message, no record or resource the rule looked at, so
    the event of a refusal about a hidden record is the same as about an absent one
    (invariant 9). Rules: ``invalid-input``, ``reserved-key``, ``bad-filter``,
    ``dimension``, ``write-rule`` (the caller may not write that resource or replace that
    record), ``not-editable`` (a record it may view but not edit), ``owner``,
    ``reserved-id``, ``write-conflict``, ``fail-closed`` (the permission service failed),
    ``audit-failed`` (fail-closed auditing), ``access-denied`` (any other).
    """

    kind: ClassVar[EventKind] = "refusal"
    rule: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ViolationEvent(AuditEventBase):
    """A hit dropped because it broke invariant 1 (or an adapter's own check).

    ``record_id``: the stored id; ``message``: what the check found; ``details``: what
    the record held (its workspace and resource), as strings. For operators: a
    violation is a bug below the wrapper, never something a caller sees.
    """

    kind: ClassVar[EventKind] = "violation"
    record_id: str
    message: str
    details: tuple[tuple[str, str], ...] = ()


AuditEvent = ReadEvent | WriteEvent | RefusalEvent | ViolationEvent
"""Any audit event."""

_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    """The field names of an event class, in order (``dataclasses.asdict`` deep-copies)."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def digest_id(key: bytes, record_id: str) -> str:
    """The keyed digest of an id: HMAC-SHA256 under ``key``, hex.

    The same id always gives the same digest under the same key (an auditor holding the
    key can check whether a given id was returned), and nobody without it can recover
    the id.
    """
    return hmac.new(key, record_id.encode(), hashlib.sha256).hexdigest()


class StepTiming(NamedTuple):
    """One step of a call: a permission lookup or a store call, with wall-clock times."""

    what: Literal["lookup", "store"]
    detail: str
    start_ns: int
    end_ns: int
    error: str | None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call as a tracing sink sees it: its steps' times and its events.

    Built by the driver when the call ends and queued like an event, so a tracing sink
    (:class:`sentinel_vectors.audit_otel.OTelSink`) makes the call's spans on the
    auditor's worker thread, never in the request. ``parent``: what the sink captured
    when the call started (OpenTelemetry: the caller's context). Times are
    ``time.time_ns()``; ``recheck_ns`` is the re-check's total time; ``error`` the type
    of the error the call raised.
    """

    operation: str
    parent: object
    start_ns: int
    end_ns: int
    steps: tuple[StepTiming, ...]
    recheck_ns: int
    events: tuple[AuditEvent, ...]
    error: str | None


@dataclass(slots=True)
class AuditRun:
    """The audit record of one call, kept by the driver, reported to by the policy.

    ``wants``: the kinds some sink wants (nothing is built for the others). ``emit``
    hands one event on (to the auditor: inline sinks, then the queue); it returns a
    future when fail-closed auditing waits for the sinks, else ``None``. The driver adds
    the time of each lookup and store call; the policy adds the re-check's. With a
    tracing sink (``trace`` set), the driver also keeps each step's times, and the call
    goes to ``trace`` as a :class:`CallRecord` when it ends.
    """

    wants: frozenset[EventKind]
    emit: Callable[[AuditEvent], Future[None] | None]
    request_id: str | None = None
    digest_key: bytes | None = None
    operation: str = "?"
    lookup_ns: int = 0
    store_ns: int = 0
    recheck_ns: int = 0
    pending: list[Future[None]] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    write: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None
    collection: str | None = None
    describe: Callable[..., dict[str, Any]] | None = None
    trace: Callable[[CallRecord], None] | None = None
    parent: object = None
    start_ns: int = 0
    steps: list[StepTiming] = field(default_factory=list)
    timeout: float = 5.0

    def send(self, event: AuditEvent) -> None:
        """Hand ``event`` to the auditor (and keep it for the call's trace)."""
        if self.trace is not None:
            self.events.append(event)
        future = self.emit(event)
        if future is not None:
            self.pending.append(future)

    def ids(self, ids: Iterable[str]) -> tuple[tuple[str, ...], bool]:
        """``ids`` as an event holds them: as they are, or keyed digests."""
        key = self.digest_key
        if key is None:
            return tuple(ids), False
        return tuple(digest_id(key, i) for i in ids), True


_RUN: ContextVar[AuditRun | None] = ContextVar("sentinel_vectors_audit_run", default=None)


def current_run() -> AuditRun | None:
    """The audit record of the call running in this context, if a driver runs one."""
    return _RUN.get()


def enter_run(run: AuditRun) -> Token[AuditRun | None]:
    """Make ``run`` the current call's record (the driver, for the length of a call)."""
    return _RUN.set(run)


def exit_run(token: Token[AuditRun | None]) -> None:
    """Restore the record current before :func:`enter_run`."""
    _RUN.reset(token)


def log_fields(event: AuditEvent) -> dict[str, Any]:
    """The event as ``extra`` fields of a log record (``event``: ``sentinel_vectors.<kind>``).

    The fields the log records of earlier versions carried keep their names and
    values; a violation's ``details`` become fields of their own.
    """
    fields = event.to_dict()
    fields["event"] = f"sentinel_vectors.{fields.pop('kind')}"
    if isinstance(event, ViolationEvent):
        del fields["message"]  # the record's message; a reserved LogRecord attribute
        fields.update(fields.pop("details"))
    return fields


def now() -> float:
    """Wall-clock seconds for an event's ``at``."""
    return time.time()
