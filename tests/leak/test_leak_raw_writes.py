"""Invariants 4, 8 and 9 on random scripts of raw scoped-wrapper writes, read back unscoped."""

from __future__ import annotations

import pytest

from sentinel_vectors.testing import write_leak
from sentinel_vectors.testing.server import RunningEmulator
from tests.leak.examples import capped, run_examples
from tests.leak.write_backends import (
    write_chroma_http,
    write_pgvector,
    write_qdrant_edge,
    write_qdrant_local,
)

__all__ = ["write_chroma_http", "write_pgvector", "write_qdrant_edge", "write_qdrant_local"]


@pytest.fixture(
    params=["write_chroma_http", "write_qdrant_local", "write_qdrant_edge", "write_pgvector"]
)
def raw_write_backend(request: pytest.FixtureRequest) -> object:
    """Every backend that joined the raw-write side, in turn."""
    return request.getfixturevalue(request.param)


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
@pytest.mark.invariant(9)
def test_invariant_8_raw_writes_change_nothing_unauthorized_and_leave_nothing_behind(
    raw_write_backend: write_leak.WriteLeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    run_examples(
        write_leak.scripts(),
        lambda script: write_leak.run_script(script, raw_write_backend, sentinel_emulator),
        max_examples=capped(raw_write_backend),
    )
