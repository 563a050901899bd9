"""Fault injection for the emulated identity service, one endpoint at a time.

:class:`PathFaults` wraps the emulator's ASGI app (or any other) and answers chosen
requests with an error status, or runs an action just before one reaches the app, so
that a test can break one step of a workflow (the registration, the ``accessible()``
call of a write, the deregistration) and check what is left::

    faults = PathFaults(PermissionServiceEmulator(keys))
    with EmulatorServer(faults) as server:
        faults.fail("POST", r"^/permissions/register$")   # the next register answers 503
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PathFaults"]


@dataclass
class _Rule:
    method: str
    path: re.Pattern[str]
    status: int | None
    times: int
    action: Callable[[], object] | None = None


class PathFaults:
    """ASGI wrapper of the emulator that answers chosen requests with an error status.

    ``fail("POST", "/permissions/register")`` fails the next matching request with 503
    (``times`` of them); other requests reach the emulator untouched.
    ``before("GET", path, action)`` runs ``action()`` just before the next matching
    request reaches the emulator (to change its state at an exact moment).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int = 503,
        times: int = 1,
        before: Callable[[], object] | None = None,
    ) -> None:
        """Fail the next ``times`` ``method`` requests whose path matches regex ``path``
        (running ``before()`` first, if given)."""
        with self._lock:
            self._rules.append(_Rule(method, re.compile(path), status, times, before))

    def before(self, method: str, path: str, action: Callable[[], object]) -> None:
        """Run ``action()`` before the next ``method`` request matching regex ``path``."""
        with self._lock:
            self._rules.append(_Rule(method, re.compile(path), None, 1, action))

    def pending(self) -> int:
        """How many injected failures have not happened yet."""
        with self._lock:
            return sum(r.times for r in self._rules)

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._rules.clear()

    def _take(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and rule.method == method and rule.path.search(path):
                    rule.times -= 1
                    return rule
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            rule = self._take(scope["method"], scope["path"])
            if rule is not None and rule.action is not None:
                rule.action()
            status = None if rule is None else rule.status
            if status is not None:
                response = JSONResponse({"detail": f"injected: HTTP {status}"}, status_code=status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
