"""The suite's fixtures: an identity service with fault switches, one world per test.

Every fixture but ``backend_factory`` is the suite's; ``backend_factory`` is yours (see
:mod:`sentinel_vectors.testing.conformance`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from sentinel_vectors.testing.conformance.target import BackendFactory, ConformanceTarget
from sentinel_vectors.testing.conformance.world import DIM, Tenancy, World
from sentinel_vectors.testing.emulator import PermissionServiceEmulator
from sentinel_vectors.testing.faults import PathFaults
from sentinel_vectors.testing.keys import SigningKeys
from sentinel_vectors.testing.server import EmulatorServer, RunningEmulator

__all__ = [
    "Identity",
    "conformance_identity",
    "conformance_loaded",
    "conformance_target",
    "conformance_world",
]


@dataclass(frozen=True)
class Identity:
    """The emulated identity service on real HTTP, and its per-endpoint fault switches."""

    running: RunningEmulator
    faults: PathFaults


@pytest.fixture(scope="session")
def conformance_identity(sentinel_keys: SigningKeys) -> Iterator[Identity]:
    """The permission-service emulator behind :class:`PathFaults`, served for the session."""
    emulator = PermissionServiceEmulator(sentinel_keys)
    faults = PathFaults(emulator)
    with EmulatorServer(faults) as server:
        running = RunningEmulator(
            url=server.url,
            service_name=emulator.service_name,
            service_key=emulator.service_key,
            emulator=emulator,
            keys=sentinel_keys,
        )
        yield Identity(running, faults)


@pytest_asyncio.fixture
async def conformance_target(backend_factory: BackendFactory) -> AsyncIterator[ConformanceTarget]:
    """A fresh, empty collection of the backend under test (your ``backend_factory``)."""
    async with backend_factory(DIM) as target:
        yield target


@pytest_asyncio.fixture
async def conformance_world(
    conformance_identity: Identity, conformance_target: ConformanceTarget
) -> AsyncIterator[World]:
    """The standard cast on a clean identity service, over an empty collection."""
    running, faults = conformance_identity.running, conformance_identity.faults
    running.emulator.reset()
    faults.clear()
    client = running.permission_client()
    tenancy = Tenancy(running, client, resource_type=conformance_target.backend.resource_type)
    try:
        yield World(tenancy, conformance_target, faults)
    finally:
        faults.clear()
        running.emulator.reset()
        await client.close()  # type: ignore[no-untyped-call]


@pytest_asyncio.fixture
async def conformance_loaded(conformance_world: World) -> World:
    """The standard world with every document's chunk written by its owner."""
    await conformance_world.load()
    return conformance_world
