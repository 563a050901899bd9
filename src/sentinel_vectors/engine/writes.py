"""The write workflow, written once: add/upsert, update and delete by id or filter.

Each generator takes its decisions from :class:`~sentinel_vectors.policy.TenancyPolicy`
and reaches the store only through the adapter's *target* (native calls yielded as
:class:`~sentinel_vectors.engine.effects.Native` effects). The order of steps is part
of the contract:

1. every question to the identity service comes first (``edit`` access, and for full
   access whether the named resources are registered), so a store transaction is not
   held open across a network call to Sentinel;
2. then the records the write would touch are probed, the policy stamps and
   authorizes, and the target applies the write *conditionally*: it receives the
   condition the check relied on (:meth:`~sentinel_vectors.policy.TenancyPolicy.
   overwritable`) and must not replace a record that no longer matches it
   (invariant 10; how is the store's own business: ``ON CONFLICT ... WHERE``, Qdrant's
   ``update_filter``, Chroma's conditional delete and read-back).

Nothing is written when any check refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sentinel_vectors.access import Access
from sentinel_vectors.engine.effects import AskAccess, AskRegistered, Row, Step
from sentinel_vectors.filters import Filter
from sentinel_vectors.policy import ExistingRecord, TenancyPolicy
from sentinel_vectors.strategy import plan_read
from sentinel_vectors.validation import refuse_existing_ids

__all__ = [
    "DeleteTarget",
    "Probe",
    "PutTarget",
    "Reached",
    "UpdateTarget",
    "authorize_resources",
    "delete",
    "put",
    "reach",
    "update",
]

PutOp = Literal["add", "upsert"]


class Probe(Protocol):
    """Reads the tenancy keys of stored records by physical id."""

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """The stored records among ``pids`` (absent ids left out), whoever owns them."""
        ...


class PutTarget(Probe, Protocol):
    """The adapter's side of an ``add``/``upsert``."""

    def put(
        self,
        op: PutOp,
        stamped: list[dict[str, Any]],
        stored: Mapping[str, ExistingRecord],
        condition: Filter | None,
    ) -> Step[None]:
        """Write the batch (the call's own columns, with ``stamped`` metadata).

        ``stored``: what the probe saw under the batch's ids. A stored record may be
        replaced only if, when the store applies the write, it still matches
        ``condition`` (``None``: none may be). On a lost race, raise
        :class:`~sentinel_vectors.errors.WriteConflictError` with nothing of the call
        left written.
        """
        ...


class UpdateTarget(Probe, Protocol):
    """The adapter's side of an in-place ``update``."""

    def update(
        self,
        keep: list[int],
        metadatas: list[dict[str, Any]] | None,
        existing: Mapping[int, ExistingRecord],
        condition: Filter | None,
    ) -> Step[None]:
        """Update the batch's rows at positions ``keep`` (the reachable ones) in place.

        ``metadatas``: the checked partial metadata of those rows (``None``: metadata
        unchanged). ``existing``: the stored record of each kept row, by position in
        ``keep``.
        """
        ...


class DeleteTarget(Probe, Protocol):
    """The adapter's side of a ``delete``."""

    def select(self, flt: Filter, pids: Sequence[str] | None) -> Step[list[Row]]:
        """Rows under ``flt`` (and among ``pids`` when given): the delete's candidates."""
        ...

    def remove(self, flt: Filter, pids: Sequence[str]) -> Step[None]:
        """Delete ``pids``, only those still matching ``flt`` when the store applies it."""
        ...


def authorize_resources(
    policy: TenancyPolicy, edit: Access, resources: Sequence[str]
) -> Step[None]:
    """The write rule for the named resources (invariant 8): ask, then decide; fail closed."""
    registered: set[str] = set()
    if edit.full and resources:
        registered = yield AskRegistered(tuple(sorted(set(resources))))
    policy.check_resources(edit, resources, registered)


def put(
    policy: TenancyPolicy,
    target: PutTarget,
    op: PutOp,
    *,
    ids: Sequence[str],
    pids: Sequence[str],
    metadatas: Sequence[Mapping[str, Any]],
) -> Step[list[dict[str, Any]]]:
    """Add or upsert records: stamped, authorized, written conditionally.

    ``ids`` are the caller's, ``pids`` the stored ones (same order). Returns the stamped
    metadatas. ``add`` refuses ids that already hold a record in the workspace (native
    ``add`` would skip or replace them silently).
    """
    policy.write_intent(op, ids)
    # Malformed tenancy keys are bad input: refused before anything is asked.
    resources = policy.resources_of(metadatas)
    policy.write_intent(op, ids, resources)
    edit = yield AskAccess("edit")
    yield from authorize_resources(policy, edit, resources)
    stored = yield from target.probe(pids)
    existing = {i: stored[pid] for i, pid in enumerate(pids) if pid in stored}
    if op == "add":
        refuse_existing_ids([ids[i] for i in existing])
    stamped = policy.stamp(metadatas, edit, existing)
    policy.check_ids(ids, stamped)
    policy.authorize_write(edit, existing=existing.values())
    yield from target.put(op, stamped, stored, policy.overwritable(edit))
    policy.wrote(ids, resources)
    return stamped


@dataclass(frozen=True, slots=True)
class Reached:
    """The records an update or delete by id acts on (invariant 9).

    ``positions``: indexes into the call's ids, in order; ``stored``: their records.
    """

    positions: list[int]
    stored: dict[str, ExistingRecord]
    edit: Access


def reach(
    policy: TenancyPolicy,
    target: Probe,
    *,
    ids: Sequence[str],
    pids: Sequence[str],
    view_first: bool = False,
) -> Step[Reached]:
    """Which named records an update/delete acts on: hidden ones are absent ids.

    ``view`` access is needed only when some stored record is not editable (to tell a
    hidden record, left out silently, from a visible one, which raises). By default it
    is asked then, after the probe. ``view_first``: ask it before the probe (unless
    ``edit`` is full access), for stores whose probe opens a transaction and locks the
    rows, so that no lock is held across a call to the identity service.
    """
    edit = yield AskAccess("edit")
    view: Access | None = None
    if view_first and not edit.full:
        view = yield AskAccess("view")
    stored = yield from target.probe(pids)
    if not stored:
        return Reached([], {}, edit)
    if any(not edit.allows(r.resource_id) for r in stored.values()):
        if view is None:
            view = yield AskAccess("view")
    else:
        view = edit
    by_id = {ids[i]: i for i, pid in enumerate(pids) if pid in stored}
    keys = policy.reachable({rid: stored[pids[i]] for rid, i in by_id.items()}, edit, view)
    kept = sorted(by_id[k] for k in keys)
    return Reached(kept, {pids[i]: stored[pids[i]] for i in kept}, edit)


def update(
    policy: TenancyPolicy,
    target: UpdateTarget,
    *,
    ids: Sequence[str],
    pids: Sequence[str],
    metadatas: Sequence[Mapping[str, Any]] | None,
    view_first: bool = False,
) -> Step[list[int]]:
    """Update reachable records in place; tenancy keys may only repeat stored values.

    Returns the positions written (unknown and hidden ids are skipped, as natively).
    ``view_first`` as in :func:`reach`.
    """
    policy.write_intent("update", ids)
    reached = yield from reach(policy, target, ids=ids, pids=pids, view_first=view_first)
    keep = reached.positions
    if not keep:
        policy.wrote((), ())
        return []
    existing = {pos: reached.stored[pids[i]] for pos, i in enumerate(keep)}
    checked = None
    if metadatas is not None:
        checked = policy.check_partial_update([metadatas[i] for i in keep], existing)
    yield from target.update(keep, checked, existing, policy.overwritable(reached.edit))
    policy.wrote([ids[i] for i in keep], [str(r.resource_id) for r in existing.values()])
    return keep


def delete(
    policy: TenancyPolicy,
    target: DeleteTarget,
    *,
    ids: Sequence[str] | None,
    pids: Sequence[str] | None,
    caller: Filter | None,
    strategy: Literal["auto", "prefilter", "chunked-prefilter", "postfilter"] = "auto",
    max_ids_per_query: int | None = None,
    limit: int | None = None,
    view_first: bool = False,
) -> Step[list[str]]:
    """Delete editable records by id and/or filter; returns the physical ids deleted.

    Named records the caller may not view are absent ids; named records it may view but
    not edit raise (nothing deleted). The selection is re-checked row by row, and every
    removal carries the filter it was selected under (invariant 10). ``view_first`` as
    in :func:`reach`.
    """
    policy.write_intent("delete", ids or ())
    policy.check_caller_filter(caller)
    chosen: list[str] | None = None
    if ids is not None and pids is not None:
        reached = yield from reach(policy, target, ids=ids, pids=pids, view_first=view_first)
        if not reached.positions:
            policy.wrote((), ())
            return []
        chosen = [pids[i] for i in reached.positions]
        edit = reached.edit
    else:
        edit = yield AskAccess("edit")
    kwargs: dict[str, Any] = {"strategy": strategy}
    if max_ids_per_query is not None:
        kwargs["max_ids_per_query"] = max_ids_per_query
    plan = plan_read(policy, edit, caller, **kwargs)
    if plan is None:
        policy.wrote((), ())
        return []
    targets: list[tuple[str, Filter]] = []
    touched: dict[str, str] = {}
    for flt in plan.filters:
        for row in (yield from target.select(flt, chosen)):
            if policy.recheck(row.meta, edit, row.pid):
                targets.append((row.pid, flt))
                touched[row.pid] = str(row.meta.get(policy.scope.resource_key))
    if limit is not None:
        targets = targets[:limit]
    groups: dict[int, tuple[Filter, list[str]]] = {}
    for pid, flt in targets:
        groups.setdefault(id(flt), (flt, []))[1].append(pid)
    for flt, group in groups.values():
        yield from target.remove(flt, group)
    removed = [pid for pid, _ in targets]
    policy.wrote(
        (policy.logical_id(p) if p.startswith(policy.scope.workspace_id) else p for p in removed),
        (touched[p] for p in removed),
    )
    return removed
