"""The read leak test, shared by its two halves (``test_leak_reads.py`` and
``test_leak_reads_more.py``).

The backends are split in two, each half in its own test file, so that two pytest-xdist
workers (a file per worker) run them side by side.
"""

from __future__ import annotations

from sentinel_vectors.testing.leak import LeakBackend, run_world, worlds
from sentinel_vectors.testing.server import RunningEmulator
from tests.leak.conftest import LEAK_BACKENDS
from tests.leak.examples import capped, run_examples

HALF = len(LEAK_BACKENDS) // 2
FIRST_HALF = LEAK_BACKENDS[:HALF]
"""The backends of ``test_leak_reads.py``."""
SECOND_HALF = LEAK_BACKENDS[HALF:]
"""The backends of ``test_leak_reads_more.py``."""


def check_random_worlds(leak_backend: LeakBackend, emulator: RunningEmulator) -> None:
    """Invariants 1 and 3 on random worlds (reads) on one backend: no leak, nothing missing."""
    run_examples(
        worlds(),
        lambda world: run_world(world, leak_backend, emulator),
        max_examples=capped(leak_backend),
    )
