"""``reconcile``: the store and the identity service disagree, in either direction.

- **orphans**: chunks stamped with a resource the identity service does not know in
  that workspace (deregistered while its chunks stayed, or written around the
  lifecycle). Invisible to members, visible to admins: invariant 8 says they must go.
  :func:`reconcile` with ``purge=True`` deletes them, after asking the identity
  service once more right before the delete (a resource registered meanwhile keeps
  its chunks).
- **registered without chunks**: Sentinel (0.10) has no route that lists a service's
  resources, so this side needs the ids from you (``expected``: e.g. your documents
  table); those registered in Sentinel with no chunk in the store are listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.operations.check import scan_stamps
from sentinel_vectors.operations.directory import ResourceDirectory
from sentinel_vectors.operations.store import RawStore

__all__ = ["ReconcileReport", "reconcile"]


@dataclass
class ReconcileReport:
    """What :func:`reconcile` found (and purged)."""

    store: str
    records: int = 0
    unstamped: int = 0
    orphans: dict[str, int] = field(default_factory=dict)
    orphan_keys: list[str] = field(default_factory=list)
    registered_without_chunks: list[str] = field(default_factory=list)
    purged: int = 0

    @property
    def clean(self) -> bool:
        """No orphan left, and no registered resource without chunks."""
        return len(self.orphan_keys) == self.purged and not self.registered_without_chunks

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (without the orphans' keys)."""
        return {
            "store": self.store,
            "records": self.records,
            "unstamped": self.unstamped,
            "orphan_chunks": len(self.orphan_keys),
            "orphan_resources": self.orphans,
            "registered_without_chunks": self.registered_without_chunks,
            "purged": self.purged,
            "clean": self.clean,
        }


async def reconcile(
    store: RawStore,
    directory: ResourceDirectory,
    *,
    expected: Iterable[str] | None = None,
    purge: bool = False,
    batch_size: int = 500,
) -> ReconcileReport:
    """Find orphans (and, given ``expected`` resource ids, registered ones without chunks).

    With ``purge``, the orphans still unknown at the time of the delete are deleted.
    """
    report = ReconcileReport(f"{store.backend}:{store.name}")
    scan = await scan_stamps(store, batch_size=batch_size)
    report.records = scan.records
    report.unstamped = len(scan.missing) + len(scan.malformed)
    known = await directory.known(scan.resources)
    orphans = sorted(pair for pair in scan.resources if pair not in known)
    report.orphans = {f"{ws}/{rid}": len(scan.resources[(ws, rid)]) for ws, rid in orphans}
    report.orphan_keys = [k for pair in orphans for k in scan.resources[pair]]
    if expected is not None:
        with_chunks = {rid for _, rid in scan.resources}
        for rid in sorted({canonical_uuid(r, what="resource id") for r in expected}):
            if rid in with_chunks:
                continue
            if await directory.lookup(rid) is not None:
                report.registered_without_chunks.append(rid)
    if purge and orphans:
        # Ask again right before deleting, uncached: never delete a resource that was
        # registered since the scan.
        fresh = ResourceDirectory(directory.api, directory.resource_type)
        still = set(orphans) - await fresh.known(orphans)
        doomed = [k for pair in orphans if pair in still for k in scan.resources[pair]]
        for start in range(0, len(doomed), batch_size):
            await store.delete(doomed[start : start + batch_size])
        report.purged = len(doomed)
    return report
