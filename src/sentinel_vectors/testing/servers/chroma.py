"""A real Chroma server for tests: ``chroma run`` on a free loopback port.

If ``CHROMA_URL`` is set (e.g. the docker-compose service), that server is used and
nothing is started. Otherwise ``chroma run --path TMP --host 127.0.0.1 --port P`` is
started and polled on ``/api/v2/heartbeat``; it is stopped and its data removed on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["ChromaServer", "ChromaStartError", "chroma_server"]


class ChromaStartError(RuntimeError):
    """``chroma run`` did not come up."""


@dataclass(frozen=True, slots=True)
class ChromaServer:
    """Where the test Chroma listens; ``external`` when it came from ``CHROMA_URL``."""

    host: str
    port: int
    external: bool

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextmanager
def chroma_server(timeout: float = 60.0) -> Iterator[ChromaServer]:
    """Start (or reuse, via ``CHROMA_URL``) a Chroma server for the duration of the block."""
    external = os.environ.get("CHROMA_URL")
    if external:
        parts = urlsplit(external)
        server = ChromaServer(parts.hostname or "127.0.0.1", parts.port or 8000, external=True)
        if not _heartbeat(server.url):
            raise ChromaStartError(f"CHROMA_URL={external} does not answer /api/v2/heartbeat")
        yield server
        return
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        raise ChromaStartError(f"{exe} not found: install chromadb into the test environment")
    data = tempfile.mkdtemp(prefix="sv-chroma-")
    port = _free_port()
    log = open(os.path.join(data, "server.log"), "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(exe),
            "run",
            "--path",
            os.path.join(data, "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    server = ChromaServer("127.0.0.1", port, external=False)
    try:
        deadline = time.monotonic() + timeout
        while not _heartbeat(server.url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise ChromaStartError(
                    f"chroma run did not become ready on port {port}:\n"
                    + log.read().decode(errors="replace")[-2000:]
                )
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
