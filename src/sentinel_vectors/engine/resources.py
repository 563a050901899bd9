"""Whole-resource workflows: what the resource lifecycle's chunk index asks of a store.

:class:`~sentinel_vectors.lifecycle.ResourceLifecycle` works on every record of one
resource in the caller's workspace (count its chunks, remove the ones a re-index left
behind, check who owns them before a claim). The selection is always
:meth:`TenancyPolicy.resource_filter <sentinel_vectors.policy.TenancyPolicy.resource_filter>`
(by the stamped resource key, never a caller filter) and every row is re-checked, so an
adapter only supplies the same *source* and *target* its listing and delete use.
"""

from __future__ import annotations

from collections.abc import Collection

from sentinel_vectors.access import OWNER_KEY, Access, Action
from sentinel_vectors.engine.effects import AskAccess, Step
from sentinel_vectors.engine.reads import ListSource
from sentinel_vectors.engine.writes import DeleteTarget
from sentinel_vectors.policy import TenancyPolicy

__all__ = ["remove_resource", "resource_owners", "resource_records"]


def resource_records(
    policy: TenancyPolicy, source: ListSource, resource_id: str, action: Action
) -> Step[list[str]]:
    """Physical ids of every record of the resource the caller may ``action`` (re-checked)."""
    access = yield AskAccess(action)
    flt = policy.resource_filter(access, resource_id)
    if flt is None:
        return []
    rows = yield from source.fetch(flt, None, limit=None, offset=None)
    return [r.pid for r in rows if policy.recheck(r.meta, access, r.pid)]


def remove_resource(
    policy: TenancyPolicy, target: DeleteTarget, resource_id: str, keep: Collection[str] = ()
) -> Step[int]:
    """Delete every record of the resource but the physical ids ``keep``, if editable.

    The removal carries the resource filter it selected under (invariant 10). Returns
    how many records were removed.
    """
    edit = yield AskAccess("edit")
    flt = policy.resource_filter(edit, resource_id)
    if flt is None:
        return 0
    kept = set(keep)
    rows = yield from target.select(flt, None)
    chosen = [r.pid for r in rows if policy.recheck(r.meta, edit, r.pid) and r.pid not in kept]
    if chosen:
        yield from target.remove(flt, chosen)
    return len(chosen)


def resource_owners(
    policy: TenancyPolicy, source: ListSource, resource_id: str
) -> Step[set[object]]:
    """Owners of the resource's records in the workspace, whatever the caller may see.

    For the lifecycle's claim check only; never returned to a caller. Asks nothing of
    the permission service (the answer is compared with the caller's own id).
    """
    full = Access(action="view", full=True, resource_ids=frozenset())
    flt = policy.resource_filter(full, resource_id)
    assert flt is not None
    rows = yield from source.fetch(flt, None, limit=None, offset=None)
    return {r.meta.get(OWNER_KEY) for r in rows}
