"""The leak harness on every backend that joined it.

- invariants 1 and 3 on random worlds (reads);
- invariants 4, 8 and 9 on random write scripts through the lifecycle and chunk index;
- invariants 4, 8 and 9 on random scripts of raw scoped-wrapper writes, read back unscoped.

``LEAK_EXAMPLES`` (default 200) sets the number of hypothesis examples per backend.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel_vectors.testing import write_leak
from sentinel_vectors.testing.leak import (
    LeakBackend,
    WriteLeakBackend,
    run_world,
    run_writes,
    worlds,
    write_scripts,
)
from sentinel_vectors.testing.server import RunningEmulator
from tests.leak.write_backends import (
    write_chroma_http,
    write_pgvector,
    write_qdrant_edge,
    write_qdrant_local,
)

LEAK_EXAMPLES = int(os.environ.get("LEAK_EXAMPLES", "200"))

__all__ = ["write_chroma_http", "write_pgvector", "write_qdrant_edge", "write_qdrant_local"]


def run_examples[T](
    strategy: st.SearchStrategy[T],
    run: Callable[[T], Awaitable[None]],
    *,
    max_examples: int | None = None,
) -> None:
    """Run ``run`` on ``max_examples`` (default ``LEAK_EXAMPLES``) examples of ``strategy``,
    each in a fresh event loop."""

    @settings(
        max_examples=LEAK_EXAMPLES if max_examples is None else max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(example=strategy)
    def check(example: T) -> None:
        asyncio.run(run(example))

    check()


def _capped(cap: int | None) -> int | None:
    """A backend's own example cap (costly worlds), never above ``LEAK_EXAMPLES``."""
    return None if cap is None else min(cap, LEAK_EXAMPLES)


@pytest.fixture(
    params=["write_chroma_http", "write_qdrant_local", "write_qdrant_edge", "write_pgvector"]
)
def raw_write_backend(request: pytest.FixtureRequest) -> object:
    """Every backend that joined the raw-write side, in turn."""
    return request.getfixturevalue(request.param)


@pytest.mark.invariant(1)
@pytest.mark.invariant(3)
def test_invariant_1_no_leak_and_nothing_missing_on_random_worlds(
    leak_backend: LeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    run_examples(
        worlds(),
        lambda world: run_world(world, leak_backend, sentinel_emulator),
        max_examples=_capped(getattr(leak_backend, "max_examples", None)),
    )


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
@pytest.mark.invariant(9)
def test_invariant_8_no_unauthorized_change_and_nothing_left_on_random_write_scripts(
    write_backend: WriteLeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    run_examples(
        write_scripts(),
        lambda script: run_writes(script, write_backend, sentinel_emulator),
        max_examples=_capped(getattr(write_backend, "max_examples", None)),
    )


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
@pytest.mark.invariant(9)
def test_invariant_8_raw_writes_change_nothing_unauthorized_and_leave_nothing_behind(
    raw_write_backend: write_leak.WriteLeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    run_examples(
        write_leak.scripts(),
        lambda script: write_leak.run_script(script, raw_write_backend, sentinel_emulator),
        max_examples=_capped(getattr(raw_write_backend, "max_examples", None)),
    )
