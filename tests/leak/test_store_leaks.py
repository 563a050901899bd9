"""The framework-native vector stores in the leak harness (reads and raw writes).

Fewer examples than the store adapters' runs (``LEAK_EXAMPLES // 25``, at least 8): the
stores add no tenancy logic of their own (every call is a scoped-wrapper call, which the
full runs cover); these runs prove they do not lose it on the way (ids, filters, the
record mapping). ``LEAK_EXAMPLES=1000`` scales them too.
"""

from __future__ import annotations

import pytest

from sentinel_vectors.testing import write_leak
from sentinel_vectors.testing.leak import run_world, worlds
from sentinel_vectors.testing.server import RunningEmulator
from tests.leak.examples import LEAK_EXAMPLES, run_examples
from tests.leak.store_backends import StoreLeakBackend, StoreWriteBackend, leak_store, write_store

STORE_EXAMPLES = max(8, LEAK_EXAMPLES // 25)

__all__ = ["leak_store", "write_store"]


@pytest.mark.invariant(1)
@pytest.mark.invariant(3)
def test_invariant_1_stores_leak_nothing_and_miss_nothing_on_random_worlds(
    leak_store: StoreLeakBackend, sentinel_emulator: RunningEmulator
) -> None:
    run_examples(
        worlds(),
        lambda world: run_world(world, leak_store, sentinel_emulator),
        max_examples=STORE_EXAMPLES,
    )


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
@pytest.mark.invariant(9)
def test_invariant_4_store_writes_change_nothing_unauthorized_and_leave_nothing_behind(
    write_store: StoreWriteBackend, sentinel_emulator: RunningEmulator
) -> None:
    run_examples(
        write_leak.scripts(),
        lambda script: write_leak.run_script(script, write_store, sentinel_emulator),
        max_examples=STORE_EXAMPLES,
    )
