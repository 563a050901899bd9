"""Invariants 1 and 3 on random worlds (reads), on every backend that joined the harness.

The first half of the backends; ``test_leak_reads_more.py`` has the second, so that two
test workers share the work (pytest-xdist keeps a file on one worker). The test itself
is ``tests.leak.reads.check_random_worlds``.
"""

from __future__ import annotations

import pytest

from sentinel_vectors.testing.leak import LeakBackend
from sentinel_vectors.testing.server import RunningEmulator
from tests.leak.reads import FIRST_HALF, check_random_worlds


@pytest.mark.invariant(1)
@pytest.mark.invariant(3)
@pytest.mark.parametrize("leak_backend", FIRST_HALF, indirect=True)
def test_invariant_1_no_leak_and_nothing_missing_on_random_worlds(
    leak_backend: LeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    check_random_worlds(leak_backend, sentinel_emulator)
