"""The raw, unscoped record access an operations command needs of a store.

Operations (check, purge, export, migrate, backfill, reconcile) run as an administrator
over whole collections: they read records of every workspace, write records whose stamps
they computed, and delete by stored id. That is exactly what the scoped wrappers refuse,
so it is a separate, small protocol, :class:`RawStore`, which each adapter implements
next to its binding (``sentinel_vectors_<store>.rawstore``) and which nothing in a
request path uses.

A record travels as a :class:`StoredRecord`: its stored key (the backend's physical id,
as text), the caller's id, the document, the metadata *with* the tenancy stamps (pgvector
keeps them in columns; its store merges them in), and optionally the embedding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["Finding", "RawStore", "RecordId", "Severity", "StoredRecord"]

RecordId = str | int
"""A caller's record id as written (Qdrant also allows unsigned integers)."""

Severity = Literal["error", "warning", "info"]
"""How bad a :class:`Finding` is: ``error`` fails ``check``; ``warning`` with ``--strict``."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record as stored, backend-neutral.

    ``key`` is the stored (physical) id as text; ``id`` is the caller's id the store
    derives from it (Chroma: after ``"<workspace>:"``; Qdrant: the payload's id; pgvector:
    the ``id`` column), or the key itself for a record that was never namespaced.
    ``metadata`` holds the tenancy stamps under their keys. ``embedding`` is ``None`` when
    it was not asked for.
    """

    key: str
    id: RecordId
    document: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    embedding: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing ``check`` (or a store's configuration check) found.

    ``code`` is stable (``"data.missing_stamp"``, ``"qdrant.tenant_index"``, ...) for
    scripts; ``count`` and ``examples`` (stored keys, at most a few) say how much and where.
    """

    code: str
    message: str
    severity: Severity = "error"
    count: int = 0
    examples: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "count": self.count,
            "examples": list(self.examples),
        }


@runtime_checkable
class RawStore(Protocol):
    """Unscoped access to one collection or table, for operations only.

    Every method is a coroutine (or an async iterator) so one driver serves every
    backend; a blocking client is called in a worker thread by its implementation.
    """

    @property
    def backend(self) -> str:
        """``"chroma"``, ``"qdrant"`` or ``"pgvector"``."""
        ...

    @property
    def name(self) -> str:
        """The collection or table, for reports and receipts."""
        ...

    @property
    def resource_key(self) -> str:
        """The metadata key (or column) naming each record's resource."""
        ...

    async def count(self, workspace_id: str | None = None) -> int:
        """How many records are stored (stamped with ``workspace_id``, if given)."""
        ...

    def scan(
        self,
        *,
        workspace_id: str | None = None,
        batch_size: int = 256,
        embeddings: bool = False,
    ) -> AsyncIterator[list[StoredRecord]]:
        """Every record (stamped with ``workspace_id``, if given), in batches.

        Do not write or delete while scanning: collect the keys first.
        """
        ...

    async def fetch(self, keys: Sequence[str], *, embeddings: bool = True) -> list[StoredRecord]:
        """The records stored under ``keys`` (absent keys are left out)."""
        ...

    async def write(self, records: Sequence[StoredRecord]) -> None:
        """Store ``records`` under their keys as they are (insert or replace)."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete the records stored under ``keys`` (absent keys are ignored)."""
        ...

    def physical_key(self, workspace_id: str, record_id: RecordId) -> str:
        """The key a record of ``workspace_id`` with the caller's id ``record_id`` is stored
        under (the wrappers' rule); :class:`~sentinel_vectors.errors.InvalidInputError`
        for an id this backend cannot store."""
        ...

    async def nearest(
        self, embedding: Sequence[float], k: int, *, workspace_id: str
    ) -> list[RecordId]:
        """The caller's ids of the ``k`` records of ``workspace_id`` nearest ``embedding``."""
        ...

    async def check_config(self) -> list[Finding]:
        """What is wrong with the collection's configuration for scoped use."""
        ...

    async def aclose(self) -> None:
        """Release the client."""
        ...
