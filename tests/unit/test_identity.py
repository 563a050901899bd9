"""sentinel_vectors.identity.call: one retry of an idempotent call on a broken connection.

The end-to-end cases (a connection the emulator drops, Sentinel's 400/401/429/500 through
the SDK's real client) are in tests/fastapi/test_sentinel_answers.py and
tests/testing/test_conformance.py; these pin the retry rule for each transport error.
"""

from __future__ import annotations

import httpx
import pytest

from sentinel_vectors import identity
from sentinel_vectors.errors import PermissionServiceError


class Flaky:
    """Fails with ``error`` the first ``failures`` times, then answers ``"ok"``."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


@pytest.mark.parametrize(
    "error", [httpx.ReadError("reset"), httpx.RemoteProtocolError("peer closed")]
)
async def test_idempotent_call_is_retried_once_on_a_broken_connection(error: Exception) -> None:
    once = Flaky(error, failures=1)
    assert await identity.call("the lookup", once, time_limit=1, idempotent=True) == "ok"
    assert once.calls == 2
    twice = Flaky(error, failures=2)
    with pytest.raises(PermissionServiceError):
        await identity.call("the lookup", twice, time_limit=1, idempotent=True)
    assert twice.calls == 2


async def test_non_idempotent_call_and_other_errors_are_not_retried() -> None:
    broken = Flaky(httpx.ReadError("reset"), failures=1)
    with pytest.raises(PermissionServiceError):
        await identity.call("the deregistration", broken, time_limit=1, idempotent=False)
    assert broken.calls == 1
    refused = Flaky(httpx.ConnectError("refused"), failures=1)
    with pytest.raises(PermissionServiceError):
        await identity.call("the lookup", refused, time_limit=1, idempotent=True)
    assert refused.calls == 1
