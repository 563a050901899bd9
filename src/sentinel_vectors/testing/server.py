"""Serve an ASGI app (the emulator, or any other) with uvicorn in a background thread."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

import uvicorn
from sentinel_auth.permissions import PermissionClient
from starlette.types import ASGIApp

from sentinel_vectors.testing.emulator import PermissionServiceEmulator
from sentinel_vectors.testing.keys import SigningKeys

__all__ = ["EmulatorServer", "RunningEmulator", "run_emulator"]


class EmulatorServer:
    """Runs ``app`` with uvicorn on ``127.0.0.1`` on a free port, in a daemon thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with EmulatorServer(app) as srv:
            httpx.get(srv.url + "/health")

    :meth:`start` returns once the server answers HTTP (any status on ``GET /health``);
    :meth:`stop` shuts it down, giving in-flight requests ``graceful_timeout``
    seconds to finish. ``lifespan`` is uvicorn's lifespan mode.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 10.0,
        graceful_timeout: int = 1,
        lifespan: Literal["auto", "on", "off"] = "auto",
    ) -> None:
        self.app: ASGIApp = app
        self.host = host
        self.startup_timeout = startup_timeout
        self.graceful_timeout = graceful_timeout
        self.lifespan: Literal["auto", "on", "off"] = lifespan
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port; raises ``RuntimeError`` before :meth:`start`."""
        if self._port is None:
            raise RuntimeError("EmulatorServer is not running")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind a free port, start serving in a background thread and wait until it answers."""
        if self._thread is not None:
            raise RuntimeError("EmulatorServer already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(128)
        sock.setblocking(False)
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan=self.lifespan,
            timeout_graceful_shutdown=self.graceful_timeout,
        )
        server = uvicorn.Server(config)
        self._server = server

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # SystemExit on startup failure included
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name=f"emulator-{self._port}", daemon=True)
        self._thread.start()
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_serving(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"emulator server failed to start: {self._error!r}")
            if self._server.started and self._answers():
                return
            time.sleep(0.01)
        raise TimeoutError(f"emulator server did not answer within {self.startup_timeout}s")

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
        try:
            conn.request("GET", "/health")  # exempt from the rate limit, as in Sentinel
            conn.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        """Shut the server down and join its thread (forcing exit if it does not stop)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=self.graceful_timeout + 5.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5.0)
        self._server = self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        """Start the server (see :meth:`start`)."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server (see :meth:`stop`)."""
        self.stop()


@dataclass(frozen=True)
class RunningEmulator:
    """A served :class:`PermissionServiceEmulator` and what a ``PermissionClient`` needs for it.

    Attributes:
        url: Base URL to pass to ``PermissionClient(base_url=...)``.
        service_name: Service name the ``service_key`` is scoped to.
        service_key: Value for ``PermissionClient(service_key=...)``.
        emulator: The emulator itself (seed state, inject faults, ``reset()``).
        keys: The signing keys whose tokens the emulator accepts.
    """

    url: str
    service_name: str
    service_key: str
    emulator: PermissionServiceEmulator
    keys: SigningKeys

    @property
    def jwks_url(self) -> str:
        """URL of the emulator's JWKS (for ``JWTAuthMiddleware(jwks_url=...)``)."""
        return f"{self.url}/.well-known/jwks.json"

    def permission_client(self, *, cache_ttl: float = 0) -> PermissionClient:
        """A new real ``PermissionClient`` for this emulator (close it with ``await c.close()``)."""
        return PermissionClient(
            base_url=self.url,
            service_name=self.service_name,
            service_key=self.service_key,
            cache_ttl=cache_ttl,
        )


@contextmanager
def run_emulator(
    keys: SigningKeys | None = None,
    *,
    service_name: str = "test-service",
    service_key: str = "test-service-key",
    rate_limit_per_minute: int | None = None,
) -> Iterator[RunningEmulator]:
    """Start a :class:`PermissionServiceEmulator` on a free local port for the ``with`` block.

    ``keys`` defaults to a freshly generated pair. ``rate_limit_per_minute`` turns on
    the real service's per-client rate limit (off by default; the real default is 30).
    """
    signing_keys = keys if keys is not None else SigningKeys.generate()
    emulator = PermissionServiceEmulator(
        signing_keys,
        service_name=service_name,
        service_key=service_key,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    with EmulatorServer(emulator) as server:
        yield RunningEmulator(
            url=server.url,
            service_name=service_name,
            service_key=service_key,
            emulator=emulator,
            keys=signing_keys,
        )
