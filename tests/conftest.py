"""Session-wide fixtures: the permission-service emulator (our own pytest plugin) and servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentinel_vectors.testing.servers import (
    ChromaServer,
    PostgresServer,
    chroma_server,
    embedded_postgres,
)

pytest_plugins = [
    "sentinel_vectors.testing.pytest_plugin",
    # The conformance suite's fixtures (tests/conformance runs it on every backend).
    "sentinel_vectors.testing.conformance",
]


@pytest.fixture(scope="session")
def chroma_http() -> Iterator[ChromaServer]:
    """A real ``chroma run`` server (or ``CHROMA_URL``) for the whole session."""
    with chroma_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 18 + pgvector (or ``DATABASE_URL``'s) for the whole session."""
    with embedded_postgres() as server:
        yield server
