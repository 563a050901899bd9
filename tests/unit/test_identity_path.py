"""One path to the identity service: every user of ``get_resource_acl`` reads it alike.

``Scope.registered`` (the write rule for full-access callers) and ``SentinelRegistry``
(the resource lifecycle) both look resources up through
:func:`sentinel_vectors.identity.lookup_resource`. Each answer the service might give is
fed to both here: a 404 is "not registered" for both, and every other failure or
malformed record is the same typed error for both (invariant 6: fail closed). The answers
of the real service through the SDK are in tests/fastapi/test_sentinel_answers.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sentinel_vectors import identity
from sentinel_vectors.errors import PermissionServiceError, RateLimitedError
from sentinel_vectors.lifecycle import SentinelRegistry
from sentinel_vectors.scope import Scope

WS, OTHER_WS = str(uuid.uuid4()), str(uuid.uuid4())
USER = str(uuid.uuid4())
RID = str(uuid.uuid4())


class Status(Exception):
    """An SDK error with an HTTP status (``sentinel_auth.SentinelError`` has ``status_code``)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status


class Service:
    """An auth context that is also a ``PermissionClient``: ``get_resource_acl`` answers
    ``answer(resource_id)`` (raised if it is an exception); nothing else is asked."""

    workspace_role = "admin"
    groups: list[uuid.UUID] = []  # noqa: RUF012

    def __init__(self, answer: Callable[[str], object]) -> None:
        self.user_id = uuid.UUID(USER)
        self.workspace_id = uuid.UUID(WS)
        self.answer = answer
        self.asked: list[str] = []

    async def accessible(
        self, resource_type: str, action: str, limit: int | None = None
    ) -> tuple[list[uuid.UUID], bool]:
        return [], True

    async def get_resource_acl(self, resource_type: str, resource_id: uuid.UUID) -> Any:
        self.asked.append(str(resource_id))
        out = self.answer(str(resource_id))
        if isinstance(out, BaseException):
            raise out
        return out

    async def register_resource(self, *args: object, **kwargs: object) -> Any:
        raise AssertionError("not asked")

    async def deregister_resource(self, *args: object, **kwargs: object) -> Any:
        raise AssertionError("not asked")


def record(rid: str, workspace: str = WS, **extra: object) -> dict[str, object]:
    return {"resource_id": rid, "workspace_id": workspace, "owner_id": USER, **extra}


async def both(answer: Callable[[str], object]) -> tuple[object, object]:
    """What ``Scope.registered`` and ``SentinelRegistry.lookup`` make of one answer
    (the error type, if one was raised)."""
    outcomes: list[object] = []
    service = Service(answer)
    scope = Scope.of(service, resource_type="document")
    for ask in (
        lambda: scope.registered([RID]),
        lambda: SentinelRegistry(service, scope).lookup(RID),
    ):
        try:
            outcomes.append(await ask())
        except PermissionServiceError as exc:
            outcomes.append(type(exc))
    assert service.asked == [RID, RID]
    return outcomes[0], outcomes[1]


async def test_a_registered_resource_and_an_unknown_one_read_alike() -> None:
    registered, looked_up = await both(lambda rid: record(rid))
    assert registered == {RID}
    assert isinstance(looked_up, identity.ResourceRecord)
    assert (looked_up.resource_id, looked_up.workspace_id) == (RID, WS)
    assert await both(lambda rid: Status(404)) == (set(), None)
    # Registered in another workspace: not registered *here*; the lifecycle sees whose.
    registered, looked_up = await both(lambda rid: record(rid, OTHER_WS))
    assert registered == set()
    assert isinstance(looked_up, identity.ResourceRecord)
    assert looked_up.workspace_id == OTHER_WS


@pytest.mark.invariant(6)
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda rid: Status(500), PermissionServiceError),
        (lambda rid: Status(429), RateLimitedError),
        (lambda rid: TimeoutError(), PermissionServiceError),
        (lambda rid: None, PermissionServiceError),  # JSON null is not "not registered"
        (lambda rid: [record(rid)], PermissionServiceError),
        (lambda rid: {"workspace_id": WS}, PermissionServiceError),
        (lambda rid: record(rid, "not-a-uuid"), PermissionServiceError),
        (lambda rid: record(str(uuid.uuid4())), PermissionServiceError),  # another resource
    ],
    ids=["500", "429", "timeout", "null", "list", "no-id", "bad-workspace", "other-resource"],
)
async def test_invariant_6_every_user_of_the_acl_lookup_fails_closed_alike(
    answer: Callable[[str], object], error: type[PermissionServiceError]
) -> None:
    assert await both(answer) == (error, error)
