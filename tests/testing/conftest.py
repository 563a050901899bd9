"""Fixtures of the emulator tests: the session's emulator, reset per test, and an SDK
``PermissionClient`` on it (``test_conformance.py`` has its own ``client``, per target)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sentinel_auth import PermissionClient

from sentinel_vectors.testing import RunningEmulator


@pytest.fixture
def sentinel(sentinel_emulator_clean: RunningEmulator) -> RunningEmulator:
    return sentinel_emulator_clean


@pytest.fixture
async def client(sentinel: RunningEmulator) -> AsyncIterator[PermissionClient]:
    async with sentinel.permission_client() as c:
        yield c
