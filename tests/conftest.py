"""Session-wide fixtures: the permission-service emulator (our own pytest plugin) and servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.chroma import ChromaServer, chroma_server

# The one import of the PostgreSQL fixture (a second import would start a second server):
# tests/pgvector and tests/leak both use it.
from tests.servers.postgres import postgres_server  # noqa: F401

pytest_plugins = ["sentinel_vectors.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def chroma_http() -> Iterator[ChromaServer]:
    """A real ``chroma run`` server (or ``CHROMA_URL``) for the whole session."""
    with chroma_server() as server:
        yield server
