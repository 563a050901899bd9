"""``purge-workspace``: delete every record of one workspace, with a receipt.

The records are those stamped with the workspace (``workspace_id``). Their keys are
collected first, deleted in batches, and the store is counted again: the receipt says,
per store, how many records there were before and after (in total and in the workspace)
and carries a SHA-256 digest of the deleted keys, so the deletion can be proven later
without keeping the ids. A second run deletes nothing and says so (idempotent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.operations.store import RawStore

__all__ = ["PurgeResult", "ids_digest", "purge_workspace", "utc_now"]


def utc_now() -> str:
    """The current time, ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def ids_digest(keys: Iterable[str]) -> str:
    """``sha256:<hex>`` of the sorted keys, one per line (the same set, the same digest)."""
    h = hashlib.sha256()
    for key in sorted(keys):
        h.update(key.encode())
        h.update(b"\n")
    return f"sha256:{h.hexdigest()}"


@dataclass(frozen=True)
class PurgeResult:
    """One store's part of a purge receipt."""

    store: str
    workspace_id: str
    total_before: int
    total_after: int
    workspace_before: int
    workspace_after: int
    deleted: int
    deleted_ids_digest: str
    started_at: str
    finished_at: str

    @property
    def complete(self) -> bool:
        """Nothing of the workspace is left in the store."""
        return self.workspace_after == 0

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "complete": self.complete}


async def purge_workspace(
    store: RawStore,
    workspace_id: str,
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> PurgeResult:
    """Delete every record of ``workspace_id`` from ``store``; ``progress(n)`` per batch."""
    ws = canonical_uuid(workspace_id, what="workspace_id")
    started = utc_now()
    total_before = await store.count()
    keys: list[str] = []
    async for batch in store.scan(workspace_id=ws, batch_size=batch_size):
        keys.extend(r.key for r in batch)
    for start in range(0, len(keys), batch_size):
        chunk = keys[start : start + batch_size]
        await store.delete(chunk)
        if progress is not None:
            progress(len(chunk))
    return PurgeResult(
        store=f"{store.backend}:{store.name}",
        workspace_id=ws,
        total_before=total_before,
        total_after=await store.count(),
        workspace_before=len(keys),
        workspace_after=await store.count(ws),
        deleted=len(keys),
        deleted_ids_digest=ids_digest(keys),
        started_at=started,
        finished_at=utc_now(),
    )
