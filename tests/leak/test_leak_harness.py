"""Invariants 1 and 3 on random worlds, and 4, 8 and 9 on random write scripts.

``LEAK_EXAMPLES`` (default 200) sets the number of hypothesis examples per backend.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings

from sentinel_vectors.testing.leak import (
    LeakBackend,
    World,
    WriteLeakBackend,
    WriteScript,
    run_world,
    run_writes,
    worlds,
    write_scripts,
)
from sentinel_vectors.testing.server import RunningEmulator

LEAK_EXAMPLES = int(os.environ.get("LEAK_EXAMPLES", "200"))


@pytest.mark.invariant(1)
@pytest.mark.invariant(3)
def test_invariant_1_no_leak_and_nothing_missing_on_random_worlds(
    leak_backend: LeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    @settings(
        max_examples=LEAK_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(world=worlds())
    def check(world: World) -> None:
        asyncio.run(run_world(world, leak_backend, sentinel_emulator))

    check()


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
@pytest.mark.invariant(9)
def test_invariant_8_no_unauthorized_change_and_nothing_left_on_random_write_scripts(
    write_backend: WriteLeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    @settings(
        max_examples=LEAK_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(script=write_scripts())
    def check(script: WriteScript) -> None:
        asyncio.run(run_writes(script, write_backend, sentinel_emulator))

    check()
