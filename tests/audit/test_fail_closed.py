"""Fail-closed auditing on every backend (both drivers: pgvector runs the blocking one)."""

from __future__ import annotations

import pytest

from sentinel_vectors import audit
from sentinel_vectors.errors import AuditError
from sentinel_vectors.testing.conformance.world import World
from tests.audit.conftest import Collect, install


async def test_fail_closed_auditing_refuses_a_read_whose_event_was_not_recorded(
    conformance_loaded: World, installed: list[audit.Auditor]
) -> None:
    w = conformance_loaded
    failing = Collect(inline=False, fail=True)
    install(installed, audit.Auditor([failing], fail_closed=True))
    with pytest.raises(AuditError) as refused:
        await w.search(w.viewer, k=10)
    assert "fail-closed" in str(refused.value)
    assert w.public not in str(refused.value)
    # With a working sink the same read goes through, its event delivered first.
    ok = Collect(inline=False)
    auditor = install(installed, audit.Auditor([ok], fail_closed=True))
    assert len(await w.search(w.viewer, k=10)) == 3
    assert [e.kind for e in ok.events] == ["read"]
    assert auditor.errors == 0
