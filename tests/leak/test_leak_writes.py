"""Invariants 4, 8 and 9 on random write scripts through the lifecycle and chunk index."""

from __future__ import annotations

import pytest

from sentinel_vectors.testing.leak import WriteLeakBackend, run_writes, write_scripts
from sentinel_vectors.testing.server import RunningEmulator
from tests.leak.examples import capped, run_examples


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
@pytest.mark.invariant(9)
def test_invariant_8_no_unauthorized_change_and_nothing_left_on_random_write_scripts(
    write_backend: WriteLeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    run_examples(
        write_scripts(),
        lambda script: run_writes(script, write_backend, sentinel_emulator),
        max_examples=capped(write_backend),
    )
