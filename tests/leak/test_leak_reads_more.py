"""Invariants 1 and 3 on random worlds (reads): the second half of the backends.

Its own file so that pytest-xdist (a file per worker) runs it beside the first half.
"""

from __future__ import annotations

import pytest

from sentinel_vectors.testing.leak import LeakBackend
from sentinel_vectors.testing.server import RunningEmulator
from tests.leak.reads import SECOND_HALF, check_random_worlds


@pytest.mark.invariant(1)
@pytest.mark.invariant(3)
@pytest.mark.parametrize("leak_backend", SECOND_HALF, indirect=True)
def test_invariant_1_no_leak_and_nothing_missing_on_random_worlds(
    leak_backend: LeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    check_random_worlds(leak_backend, sentinel_emulator)
