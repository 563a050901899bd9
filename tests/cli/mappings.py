"""Backfill mappings the tests name as ``tests.cli.mappings:<function>``."""

from __future__ import annotations

from typing import Any

from sentinel_vectors.operations import StoredRecord

CRASH: dict[str, Any] = {"at": None, "seen": 0}
"""``at``: the call (1-based) on which :func:`stamp_or_crash` raises, as a power cut would."""


def stamp_or_crash(record: StoredRecord) -> tuple[Any, Any, Any] | None:
    """The stamp from ``tenant``/``author``/``doc``; raises on call ``CRASH["at"]``."""
    CRASH["seen"] += 1
    if CRASH["at"] is not None and CRASH["seen"] >= CRASH["at"]:
        raise RuntimeError("power cut")
    meta = record.metadata
    if "tenant" not in meta:
        return None
    return (meta["tenant"], meta["author"], meta["doc"])


not_callable = 42
