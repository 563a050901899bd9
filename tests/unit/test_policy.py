"""The tenancy policy's pure decisions, independent of any backend.

The same rules are proven against real stores in the adapter suites; here each rule is
pinned down on its own so a regression names the rule it broke.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.drive import run_async
from sentinel_vectors.engine.writes import authorize_resources
from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
    MissingAuthError,
    PermissionServiceError,
    ReservedKeyError,
)
from sentinel_vectors.policy import ExistingRecord, TenancyPolicy
from sentinel_vectors.scope import Access, Scope

WS = str(uuid.uuid4())
USER = str(uuid.uuid4())
R1, R2 = str(uuid.uuid4()), str(uuid.uuid4())


@dataclass
class StaticAuth:
    """An AuthContext whose accessible() answer is fixed (unit tests of the policy only)."""

    workspace_role: str = "editor"
    answer: object = field(default_factory=lambda: ([], False))
    user_id: uuid.UUID = field(default_factory=lambda: uuid.UUID(USER))
    workspace_id: uuid.UUID = field(default_factory=lambda: uuid.UUID(WS))
    groups: list[uuid.UUID] = field(default_factory=list)
    delay: float = 0.0

    async def accessible(
        self, resource_type: str, action: str, limit: int | None = None
    ) -> tuple[list[uuid.UUID], bool]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[return-value]


def policy(role: str = "editor", **kw: object) -> TenancyPolicy:
    auth = StaticAuth(workspace_role=role, **kw)  # type: ignore[arg-type]
    return TenancyPolicy(Scope.of(auth, resource_type="document"))


async def authorize(p: TenancyPolicy, edit: Access, resources: list[str]) -> None:
    """The engine's write rule for ``resources``, run by the async driver."""
    await run_async(authorize_resources(p, edit, resources), p.scope)


def access(*ids: str, full: bool = False) -> Access:
    return Access("view", full, frozenset(ids))


def test_scope_refuses_none_auth() -> None:
    with pytest.raises(MissingAuthError):
        Scope.of(None, resource_type="document")


def test_scope_refuses_object_that_is_not_an_auth_context() -> None:
    with pytest.raises(MissingAuthError):
        Scope.of(object(), resource_type="document")  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["workspace_id", "owner_id", "", "$in"])
def test_scope_refuses_resource_key_that_clashes(key: str) -> None:
    with pytest.raises(InvalidInputError):
        Scope.of(StaticAuth(), resource_type="document", resource_key=key)


@pytest.mark.invariant(1)
def test_invariant_1_read_filter_is_workspace_and_resource_ids() -> None:
    f = policy().read_filter(access(R2, R1), F.eq("topic", "a"))
    assert f == F.And(
        (F.eq("workspace_id", WS), F.in_("resource_id", sorted([R1, R2])), F.eq("topic", "a"))
    )


@pytest.mark.invariant(1)
def test_invariant_1_full_access_still_pins_the_workspace() -> None:
    assert policy().read_filter(access(full=True)) == F.eq("workspace_id", WS)


@pytest.mark.invariant(6)
def test_invariant_6_empty_access_means_no_query() -> None:
    assert policy().read_filter(access()) is None


@pytest.mark.parametrize("key", ["workspace_id", "owner_id", "resource_id"])
def test_caller_filter_on_reserved_key_is_refused(key: str) -> None:
    with pytest.raises(ReservedKeyError):
        policy().read_filter(access(full=True), F.or_(F.eq("topic", "a"), F.eq(key, WS)))


@pytest.mark.invariant(7)
def test_invariant_7_recheck_drops_and_counts() -> None:
    p = policy()
    a = access(R1)
    assert p.recheck({"workspace_id": WS, "resource_id": R1}, a, "x")
    assert not p.recheck({"workspace_id": str(uuid.uuid4()), "resource_id": R1}, a, "y")
    assert not p.recheck({"workspace_id": WS, "resource_id": R2}, a, "z")
    assert not p.recheck(None, access(full=True), "w")
    assert p.violations == 3


@pytest.mark.invariant(2)
def test_invariant_2_stamp_sets_tenancy_keys() -> None:
    out = policy().stamp([{"resource_id": R1.upper(), "topic": "a"}], access())
    assert out == [{"resource_id": R1, "topic": "a", "owner_id": USER, "workspace_id": WS}]


@pytest.mark.invariant(2)
def test_invariant_2_forged_workspace_is_refused() -> None:
    with pytest.raises(ReservedKeyError):
        policy().stamp([{"resource_id": R1, "workspace_id": str(uuid.uuid4())}], access())


def test_stamp_requires_a_uuid_resource() -> None:
    with pytest.raises(ReservedKeyError):
        policy().stamp([{"topic": "a"}], access())
    with pytest.raises(InvalidInputError):
        policy().stamp([{"resource_id": "not-a-uuid"}], access())


def test_foreign_owner_needs_full_access() -> None:
    other = str(uuid.uuid4())
    with pytest.raises(AccessDeniedError):
        policy().stamp([{"resource_id": R1, "owner_id": other}], access())
    out = policy("admin").stamp([{"resource_id": R1, "owner_id": other}], access(full=True))
    assert out[0]["owner_id"] == other


def test_replacing_keeps_the_stored_owner() -> None:
    other = str(uuid.uuid4())
    prior = ExistingRecord(WS, R1, other)
    out = policy().stamp([{"resource_id": R1}], access(R1), {0: prior})
    assert out[0]["owner_id"] == other


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
async def test_invariant_8_write_rule_needs_a_registered_editable_resource() -> None:
    p = policy("editor")
    edit = Access("edit", False, frozenset({R1}))
    await authorize(p, edit, [R1])
    # A resource that is not editable (unknown, another workspace's, hidden or only
    # viewable: accessible(edit) does not list it) is refused, with one message whatever
    # the reason: nothing tells them apart.
    messages = set()
    for role in ("viewer", "editor"):
        with pytest.raises(AccessDeniedError) as err:
            await authorize(policy(role), edit, [R2])
        messages.add(str(err.value))
    assert len(messages) == 1
    assert R2 in messages.pop()
    # replacing a stored record of a resource the caller cannot edit names no resource
    with pytest.raises(AccessDeniedError) as err:
        p.authorize_write(edit, existing=[ExistingRecord(WS, R2, USER)])
    assert R2 not in str(err.value)


@dataclass
class AclAuth(StaticAuth):
    """StaticAuth plus get_resource_acl over a fixed registry {resource id: workspace}."""

    registry: dict[str, str] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    async def get_resource_acl(self, resource_type: str, resource_id: uuid.UUID) -> dict:
        self.lookups.append(str(resource_id))
        ws = self.registry.get(str(resource_id))
        if ws is None:
            raise NotFound()
        return {"resource_id": str(resource_id), "workspace_id": ws}


class NotFound(Exception):
    status_code = 404


@pytest.mark.invariant(8)
async def test_invariant_8_full_access_writes_only_resources_registered_in_the_workspace() -> None:
    other_ws = str(uuid.uuid4())
    auth = AclAuth(workspace_role="admin", registry={R1: WS, R2: other_ws})
    p = TenancyPolicy(Scope.of(auth, resource_type="document"))
    full = Access("edit", True, frozenset())
    await authorize(p, full, [R1])
    messages = set()
    for rid in (R2, str(uuid.uuid4())):  # another workspace's, unknown: one answer
        with pytest.raises(AccessDeniedError) as err:
            await authorize(p, full, [rid])
        messages.add(str(err.value).replace(rid, "<id>"))
    assert len(messages) == 1
    # an auth context that cannot tell fails closed
    with pytest.raises(PermissionServiceError):
        await authorize(policy("admin"), full, [R1])


@pytest.mark.invariant(4)
def test_invariant_4_ids_of_the_form_resource_colon_are_reserved_to_that_resource() -> None:
    p = policy()
    p.check_ids([f"{R1}:0", f"{R1.upper()}:x", "free-form", R2], [{"resource_id": R1}] * 4)
    with pytest.raises(AccessDeniedError):
        p.check_ids([f"{R2}:0"], [{"resource_id": R1}])


@pytest.mark.invariant(9)
def test_invariant_9_hidden_records_are_absent_visible_uneditable_ones_raise() -> None:
    p = policy()
    edit = Access("edit", False, frozenset({R1}))
    view = Access("view", False, frozenset({R1, R2}))
    hidden = str(uuid.uuid4())
    found = {
        "a": ExistingRecord(WS, R1, USER),
        "b": ExistingRecord(WS, hidden, USER),
        "c": ExistingRecord(str(uuid.uuid4()), R1, USER),
    }
    assert p.reachable(found, edit, view) == ["a"]
    with pytest.raises(AccessDeniedError):
        p.reachable({"d": ExistingRecord(WS, R2, USER)}, edit, view)


async def test_grants_of_the_request_correct_a_cached_accessible_answer() -> None:
    auth = StaticAuth(answer=([uuid.UUID(R1)], False))
    first = Scope.of(auth, resource_type="document")
    second = Scope.of(auth, resource_type="document")  # another store, same request
    new = str(uuid.uuid4())
    first.grant(new)
    assert (await second.access("edit")).resource_ids == {R1, new}
    second.forget(R1)
    assert (await first.access("view")).resource_ids == {new}
    other_request = Scope.of(StaticAuth(answer=([uuid.UUID(R1)], False)), resource_type="document")
    assert (await other_request.access("view")).resource_ids == {R1}


def test_partial_update_cannot_move_a_record() -> None:
    prior = {0: ExistingRecord(WS, R1, USER)}
    p = policy()
    assert p.check_partial_update([{"topic": "b", "resource_id": R1}], prior) == [
        {"topic": "b", "resource_id": R1}
    ]
    with pytest.raises(ReservedKeyError):
        p.check_partial_update([{"resource_id": R2}], prior)
    with pytest.raises(ReservedKeyError):
        p.check_partial_update([{"workspace_id": str(uuid.uuid4())}], prior)


@pytest.mark.invariant(3)
def test_invariant_3_physical_ids_are_namespaced() -> None:
    p = policy()
    pid = p.physical_id("doc:1")
    assert pid == f"{WS}:doc:1"
    assert p.logical_id(pid) == "doc:1"
    with pytest.raises(AccessDeniedError):
        p.logical_id(f"{uuid.uuid4()}:doc:1")


@pytest.mark.invariant(6)
@pytest.mark.parametrize(
    "answer",
    [
        RuntimeError("boom"),
        (["not-a-uuid"], False),
        ([], "yes"),
        None,
        ([uuid.uuid4()],),
    ],
)
async def test_invariant_6_bad_answers_fail_closed(answer: object) -> None:
    scope = Scope.of(StaticAuth(answer=answer), resource_type="document")
    with pytest.raises(PermissionServiceError):
        await scope.access("view")


@pytest.mark.invariant(6)
async def test_invariant_6_timeout_fails_closed() -> None:
    scope = Scope.of(StaticAuth(delay=1.0), resource_type="document", timeout=0.05)
    with pytest.raises(PermissionServiceError, match="did not answer"):
        await scope.access("view")


def test_a_violation_an_adapter_reports_is_counted_and_logged_like_a_recheck(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = policy()
    with caplog.at_level(logging.ERROR, logger="sentinel_vectors.audit"):
        assert not p.recheck({"workspace_id": str(uuid.uuid4())}, access(R1), "x", collection="a")
        p.violation("stored id does not match", "y", collection="b")
    assert p.violations == 2
    events = [(r.event, r.collection, r.record_id) for r in caplog.records]  # type: ignore[attr-defined]
    assert events == [
        ("sentinel_vectors.violation", "a", "x"),
        ("sentinel_vectors.violation", "b", "y"),
    ]


def test_keep_tenancy_gives_the_stored_tenancy_keys_whatever_the_values_say() -> None:
    other = str(uuid.uuid4())
    kept = policy().keep_tenancy(
        {"topic": "a", "owner_id": USER, "resource_id": R2}, ExistingRecord(WS, R1, other)
    )
    assert kept == {"topic": "a", "workspace_id": WS, "resource_id": R1, "owner_id": other}
