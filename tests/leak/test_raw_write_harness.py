"""Invariants 4, 8 and 9 on random scripts of raw scoped-wrapper writes, read back unscoped.

``LEAK_EXAMPLES`` (default 200) sets the number of hypothesis examples per backend.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings

from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.write_leak import Script, WriteLeakBackend, run_script, scripts
from tests.leak.write_backends import write_chroma_http, write_pgvector, write_qdrant_local

LEAK_EXAMPLES = int(os.environ.get("LEAK_EXAMPLES", "200"))

__all__ = ["write_chroma_http", "write_pgvector", "write_qdrant_local"]


@pytest.fixture(params=["write_chroma_http", "write_qdrant_local", "write_pgvector"])
def write_backend(request: pytest.FixtureRequest) -> object:
    """Every backend that joined the write harness, in turn."""
    return request.getfixturevalue(request.param)


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
@pytest.mark.invariant(9)
def test_invariant_8_raw_writes_change_nothing_unauthorized_and_leave_nothing_behind(
    write_backend: WriteLeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    @settings(
        max_examples=LEAK_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(script=scripts())
    def check(script: Script) -> None:
        asyncio.run(run_script(script, write_backend, sentinel_emulator))

    check()
