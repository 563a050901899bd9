"""``check``: is a collection fit for scoped use, and is every record properly stamped?

:func:`check_store` combines the store's own configuration check
(:meth:`~sentinel_vectors.operations.store.RawStore.check_config`) with one pass over
the data:

- ``data.missing_stamp``: a record without ``workspace_id``, ``owner_id`` or the resource
  key (written before the wrappers; no scoped read ever returns it);
- ``data.malformed_stamp``: a stamp that is not a canonical UUID;
- ``data.id_outside_namespace``: a stamped record whose stored id is not its workspace's
  namespaced id (:func:`~sentinel_vectors.access.namespaced_id`): another workspace's
  write of the same id could reach it (invariant 3);
- ``data.unknown_resource``: chunks of a resource the identity service does not know in
  the stamped workspace (invariant 8: invisible to members, visible to admins).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.directory import ResourceDirectory
from sentinel_vectors.operations.stamps import read_stamp
from sentinel_vectors.operations.store import Finding, RawStore

__all__ = ["CheckReport", "check_store", "scan_stamps"]


@dataclass
class StampScan:
    """What one pass over a store's records found (keys per problem, chunks per resource)."""

    records: int = 0
    missing: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    resources: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))


async def scan_stamps(store: RawStore, *, batch_size: int = 512) -> StampScan:
    """One pass over every record: stamp problems, and the keys of each resource's chunks."""
    found = StampScan()
    async for batch in store.scan(batch_size=batch_size):
        for record in batch:
            found.records += 1
            state, stamp = read_stamp(record.metadata, store.resource_key)
            if stamp is None:
                (found.missing if state == "missing" else found.malformed).append(record.key)
                continue
            try:
                expected = store.physical_key(stamp.workspace_id, record.id)
            except InvalidInputError:
                expected = None
            if expected != record.key:
                found.outside.append(record.key)
            found.resources[(stamp.workspace_id, stamp.resource_id)].append(record.key)
    return found


@dataclass
class CheckReport:
    """The findings for one store; :attr:`ok` when there is no error."""

    store: str
    records: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        """No finding of severity ``error``."""
        return not any(f.severity == "error" for f in self.findings)

    def passed(self, *, strict: bool = False) -> bool:
        """:attr:`ok`, and with ``strict`` no warning either."""
        bad = {"error", "warning"} if strict else {"error"}
        return not any(f.severity in bad for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "store": self.store,
            "records": self.records,
            "ok": self.ok,
            "findings": [f.as_json() for f in self.findings],
        }


def _finding(code: str, keys: list[str], message: str, examples: int) -> Finding:
    return Finding(code, message, "error", len(keys), tuple(sorted(keys)[:examples]))


async def check_store(
    store: RawStore,
    *,
    directory: ResourceDirectory | None = None,
    batch_size: int = 512,
    examples: int = 5,
) -> CheckReport:
    """Check ``store``'s configuration and data; see the module docstring for the codes.

    Without a ``directory`` the resources are not checked (an ``info`` finding says so).
    """
    findings = list(await store.check_config())
    scan = await scan_stamps(store, batch_size=batch_size)
    if scan.missing:
        findings.append(
            _finding(
                "data.missing_stamp",
                scan.missing,
                f"{len(scan.missing)} record(s) lack a tenancy stamp (workspace_id, owner_id, "
                f"{store.resource_key}); no scoped read returns them. Run `backfill`.",
                examples,
            )
        )
    if scan.malformed:
        findings.append(
            _finding(
                "data.malformed_stamp",
                scan.malformed,
                f"{len(scan.malformed)} record(s) have a stamp that is not a canonical UUID.",
                examples,
            )
        )
    if scan.outside:
        findings.append(
            _finding(
                "data.id_outside_namespace",
                scan.outside,
                f"{len(scan.outside)} stamped record(s) are stored under an id outside their "
                f"workspace's namespace; a write of the same id in another workspace could "
                f"reach them. Run `backfill` to re-key them.",
                examples,
            )
        )
    if directory is None:
        findings.append(
            Finding(
                "data.resources_not_checked",
                "no Sentinel settings: whether each resource is registered was not checked",
                "info",
            )
        )
    else:
        known = await directory.known(scan.resources)
        unknown = sorted(pair for pair in scan.resources if pair not in known)
        if unknown:
            keys = [k for pair in unknown for k in scan.resources[pair]]
            findings.append(
                Finding(
                    "data.unknown_resource",
                    f"{len(keys)} record(s) of {len(unknown)} resource(s) the identity service "
                    f"does not know in their workspace (orphans); run `reconcile`.",
                    "error",
                    len(keys),
                    tuple(f"{ws}/{rid}" for ws, rid in unknown[:examples]),
                )
            )
    return CheckReport(f"{store.backend}:{store.name}", scan.records, findings)
