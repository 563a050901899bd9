"""The tenancy policy, written once for every backend.

Adapters call a :class:`TenancyPolicy` for every decision that involves tenancy:

- reads: the constraint ``workspace_id == ws AND (full access OR resource IN ids)``
  ANDed with the caller's filter (:meth:`TenancyPolicy.read_filter`), and the per-hit
  re-check before a record leaves the wrapper (:meth:`TenancyPolicy.recheck`);
- writes: stamping of ``workspace_id``, ``owner_id`` and the resource key
  (:meth:`TenancyPolicy.stamp`), the write rule (:meth:`TenancyPolicy.check_ids`,
  :meth:`TenancyPolicy.check_resources`, :meth:`TenancyPolicy.authorize_write`),
  and which records an update or delete by id reaches
  (:meth:`TenancyPolicy.reachable`: hidden records are absent);
- ids: the per-workspace physical id namespace (:meth:`TenancyPolicy.physical_id`);
- audit: one event per read (:meth:`TenancyPolicy.audit`), write
  (:meth:`TenancyPolicy.write_intent`, :meth:`TenancyPolicy.wrote`) and dropped hit
  (:meth:`TenancyPolicy.violation`), as typed :mod:`sentinel_vectors.events` handed to the
  call's :class:`~sentinel_vectors.events.AuditRun` (the driver's), or logged on
  :data:`AUDIT_LOGGER` when the policy runs outside a driver.

An adapter only compiles filters and calls its native client.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentinel_vectors.access import (
    ID_SEPARATOR,
    OWNER_KEY,
    WORKSPACE_KEY,
    Access,
    canonical_uuid,
    namespaced_id,
)
from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
    ReservedKeyError,
    SentinelVectorsError,
)
from sentinel_vectors.events import (
    AUDIT_LOGGER,
    AuditRun,
    ReadEvent,
    ViolationEvent,
    WriteEvent,
    current_run,
    log_fields,
    now,
)
from sentinel_vectors.filters import Filter, and_, eq, filter_keys, in_

if TYPE_CHECKING:  # the Scope carries the auth context (I/O); the policy only reads it
    from sentinel_vectors.scope import Scope

__all__ = ["AUDIT_LOGGER", "ExistingRecord", "TenancyPolicy", "resource_of_id"]

_audit = logging.getLogger(AUDIT_LOGGER)

# The physical id is "<workspace uuid>:<caller id>" (access.namespaced_id); a UUID never
# contains ':', so the split is unambiguous whatever the caller's id holds.
_SEP = ID_SEPARATOR


@dataclass(frozen=True, slots=True)
class ExistingRecord:
    """What the policy needs to know about a stored record a write would touch."""

    workspace_id: object
    resource_id: object
    owner_id: object


@dataclass
class TenancyPolicy:
    """Tenancy decisions for one scope, plus the count of hits the re-check dropped."""

    scope: Scope
    collection: str = "?"
    violations: int = field(default=0)

    # -- ids ------------------------------------------------------------------------

    def physical_id(self, record_id: str) -> str:
        """The id stored in the backend: the caller's id inside the workspace namespace."""
        return namespaced_id(self.scope.workspace_id, record_id)

    def logical_id(self, physical_id: str) -> str:
        """The caller's id back from a stored id of this workspace."""
        prefix = f"{self.scope.workspace_id}{_SEP}"
        if not physical_id.startswith(prefix):
            raise AccessDeniedError(f"record {physical_id!r} is outside the caller's workspace")
        return physical_id[len(prefix) :]

    # -- reads ----------------------------------------------------------------------

    def begin(self, collection: str | None = None, operation: str | None = None) -> None:
        """Name this policy, the collection and the workflow as the current call's.

        The engine calls it when a read or write starts, so that its events (and a
        refusal the driver reports) carry the collection, scope and operation.
        """
        run = current_run()
        if run is not None:
            run.describe = self.event_base
            run.collection = collection or self.collection
            if operation is not None:
                run.operation = operation

    def check_caller_filter(self, caller: Filter | None) -> None:
        """Refuse caller filters that name a tenancy key: the scope constrains those."""
        if caller is None:
            return
        self.check_filter_keys(filter_keys(caller))

    def check_filter_keys(self, keys: Iterable[str]) -> None:
        """Refuse a native filter (walked by the adapter) that names a tenancy key.

        For backends whose filters are not expressed in the neutral algebra: the adapter
        collects the top-level payload keys its native filter mentions.
        """
        clash = set(keys) & self.scope.reserved_keys
        if clash:
            raise ReservedKeyError(
                f"filters may not name {sorted(clash)}: the scope already restricts them to "
                f"what the caller may see. Remove that condition from the filter."
            )

    def check_removable_keys(self, keys: Iterable[str]) -> None:
        """Refuse removing (or writing below) a tenancy key of stored records."""
        clash = set(keys) & self.scope.reserved_keys
        if clash:
            raise ReservedKeyError(
                f"{sorted(clash)} are tenancy keys stamped from the scope; they cannot be "
                f"removed or modified in place. Nothing was written."
            )

    def read_filter(self, access: Access, caller: Filter | None = None) -> Filter | None:
        """The tenancy constraint ANDed with the caller's filter, or None if nothing is visible.

        ``None`` means the caller can see nothing: return an empty result without asking
        the store (never fall back to a wider query).
        """
        self.check_caller_filter(caller)
        if access.is_empty:
            return None
        parts: list[Filter] = [eq(WORKSPACE_KEY, self.scope.workspace_id)]
        if not access.full:
            parts.append(in_(self.scope.resource_key, sorted(access.resource_ids)))
        if caller is not None:
            parts.append(caller)
        return and_(*parts)

    def workspace_filter(self, caller: Filter | None = None) -> Filter:
        """The workspace constraint alone (ANDed with the caller's filter).

        For read strategies that post-filter by resource: every hit still passes
        :meth:`recheck` before it is returned.
        """
        self.check_caller_filter(caller)
        ws = eq(WORKSPACE_KEY, self.scope.workspace_id)
        return ws if caller is None else and_(ws, caller)

    def recheck(
        self,
        metadata: Mapping[str, Any] | None,
        access: Access,
        record_id: str,
        *,
        postfiltered: bool = False,
        collection: str | None = None,
    ) -> bool:
        """Re-check one hit against invariant 1 before it leaves the wrapper.

        A hit from another workspace, or of a resource the caller may not reach, is a
        bug below us (a compiler, a backend, tampered data): it is dropped, counted in
        :attr:`violations` and reported as a
        :class:`~sentinel_vectors.events.ViolationEvent` (logged at ERROR on
        :data:`AUDIT_LOGGER` by default).

        ``postfiltered``: the hit is a candidate of a post-filter, which the store
        selected by workspace only. A resource outside ``access`` is then expected and
        dropped silently; another workspace is still a violation. ``collection``
        names the collection in the log (default: :attr:`collection`), so one policy
        can serve calls on several collections without per-call state.
        """
        run = current_run()
        if run is None or "read" not in run.wants:
            return self._recheck(metadata, access, record_id, postfiltered, collection)
        # The re-check's share of the read's time (the tracer's re-check span).
        started = time.perf_counter_ns()
        try:
            return self._recheck(metadata, access, record_id, postfiltered, collection)
        finally:
            run.recheck_ns += time.perf_counter_ns() - started

    def _recheck(
        self,
        metadata: Mapping[str, Any] | None,
        access: Access,
        record_id: str,
        postfiltered: bool,
        collection: str | None,
    ) -> bool:
        meta = metadata or {}
        same_workspace = meta.get(WORKSPACE_KEY) == self.scope.workspace_id
        allowed = access.allows(meta.get(self.scope.resource_key))
        ok = same_workspace and allowed
        if postfiltered and same_workspace and not allowed:
            return False
        if not ok:
            self.violation(
                "sentinel-vectors dropped a hit that failed the tenancy re-check",
                record_id,
                collection=collection,
                record_workspace_id=meta.get(WORKSPACE_KEY),
                record_resource_id=meta.get(self.scope.resource_key),
            )
        return ok

    def violation(
        self, message: str, record_id: str, *, collection: str | None = None, **details: object
    ) -> None:
        """Count and report one dropped hit (invariant 7) that an adapter's own check refused.

        :meth:`recheck` calls it for the tenancy keys; an adapter calls it for a check of
        its own (Qdrant: a stored id that does not match the payload's), so every
        violation is counted in :attr:`violations` and reported the same way (a
        :class:`~sentinel_vectors.events.ViolationEvent`, logged at ERROR by default).
        """
        self.violations += 1
        run = current_run()
        if run is not None and "violation" not in run.wants:
            return
        if run is None and not _audit.isEnabledFor(logging.ERROR):
            return
        event = ViolationEvent(
            **self._event_base(run, collection),
            record_id=record_id,
            message=message,
            details=tuple((k, str(v)) for k, v in details.items()),
        )
        if run is None:
            _audit.error(message, extra=log_fields(event))
        else:
            run.send(event)

    def audit(
        self,
        *,
        strategy: str,
        examined: int,
        returned: int,
        dropped: int,
        complete: bool = True,
        collection: str | None = None,
        access: Access | None = None,
        returned_ids: Iterable[str] = (),
    ) -> None:
        """Report the one audit event of a read (a :class:`~sentinel_vectors.events.ReadEvent`).

        ``dropped`` counts hits the re-check refused (for a post-filter, candidates of
        resources the caller may not see, which are expected). ``complete`` is ``False``
        when a post-filter's over-fetch could not fill ``k`` (see
        :mod:`sentinel_vectors.strategy`). ``collection``: the collection read, when the
        wrapper names it per call (default :attr:`collection`). ``access``: the answer
        the read was planned on (its size goes into the event). ``returned_ids``: the
        stored ids returned (consumed only when a sink wants read events; the
        workspace prefix is removed).

        Under a driver the event goes to the call's :class:`~sentinel_vectors.events.
        AuditRun` (with the lookup and store time); outside one it is logged at INFO on
        :data:`AUDIT_LOGGER`, as it always was.
        """
        run = current_run()
        if run is None:
            if not _audit.isEnabledFor(logging.INFO):
                return
        elif "read" not in run.wants:
            return
        prefix = f"{self.scope.workspace_id}{_SEP}"
        cut = len(prefix)
        ids = (i[cut:] if i.startswith(prefix) else i for i in returned_ids)
        shown, digested = (tuple(ids), False) if run is None else run.ids(ids)
        event = ReadEvent(
            **self._event_base(run, collection),
            strategy=strategy,
            full_access=access is not None and access.full,
            accessible=(None if access is None or access.full else access.count),
            examined=examined,
            returned=returned,
            returned_ids=shown,
            ids_digested=digested,
            dropped=dropped,
            complete=complete,
            lookup_ms=0.0 if run is None else run.lookup_ns / 1e6,
            store_ms=0.0 if run is None else run.store_ns / 1e6,
            recheck_ms=0.0 if run is None else run.recheck_ns / 1e6,
        )
        if run is None:
            _audit.info("sentinel-vectors scoped read", extra=log_fields(event))
        else:
            run.send(event)

    def write_intent(
        self,
        operation: str,
        ids: Iterable[str],
        resources: Iterable[str] = (),
        *,
        collection: str | None = None,
    ) -> None:
        """Note what a write names before it is checked (its event if it is refused).

        The driver reports a :class:`~sentinel_vectors.events.WriteEvent` with outcome
        ``refused`` or ``failed`` from this when the write raises.
        """
        run = current_run()
        if run is None:
            return
        self.begin(collection, operation)
        if "write" in run.wants:
            run.write = (operation, tuple(ids), tuple(resources))

    def wrote(self, ids: Iterable[str], resources: Iterable[str]) -> None:
        """Report a write that succeeded: the caller's ids and the resources it touched."""
        run = current_run()
        if run is None or run.write is None:
            return
        operation = run.write[0]
        run.write = None
        shown, digested = run.ids(ids)
        run.send(
            WriteEvent(
                **self._event_base(run, run.collection, operation),
                ids=shown,
                resources=tuple(sorted(set(resources))),
                outcome="ok",
                ids_digested=digested,
            )
        )

    def event_base(
        self, run: AuditRun | None, collection: str | None = None, operation: str | None = None
    ) -> dict[str, Any]:
        """The fields every event of this scope shares (see
        :class:`~sentinel_vectors.events.AuditEventBase`)."""
        return self._event_base(run, collection, operation)

    def _event_base(
        self, run: AuditRun | None, collection: str | None, operation: str | None = None
    ) -> dict[str, Any]:
        scope = self.scope
        return {
            "at": now(),
            "request_id": None if run is None else run.request_id,
            "operation": operation or ("?" if run is None else run.operation),
            "workspace_id": scope.workspace_id,
            "user_id": scope.user_id,
            "role": scope.role,
            "collection": collection or self.collection,
            "resource_type": scope.resource_type,
        }

    # -- writes ---------------------------------------------------------------------

    def stamp(
        self,
        metadatas: Iterable[Mapping[str, Any]],
        edit: Access,
        existing: Mapping[int, ExistingRecord] | None = None,
    ) -> list[dict[str, Any]]:
        """Stamp tenancy keys onto new or replaced records' metadata.

        Each metadata must name its resource under the resource key (a UUID). A
        ``workspace_id`` that differs from the scope's is refused; an ``owner_id`` other
        than the caller needs full access. For a record that already exists
        (``existing``, by position) an omitted ``owner_id`` keeps the stored owner.
        """
        existing = existing or {}
        stamped: list[dict[str, Any]] = []
        for i, meta in enumerate(metadatas):
            out = dict(meta)
            if self.scope.resource_key not in out:
                raise ReservedKeyError(
                    f"metadatas[{i}] must name its resource under {self.scope.resource_key!r} "
                    f"(the Sentinel resource id this chunk belongs to)"
                )
            out[self.scope.resource_key] = canonical_uuid(
                out[self.scope.resource_key], what=f"metadatas[{i}][{self.scope.resource_key!r}]"
            )
            self._check_workspace(out, i)
            prior = existing.get(i)
            if OWNER_KEY in out:
                owner = canonical_uuid(out[OWNER_KEY], what=f"metadatas[{i}]['owner_id']")
                kept = prior is not None and owner == prior.owner_id
                if owner != self.scope.user_id and not kept and not edit.full:
                    raise _ruled(
                        "owner",
                        AccessDeniedError(
                            f"metadatas[{i}] sets owner_id {owner}; only workspace admins and "
                            f"owners may write chunks owned by someone else. Omit owner_id to "
                            f"own them."
                        ),
                    )
                out[OWNER_KEY] = owner
            elif prior is not None and isinstance(prior.owner_id, str):
                out[OWNER_KEY] = prior.owner_id
            else:
                out[OWNER_KEY] = self.scope.user_id
            out[WORKSPACE_KEY] = self.scope.workspace_id
            stamped.append(out)
        return stamped

    def check_partial_update(
        self, metadatas: Iterable[Mapping[str, Any]], existing: Mapping[int, ExistingRecord]
    ) -> list[dict[str, Any]]:
        """Check metadata of an in-place update, whose omitted keys keep stored values.

        Tenancy keys may be repeated only with their stored values: moving a chunk to
        another resource, owner or workspace is a delete and a new add.
        """
        out: list[dict[str, Any]] = []
        for i, meta in enumerate(metadatas):
            row = dict(meta)
            self._check_workspace(row, i)
            prior = existing.get(i)
            for key, stored in (
                (self.scope.resource_key, None if prior is None else prior.resource_id),
                (OWNER_KEY, None if prior is None else prior.owner_id),
            ):
                if key in row:
                    value = canonical_uuid(row[key], what=f"metadatas[{i}][{key!r}]")
                    if prior is not None and value != stored:
                        raise ReservedKeyError(
                            f"metadatas[{i}] changes {key!r} of an existing record; tenancy keys "
                            f"cannot be updated in place. Delete the record and add it again."
                        )
                    row[key] = value
            if WORKSPACE_KEY in row:
                row[WORKSPACE_KEY] = self.scope.workspace_id
            out.append(row)
        return out

    def _check_workspace(self, meta: Mapping[str, Any], i: int) -> None:
        if WORKSPACE_KEY in meta:
            given = meta[WORKSPACE_KEY]
            try:
                same = canonical_uuid(given, what="workspace_id") == self.scope.workspace_id
            except InvalidInputError:
                same = False
            if not same:
                raise ReservedKeyError(
                    f"metadatas[{i}] sets workspace_id {given!r} but the caller's workspace is "
                    f"{self.scope.workspace_id}; records are always written to the caller's "
                    f"workspace. Omit workspace_id."
                )

    def keep_tenancy(self, values: Mapping[str, Any], stored: ExistingRecord) -> dict[str, Any]:
        """``values`` with the tenancy keys a stored record already holds (workspace from
        the scope, resource and owner as stored): the payload of a record whose payload is
        replaced in place (Qdrant ``overwrite_payload``, ``clear_payload``).

        ``values`` come from :meth:`check_partial_update`; tenancy keys never change in
        place.
        """
        return {
            **values,
            WORKSPACE_KEY: self.scope.workspace_id,
            self.scope.resource_key: stored.resource_id,
            OWNER_KEY: stored.owner_id,
        }

    def overwritable(self, edit: Access) -> Filter | None:
        """The filter a stored record must match, when the store applies a write, to be
        replaced or removed (invariant 10); ``None``: no stored record may be.

        The same rule :meth:`authorize_write` applies to ``existing`` records, as a
        condition the adapter hands to the store's conditional write (pgvector
        ``ON CONFLICT ... DO UPDATE ... WHERE``, Qdrant ``update_filter``), so a record
        that another writer created or changed after the check is not overwritten.
        """
        return self.read_filter(edit)

    # -- the write rule ---------------------------------------------------------------

    def check_ids(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Refuse a record whose id is reserved to another resource (invariant 8).

        An id of the form ``"<resource uuid>:<anything>"`` (:func:`resource_of_id`) may
        only hold a record of that resource: chunk ids (:func:`sentinel_vectors.index.
        chunk_id`) have this form, so nobody can squat the next chunk ids of a resource
        they cannot edit. ``metadatas`` are stamped (canonical resource ids).
        """
        key = self.scope.resource_key
        for i, (rid, meta) in enumerate(zip(ids, metadatas, strict=True)):
            owner = resource_of_id(rid)
            if owner is not None and owner != meta.get(key):
                raise _ruled(
                    "reserved-id",
                    AccessDeniedError(
                        f"ids[{i}] {rid!r} has the form '<resource id>:...', reserved to "
                        f"records of resource {owner}, but its metadata names another "
                        f"resource. Use an id that does not start with a resource id. "
                        f"Nothing was written."
                    ),
                )

    def resources_of(self, metadatas: Sequence[Mapping[str, Any]]) -> list[str]:
        """The canonical resource ids a write names, sorted, each once.

        Each metadata must name its resource under the resource key (a UUID), and may
        name no other workspace than the caller's: the checks and messages of
        :meth:`stamp` that need no access, made before anything is asked or read.
        """
        key = self.scope.resource_key
        out: set[str] = set()
        for i, meta in enumerate(metadatas):
            if key not in meta:
                raise ReservedKeyError(
                    f"metadatas[{i}] must name its resource under {key!r} "
                    f"(the Sentinel resource id this chunk belongs to)"
                )
            out.add(canonical_uuid(meta[key], what=f"metadatas[{i}][{key!r}]"))
            self._check_workspace(meta, i)
        return sorted(out)

    def check_resources(
        self, edit: Access, resources: Iterable[str], registered: Iterable[str] = ()
    ) -> None:
        """The write rule for the resources a write names (invariant 8), decided.

        ``registered``: for full access, the resources the identity service said are
        registered in the caller's workspace (:class:`~sentinel_vectors.engine.effects.
        AskRegistered`); members are decided by ``edit`` alone. Same rule and message
        as before the engine, with the lookup done by the caller (the engine asks
        :class:`~sentinel_vectors.engine.effects.AskRegistered`).
        """
        wanted = sorted(set(resources))
        if edit.full:
            known = set(registered)
            refused = [r for r in wanted if r not in known]
        else:
            refused = [r for r in wanted if not edit.allows(r)]
        if refused:
            raise self._refused_resource(refused[0])

    def _refused_resource(self, rid: str) -> AccessDeniedError:
        return _ruled(
            "write-rule",
            AccessDeniedError(
                f"the caller may not write chunks of {self.scope.resource_type} {rid}: "
                f"records may only be written for resources registered in the caller's "
                f"workspace that the caller may edit. Register new resources first "
                f"(ResourceLifecycle.index_resource or register_resource). Nothing was written."
            ),
        )

    def authorize_write(self, edit: Access, *, existing: Iterable[ExistingRecord]) -> None:
        """Records a write would replace must be editable; raise before anything is written.

        The message names no resource: a record the caller may not edit may also be one
        it may not see.
        """
        for record in existing:
            if record.workspace_id != self.scope.workspace_id or not edit.allows(
                record.resource_id
            ):
                raise _ruled(
                    "write-rule",
                    AccessDeniedError(
                        "an id of this write already holds a record the caller may not "
                        "replace; use another id. Nothing was written."
                    ),
                )

    def reachable[K](
        self, existing: Mapping[K, ExistingRecord], edit: Access, view: Access
    ) -> list[K]:
        """The records an ``update``/``delete`` by id acts on (invariant 9).

        A record the caller may not view is treated exactly like an absent id: left out,
        with no error. A record it may view but not edit raises
        :class:`AccessDeniedError` (nothing is changed). Returns the keys of the editable
        records, in ``existing``'s order.
        """
        out: list[K] = []
        for key, record in existing.items():
            if record.workspace_id != self.scope.workspace_id:
                continue
            if edit.allows(record.resource_id):
                out.append(key)
            elif view.allows(record.resource_id):
                raise _ruled(
                    "not-editable",
                    AccessDeniedError(
                        f"record {key!s} belongs to {self.scope.resource_type} "
                        f"{record.resource_id}, which the caller may view but not edit; ask "
                        f"its owner to share it with edit permission. Nothing was changed."
                    ),
                )
        return out

    def resource_filter(self, access: Access, resource_id: str) -> Filter | None:
        """Every record of one resource in the workspace, if ``access`` reaches it.

        The selection the lifecycle's chunk removal and count use (by the stamped,
        reserved resource key, never by a caller-writable key). ``None``: the resource
        is out of reach, select nothing. Built here, not by a caller filter, so the rule
        that caller filters may not name the resource key stays whole.
        """
        rid = canonical_uuid(resource_id, what="resource_id")
        if not access.allows(rid):
            return None
        return and_(eq(WORKSPACE_KEY, self.scope.workspace_id), eq(self.scope.resource_key, rid))


def _ruled[E: SentinelVectorsError](rule: str, exc: E) -> E:
    """``exc`` tagged with the rule that raised it (its refusal event names the rule)."""
    exc.rule = rule
    return exc


def resource_of_id(record_id: str) -> str | None:
    """The resource an id is reserved to: ``"<uuid>:<rest>"`` -> the canonical uuid.

    Any other id (no ``:``, or a head that is not a UUID) is reserved to nobody.
    """
    head, sep, _ = record_id.partition(_SEP)
    if not sep or len(head) != 36:
        return None
    try:
        return str(uuid.UUID(head))
    except ValueError:
        return None
