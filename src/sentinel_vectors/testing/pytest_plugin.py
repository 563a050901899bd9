"""Opt-in pytest fixtures for the Sentinel permission-service emulator.

Enable in a ``conftest.py``::

    pytest_plugins = ["sentinel_vectors.testing.pytest_plugin"]

Fixtures:
    sentinel_keys (session): the RS256 :class:`SigningKeys` the emulator trusts.
    sentinel_emulator (session): a served emulator, as a :class:`RunningEmulator`
        (``.url``, ``.service_name``, ``.service_key``, ``.emulator``, ``.keys``).
        State persists across tests; request ``sentinel_emulator_clean`` instead
        to start from nothing.
    sentinel_emulator_clean (function): the same server, with the emulator reset
        (resources, shares, profiles, calls, faults) before and after the test.
    sentinel_user (function): a :class:`UserFactory`; ``sentinel_user("editor")``
        returns ``(AuthenticatedUser, token)`` in the test's default workspace
        ``sentinel_user.workspace_id``.

Tokens carry ``iss`` (:data:`~sentinel_vectors.testing.keys.DEFAULT_ISSUER`), which the
real Sentinel service requires, and every user they are minted for exists for the
emulator (``sentinel_keys.directory``). The emulator answers as Sentinel 0.10.2 does:
see ``docs/testing.md``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentinel_vectors.testing.keys import SigningKeys, UserFactory
from sentinel_vectors.testing.server import RunningEmulator, run_emulator

__all__ = [
    "sentinel_emulator",
    "sentinel_emulator_clean",
    "sentinel_keys",
    "sentinel_user",
]


@pytest.fixture(scope="session")
def sentinel_keys() -> SigningKeys:
    """The session's RS256 key pair; the emulator verifies user tokens with its public half."""
    return SigningKeys.generate()


@pytest.fixture(scope="session")
def sentinel_emulator(sentinel_keys: SigningKeys) -> Iterator[RunningEmulator]:
    """A permission-service emulator served on a free local port for the whole session."""
    with run_emulator(sentinel_keys) as running:
        yield running


@pytest.fixture
def sentinel_emulator_clean(sentinel_emulator: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session emulator, reset before and after the test."""
    sentinel_emulator.emulator.reset()
    yield sentinel_emulator
    sentinel_emulator.emulator.reset()


@pytest.fixture
def sentinel_user(sentinel_keys: SigningKeys) -> UserFactory:
    """Factory of ``(AuthenticatedUser, token)`` pairs; one fresh default workspace per test."""
    return UserFactory(sentinel_keys)
