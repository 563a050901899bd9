"""Raw writes in the leak harness: random write scripts read back unscoped.

:func:`sentinel_vectors.testing.leak.run_writes` drives the lifecycle and the chunk
index and checks each refusal's exact type. This module adds what a caller can do with
the scoped wrappers themselves, and looks below every scope to check the result:

A script is a small tenancy world (two workspaces, members with roles and groups,
registered resources with visibility and shares) and a sequence of operations by random
members of either workspace:

- ``index``: :meth:`ResourceLifecycle.index_resource` of a known or fresh resource id;
- ``delete``: :meth:`ResourceLifecycle.delete_resource`;
- ``upsert``: a raw scoped-wrapper write of one record id (free ids, and ids derived from
  resources with :func:`~sentinel_vectors.index.chunk_id`, to try squatting);
- ``remove``: a raw scoped-wrapper delete of record ids;
- ``share`` / ``unshare``: the identity service's ACL changing between requests.

After every operation the harness reads the store *unscoped* (the native client, every
workspace) and the emulator's registry and compares both with :class:`Oracle`, which is
written from Sentinel's rules and the suite's write rule (``docs/security.md``),
independently of the library:

- no unauthorized change: an operation the rules forbid leaves store and registry as
  they were (invariants 4 and 8); one they allow must not be refused;
- nothing left behind: after a delete, no record of the resource remains anywhere
  (invariant 8), and no record of an unregistered resource ever appears;
- hidden equals absent: deleting a resource the caller may not view answers exactly as
  deleting an id nobody registered, in return value, exception type and message
  (invariant 9); a raw delete of a record the caller may not view is a silent no-op.

The oracle reuses Sentinel's rules from :mod:`sentinel_vectors.testing.leak`
(:func:`~sentinel_vectors.testing.leak.may_view`, :func:`~sentinel_vectors.testing.leak.
may_edit`) and writes the suite's write rule out on its own. A backend joins by
implementing :class:`WriteLeakBackend`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from hypothesis import strategies as st

from sentinel_vectors.auth import request_auth
from sentinel_vectors.binding import StoreBackend
from sentinel_vectors.errors import SentinelVectorsError
from sentinel_vectors.index import Chunk, chunk_id
from sentinel_vectors.lifecycle import ResourceLifecycle, SentinelRegistry
from sentinel_vectors.testing.keys import make_user
from sentinel_vectors.testing.leak import may_edit
from sentinel_vectors.testing.leak_world import ROLES, Resource, Share, User, may_view
from sentinel_vectors.testing.server import RunningEmulator

__all__ = [
    "Op",
    "Oracle",
    "RegisteredResource",
    "Script",
    "StoredRecords",
    "WriteLeakBackend",
    "run_script",
    "scripts",
]

RESOURCE_TYPE = "document"
DIM = 4

StoredRecords = dict[tuple[str, str], str]
"""What a store holds: ``(workspace_id, record id) -> resource_id`` (canonical strings)."""


@dataclass
class RegisteredResource:
    """The oracle's copy of one ACL record."""

    workspace_id: str
    owner_id: str
    visibility: Literal["private", "workspace"]
    shares: dict[tuple[str, str], Literal["view", "edit"]] = field(default_factory=dict)
    """``(grantee_type, grantee_id) -> permission``."""


@dataclass(frozen=True)
class Op:
    """One step of a script. ``who`` and ``target`` index members and resources/ids."""

    kind: Literal["index", "delete", "upsert", "remove", "share", "unshare"]
    who: int
    target: int
    extra: int = 0
    """``index``: chunk count; ``upsert``: the resource's index; ``remove``: a second
    id's index; ``share``/``unshare``: the grantee's index (members, then groups)."""
    flag: bool = False
    """``index``: private visibility; ``share``: edit permission."""


@dataclass(frozen=True)
class Script:
    """A world and the operations to run on it."""

    members: tuple[User, ...]
    groups: tuple[tuple[str, str], ...]
    """``(workspace_id, group_id)`` of every group."""
    resources: tuple[str, ...]
    """The resource id pool: registered at the start or never registered."""
    initial: Mapping[str, RegisteredResource]
    initial_chunks: Mapping[str, int]
    record_ids: tuple[str, ...]
    """The raw-write id pool: free ids and chunk ids of pool resources."""
    ops: tuple[Op, ...]


class WriteLeakBackend(Protocol):
    """What a backend provides to join the write harness."""

    name: str

    async def fresh(self, dim: int) -> object:
        """Create an empty collection (or table) for one script; return a handle."""
        ...

    def binding(self, handle: object) -> StoreBackend[Any]:
        """The backend binding (``ChromaBackend``, ...) over the handle's collection."""
        ...

    async def raw_upsert(
        self, handle: object, auth: object, record_id: str, resource_id: str
    ) -> None:
        """Upsert one record through the scoped wrapper (``resource_id`` in its metadata)."""
        ...

    async def raw_delete(self, handle: object, auth: object, record_ids: Sequence[str]) -> None:
        """Delete records by id through the scoped wrapper."""
        ...

    async def stored(self, handle: object) -> StoredRecords:
        """Every record of the collection, read with the native client (no scope)."""
        ...

    async def drop(self, handle: object) -> None:
        """Remove the script's collection."""
        ...


# -- the oracle ---------------------------------------------------------------------


def _grants(member: User, rid: str, res: RegisteredResource, action: str) -> bool:
    """Sentinel's rule, from the read harness's oracle (:func:`may_view`, :func:`may_edit`)."""
    shares = tuple(
        Share("user" if kind == "user" else "group", grantee, perm)
        for (kind, grantee), perm in res.shares.items()
    )
    resource = Resource(rid, res.workspace_id, res.owner_id, res.visibility, shares)
    return (may_view if action == "view" else may_edit)(member, resource)


@dataclass
class Oracle:
    """Who may change what, and what the store and registry must hold afterwards."""

    registry: dict[str, RegisteredResource]
    records: StoredRecords
    derived: dict[str, str]
    """Record ids derived from a pool resource (:func:`chunk_id`) -> that resource."""

    def may(self, member: User, rid: str, action: Literal["view", "edit"]) -> bool:
        """Whether ``member`` may ``action`` the registered resource ``rid``."""
        res = self.registry.get(rid)
        return res is not None and _grants(member, rid, res, action)

    def index(self, member: User, rid: str, n: int, private: bool) -> bool:
        """Apply ``index_resource``; False if the rules refuse it (nothing changes)."""
        res = self.registry.get(rid)
        if res is None:
            if member.role not in ("editor", "admin", "owner"):
                return False
            if any(r == rid for r in self.records.values()):
                return False  # chunks nobody registered: never claimed (invariant 8)
            self.registry[rid] = RegisteredResource(
                member.workspace_id, member.user_id, "private" if private else "workspace"
            )
        elif not _grants(member, rid, res, "edit"):
            return False
        # Re-indexing replaces the resource's whole record set in the workspace: its
        # chunks 0..n-1, nothing else of it (records written by any path included).
        ws = member.workspace_id
        self.records = {
            key: r for key, r in self.records.items() if not (key[0] == ws and r == rid)
        }
        for i in range(n):
            self.records[(ws, chunk_id(rid, i))] = rid
        return True

    def delete(self, member: User, rid: str) -> Literal["done", "denied", "absent"]:
        """Apply ``delete_resource``: ``absent`` when the caller may not even view it."""
        res = self.registry.get(rid)
        if res is None or not _grants(member, rid, res, "view"):
            return "absent"
        if res.owner_id != member.user_id and member.role not in ("admin", "owner"):
            return "denied"
        del self.registry[rid]
        self.records = {key: r for key, r in self.records.items() if r != rid}
        return "done"

    def upsert(self, member: User, record_id: str, rid: str) -> bool:
        """Apply a raw upsert of one record; False if the rules refuse it."""
        if not self.may(member, rid, "edit"):
            return False  # unknown, foreign, hidden or read-only resource (invariant 8)
        if self.derived.get(record_id, rid) != rid:
            return False  # an id derived from another resource (chunk-id squatting)
        key = (member.workspace_id, record_id)
        stored = self.records.get(key)
        if stored is not None and not self.may(member, stored, "edit"):
            return False
        self.records[key] = rid
        return True

    def remove(self, member: User, record_ids: Sequence[str]) -> bool:
        """Apply a raw delete by ids; False if refused (a visible, read-only record)."""
        ws = member.workspace_id
        doomed = []
        for record_id in record_ids:
            stored = self.records.get((ws, record_id))
            if stored is None or not self.may(member, stored, "view"):
                continue  # absent, or hidden: the same silent no-op (invariant 9)
            if not self.may(member, stored, "edit"):
                return False
            doomed.append((ws, record_id))
        for key in doomed:
            del self.records[key]
        return True


# -- generation ---------------------------------------------------------------------


@st.composite
def scripts(draw: st.DrawFn, max_ops: int = 8) -> Script:
    """A random world of two workspaces and up to ``max_ops`` operations on it."""
    salt = draw(st.integers(min_value=0, max_value=2**60))
    counter = iter(range(1, 1_000))

    def fresh() -> str:
        """A UUID unique within the script (Sentinel ids are globally unique)."""
        return str(uuid.UUID(int=(salt << 64) | next(counter), version=4))

    workspaces = (fresh(), fresh())
    groups = tuple((ws, fresh()) for ws in workspaces for _ in range(2))
    members: list[User] = []
    for ws in workspaces:
        mine = [g for w, g in groups if w == ws]
        for role in draw(st.lists(st.sampled_from(ROLES), min_size=2, max_size=3)):
            member_of = draw(st.lists(st.sampled_from(mine), max_size=2, unique=True))
            members.append(User(fresh(), ws, role, tuple(member_of)))
    initial: dict[str, RegisteredResource] = {}
    initial_chunks: dict[str, int] = {}
    for ws in workspaces:
        local = [m for m in members if m.workspace_id == ws]
        for _ in range(draw(st.integers(1, 2))):
            owner = draw(st.sampled_from(local))
            res = RegisteredResource(
                ws, owner.user_id, draw(st.sampled_from(["private", "workspace"]))
            )
            for _ in range(draw(st.integers(0, 2))):
                grantee = draw(
                    st.one_of(
                        st.sampled_from([("user", m.user_id) for m in local]),
                        st.sampled_from([("group", g) for w, g in groups if w == ws]),
                    )
                )
                res.shares[grantee] = draw(st.sampled_from(["view", "edit"]))
            rid = fresh()
            initial[rid] = res
            initial_chunks[rid] = draw(st.integers(1, 3))
    resources = (*initial, fresh(), fresh())
    record_ids = (fresh(), fresh(), *(chunk_id(r, i) for r in resources for i in range(2)))
    n_grantees = len(members) + len(groups)
    op = st.one_of(
        st.builds(
            Op,
            st.just("index"),
            st.integers(0, len(members) - 1),
            st.integers(0, len(resources) - 1),
            st.integers(1, 3),
            st.booleans(),
        ),
        st.builds(
            Op,
            st.just("delete"),
            st.integers(0, len(members) - 1),
            st.integers(0, len(resources) - 1),
        ),
        st.builds(
            Op,
            st.just("upsert"),
            st.integers(0, len(members) - 1),
            st.integers(0, len(record_ids) - 1),
            st.integers(0, len(resources) - 1),
        ),
        st.builds(
            Op,
            st.just("remove"),
            st.integers(0, len(members) - 1),
            st.integers(0, len(record_ids) - 1),
            st.integers(0, len(record_ids) - 1),
        ),
        st.builds(
            Op,
            st.sampled_from(["share", "unshare"]),
            st.just(0),
            st.integers(0, len(resources) - 1),
            st.integers(0, n_grantees - 1),
            st.booleans(),
        ),
    )
    ops = draw(st.lists(op, min_size=1, max_size=max_ops))
    return Script(
        members=tuple(members),
        groups=groups,
        resources=resources,
        initial=initial,
        initial_chunks=initial_chunks,
        record_ids=record_ids,
        ops=tuple(ops),
    )


# -- the runner ---------------------------------------------------------------------


def _vectors(n: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [[float(x) for x in rng.normal(size=DIM)] for _ in range(n)]


def _outcome(result: object, error: BaseException | None, rid: str) -> tuple[str, str]:
    """What a caller can observe of an answer, with the asked id blanked out."""
    if error is not None:
        return type(error).__name__, str(error).replace(rid, "<id>")
    return "returned", repr(result).replace(rid, "<id>")


class _Run:
    """One script against one backend, comparing after every step."""

    def __init__(
        self, script: Script, backend: WriteLeakBackend, running: RunningEmulator, handle: object
    ) -> None:
        self.script = script
        self.backend = backend
        self.running = running
        self.handle = handle
        self.client = running.permission_client()
        self.binding = backend.binding(handle)
        derived = {chunk_id(r, i): r for r in script.resources for i in range(8)}
        self.oracle = Oracle(registry={}, records={}, derived=derived)
        self.step = "set-up"

    def auth(self, member: User) -> Any:
        """A fresh request's auth for ``member`` (nothing cached from earlier steps)."""
        user, token = make_user(
            self.running.keys,
            workspace_id=uuid.UUID(member.workspace_id),
            role=member.role,
            groups=[uuid.UUID(g) for g in member.groups],
            user_id=uuid.UUID(member.user_id),
        )
        return request_auth(user, token, self.client)

    def lifecycle(self, member: User) -> ResourceLifecycle:
        index = self.binding.index(self.auth(member))
        return ResourceLifecycle(index, SentinelRegistry(self.client, index.scope))

    def registered(self) -> dict[str, str]:
        return {
            str(r.resource_id): str(r.workspace_id)
            for r in self.running.emulator.records()
            if r.resource_type == RESOURCE_TYPE
        }

    async def check(self, why: str) -> None:
        stored = await self.backend.stored(self.handle)
        want = self.oracle.records
        leaked = {k: v for k, v in stored.items() if want.get(k) != v}
        missing = {k: v for k, v in want.items() if stored.get(k) != v}
        assert not leaked and not missing, (
            f"{self.backend.name} after {why}: store holds {leaked} the rules forbid, "
            f"lacks {missing} they require"
        )
        reg = {rid: res.workspace_id for rid, res in self.oracle.registry.items()}
        assert self.registered() == reg, f"{self.backend.name} after {why}: registry differs"
        orphans = {rid for rid in stored.values() if rid not in reg}
        assert not orphans, f"{self.backend.name} after {why}: chunks of unknown {orphans}"

    def seed(self) -> None:
        emulator = self.running.emulator
        for rid, res in self.script.initial.items():
            emulator.register(
                RESOURCE_TYPE,
                uuid.UUID(rid),
                uuid.UUID(res.workspace_id),
                uuid.UUID(res.owner_id),
                visibility=res.visibility,
            )
            for (kind, grantee), permission in res.shares.items():
                emulator.share(RESOURCE_TYPE, uuid.UUID(rid), kind, uuid.UUID(grantee), permission)
            self.oracle.registry[rid] = RegisteredResource(
                res.workspace_id, res.owner_id, res.visibility, dict(res.shares)
            )

    async def load(self) -> None:
        """Each pre-registered resource indexed by its owner (allowed by every rule)."""
        by_id = {m.user_id: m for m in self.script.members}
        for n, (rid, res) in enumerate(self.script.initial.items()):
            owner = by_id[res.owner_id]
            count = self.script.initial_chunks[rid]
            chunks = [Chunk(f"text {i}", v) for i, v in enumerate(_vectors(count, n))]
            await self.lifecycle(owner).index_resource(rid, chunks)
            assert self.oracle.index(owner, rid, count, res.visibility == "private")
        await self.check("loading")

    async def run(self, i: int, op: Op) -> None:
        member = self.script.members[op.who]
        self.step = f"op {i} {op} by {member.role} of ws {member.workspace_id[:8]}"
        if op.kind in ("share", "unshare"):
            self.acl(op)
            return
        if op.kind == "index":
            await self.index(member, op)
        elif op.kind == "delete":
            await self.delete(member, self.script.resources[op.target])
        elif op.kind == "upsert":
            rid = self.script.resources[op.extra]
            record_id = self.script.record_ids[op.target]
            allowed = self.oracle.upsert(member, record_id, rid)
            await self.attempt(
                allowed, self.backend.raw_upsert(self.handle, self.auth(member), record_id, rid)
            )
        else:
            ids = sorted({self.script.record_ids[op.target], self.script.record_ids[op.extra]})
            allowed = self.oracle.remove(member, ids)
            await self.attempt(
                allowed, self.backend.raw_delete(self.handle, self.auth(member), ids)
            )
        await self.check(self.step)

    async def attempt(self, allowed: bool, call: Any) -> None:
        try:
            await call
        except SentinelVectorsError as exc:
            assert not allowed, f"{self.step}: an authorized write was refused: {exc!r}"
            return
        # A refused write may also be a silent no-op; check() proves nothing changed.

    async def index(self, member: User, op: Op) -> None:
        rid = self.script.resources[op.target]
        allowed = self.oracle.index(member, rid, op.extra, op.flag)
        chunks = [Chunk(f"v{i}", v) for i, v in enumerate(_vectors(op.extra, op.target + 100))]
        visibility = "private" if op.flag else "workspace"
        await self.attempt(
            allowed, self.lifecycle(member).index_resource(rid, chunks, visibility=visibility)
        )

    async def delete(self, member: User, rid: str) -> None:
        verdict = self.oracle.delete(member, rid)
        answer = await self._answer(member, rid)
        if verdict == "done":
            assert answer[0] == "returned", f"{self.step}: an authorized delete failed: {answer}"
        elif verdict == "absent":
            # Invariant 9: the same answer as for an id nobody ever registered.
            nobody = str(uuid.uuid4())
            assert answer == await self._answer(member, nobody), (
                f"{self.step}: deleting a hidden resource answered {answer}, unlike an absent one"
            )
        else:
            assert answer[0] != "returned", f"{self.step}: an unauthorized delete succeeded"

    async def _answer(self, member: User, rid: str) -> tuple[str, str]:
        try:
            result = await self.lifecycle(member).delete_resource(rid)
        except SentinelVectorsError as exc:
            return _outcome(None, exc, rid)
        return _outcome(result, None, rid)

    def acl(self, op: Op) -> None:
        """Share or unshare as the identity service would between two requests."""
        rid = self.script.resources[op.target]
        res = self.oracle.registry.get(rid)
        if res is None:
            return
        members, groups = self.script.members, self.script.groups
        if op.extra < len(members):
            grantee = ("user", members[op.extra].user_id)
            grantee_ws = members[op.extra].workspace_id
        else:
            grantee_ws, gid = groups[op.extra - len(members)]
            grantee = ("group", gid)
        if grantee_ws != res.workspace_id:
            return  # the real service refuses shares outside the resource's workspace
        emulator, key = self.running.emulator, uuid.UUID(rid)
        if op.kind == "share" and grantee not in res.shares:
            permission: Literal["view", "edit"] = "edit" if op.flag else "view"
            emulator.share(RESOURCE_TYPE, key, grantee[0], uuid.UUID(grantee[1]), permission)
            res.shares[grantee] = permission
        elif op.kind == "unshare" and grantee in res.shares:
            emulator.unshare(RESOURCE_TYPE, key, grantee[0], uuid.UUID(grantee[1]))
            del res.shares[grantee]


async def run_script(script: Script, backend: WriteLeakBackend, running: RunningEmulator) -> None:
    """Seed the emulator, load the world, run every operation and check after each.

    The emulator is reset before and after.
    """
    running.emulator.reset()
    handle = await backend.fresh(DIM)
    run = _Run(script, backend, running, handle)
    try:
        run.seed()
        await run.load()
        for i, op in enumerate(script.ops):
            await run.run(i, op)
    finally:
        await backend.drop(handle)
        await run.client.close()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
        running.emulator.reset()
