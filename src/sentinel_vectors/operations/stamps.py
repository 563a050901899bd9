"""Reading and writing the tenancy stamps of stored records, outside any request.

:func:`read_stamp` tells a stamped record from a legacy or tampered one: every stamp
present and a canonical UUID. :func:`stamped` builds the stamped copy a backfill writes.
The keys are the ones the wrappers stamp (:data:`~sentinel_vectors.access.WORKSPACE_KEY`,
:data:`~sentinel_vectors.access.OWNER_KEY` and the resource key).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sentinel_vectors.access import OWNER_KEY, WORKSPACE_KEY, canonical_uuid
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.store import RecordId, StoredRecord

__all__ = ["Stamp", "StampState", "read_stamp", "stamp_keys", "stamped"]

StampState = Literal["ok", "missing", "malformed"]
"""``missing``: a stamp key is absent; ``malformed``: present, but not a canonical UUID."""


@dataclass(frozen=True, slots=True)
class Stamp:
    """Who a record belongs to: workspace, owner and resource (canonical UUID strings)."""

    workspace_id: str
    owner_id: str
    resource_id: str

    @classmethod
    def of(cls, workspace_id: object, owner_id: object, resource_id: object) -> Stamp:
        """Validate and canonicalise; :class:`InvalidInputError` names the bad part."""
        return cls(
            workspace_id=canonical_uuid(workspace_id, what="workspace_id"),
            owner_id=canonical_uuid(owner_id, what="owner_id"),
            resource_id=canonical_uuid(resource_id, what="resource_id"),
        )


def stamp_keys(resource_key: str) -> tuple[str, str, str]:
    """The three stamp keys, in the order workspace, owner, resource."""
    return (WORKSPACE_KEY, OWNER_KEY, resource_key)


def _canonical(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def read_stamp(metadata: Mapping[str, Any], resource_key: str) -> tuple[StampState, Stamp | None]:
    """The record's stamp, or why it has none.

    Only the canonical spelling counts: the wrappers write it, and a read filter compares
    strings, so an upper-case UUID is a record no scoped read ever finds.
    """
    values = [metadata.get(k) for k in stamp_keys(resource_key)]
    if any(v is None for v in values):
        return "missing", None
    if not all(_canonical(v) for v in values):
        return "malformed", None
    ws, owner, rid = (str(v) for v in values)
    return "ok", Stamp(ws, owner, rid)


def stamped(
    record: StoredRecord, stamp: Stamp, *, key: str, record_id: RecordId, resource_key: str
) -> StoredRecord:
    """The stamped copy of a legacy ``record``, stored under ``key``.

    The record's own metadata is kept (field names a mapping read from stay); the stamp
    keys are set from ``stamp``. The embedding must have been fetched.
    """
    if record.embedding is None:
        raise InvalidInputError(f"record {record.key!r} was read without its embedding")
    metadata = dict(record.metadata)
    metadata[WORKSPACE_KEY] = stamp.workspace_id
    metadata[OWNER_KEY] = stamp.owner_id
    metadata[resource_key] = stamp.resource_id
    return StoredRecord(
        key=key,
        id=record_id,
        document=record.document,
        metadata=metadata,
        embedding=record.embedding,
    )
