"""The leak harness: random tenancy worlds and an independent oracle of who may see what.

A backend joins by implementing :class:`LeakBackend` (create an empty collection,
write chunks through its scoped store, search and list through it) and running
:func:`check_world` from a hypothesis test. For every user of every generated world,
:func:`check_world` asserts:

- no leak: every returned chunk is one the user may view (owner, ``workspace``
  visibility, a user or group share, or an admin/owner role) in the user's workspace;
- nothing missing: the search result is the brute-force top-k of what the user may see
  and what the caller filter admits (up to float ties), when the backend is exact; the
  listing is exactly that set, on every backend.

The world puts other workspaces' chunks, and chunks of resources the user may not see,
nearest the query vector, so a missing tenancy filter shows as a wrong answer at once.
The oracle below is written from Sentinel's rules, independently of the emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from hypothesis import strategies as st

from sentinel_vectors.auth import request_auth
from sentinel_vectors.errors import AccessDeniedError
from sentinel_vectors.filters import Filter
from sentinel_vectors.index import Chunk as IndexChunk
from sentinel_vectors.lifecycle import ResourceLifecycle, ResourceNotFoundError, SentinelRegistry
from sentinel_vectors.testing.keys import make_user
from sentinel_vectors.testing.leak_world import (
    Chunk,
    Metric,
    Resource,
    Share,
    User,
    World,
    allowed_chunks,
    check_listing,
    check_search,
    expected_order,
    may_view,
    worlds,
)
from sentinel_vectors.testing.server import RunningEmulator

__all__ = [
    "Chunk",
    "LeakBackend",
    "Resource",
    "Share",
    "User",
    "World",
    "WriteLeakBackend",
    "WriteOp",
    "WriteScript",
    "allowed_chunks",
    "check_listing",
    "check_search",
    "expected_order",
    "may_edit",
    "may_view",
    "run_world",
    "run_writes",
    "worlds",
    "write_scripts",
]


class LeakBackend(Protocol):
    """What a backend provides to join the leak harness."""

    name: str
    exact: bool
    metric: Metric

    async def fresh(self, dim: int) -> object:
        """Create an empty collection (or table) for one example; return a handle."""
        ...

    async def write(self, handle: object, auth: object, chunks: Sequence[Chunk]) -> None:
        """Write ``chunks`` through the scoped store as ``auth`` (a workspace admin).

        Each chunk's ``owner_id`` is its resource's owner (admins may set it).
        """
        ...

    async def search(
        self, handle: object, auth: object, query: Sequence[float], k: int, flt: Filter | None
    ) -> list[str]:
        """Top-``k`` chunk ids for ``query`` through the scoped store, nearest first."""
        ...

    async def listing(self, handle: object, auth: object, flt: Filter | None) -> list[str]:
        """Every chunk id the scoped store's ``get``/``scroll`` returns for ``flt``."""
        ...

    async def drop(self, handle: object) -> None:
        """Remove the example's collection."""
        ...


# -- the runner ---------------------------------------------------------------------


async def run_world(
    world: World,
    backend: LeakBackend,
    running: RunningEmulator,
    *,
    resource_type: str = "document",
    dim: int = 8,
) -> None:
    """Seed the emulator with ``world``, load it through ``backend`` and check every user.

    Chunks are written by an admin of each workspace (who may set ``owner_id``), so the
    writes also exercise stamping; reads use each user's own token and a real
    ``PermissionClient`` against the emulator. The emulator is reset afterwards.
    """
    emulator = running.emulator
    emulator.reset()
    for res in world.resources:
        rid = uuid.UUID(res.resource_id)
        emulator.register(
            resource_type,
            rid,
            uuid.UUID(res.workspace_id),
            uuid.UUID(res.owner_id),
            visibility=res.visibility,
        )
        for share in res.shares:
            emulator.share(
                resource_type,
                rid,
                share.grantee_type,
                uuid.UUID(share.grantee_id),
                share.permission,
            )
    client = running.permission_client()
    handle = await backend.fresh(dim)
    try:
        for ws in world.workspaces:
            admin, token = make_user(running.keys, workspace_id=uuid.UUID(ws), role="admin")
            chunks = [c for c in world.chunks if c.resource.workspace_id == ws]
            if chunks:
                await backend.write(handle, request_auth(admin, token, client), chunks)
        for user in world.users:
            member, token = make_user(
                running.keys,
                workspace_id=uuid.UUID(user.workspace_id),
                role=user.role,
                groups=[uuid.UUID(g) for g in user.groups],
                user_id=uuid.UUID(user.user_id),
            )
            auth = request_auth(member, token, client)
            found = await backend.search(handle, auth, world.query, world.k, world.caller_filter)
            check_search(world, user, found, metric=backend.metric, exact=backend.exact)
            listed = await backend.listing(handle, auth, world.caller_filter)
            check_listing(world, user, listed)
    finally:
        await backend.drop(handle)
        await client.close()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
        emulator.reset()


# -- the write side -----------------------------------------------------------------
#
# Random sequences of writes, lifecycle operations and share changes by random users,
# each checked against an oracle of who may change what (Sentinel's rules and the
# suite's write rule, written out here independently of the emulator and the policy):
# no unauthorized change, the right error for every refusal, and nothing of a resource
# left after its deletion (invariants 4, 8 and 9).

OpKind = Literal["index", "put", "remove", "delete", "share", "revoke"]


@dataclass(frozen=True)
class WriteOp:
    """One operation of a write script: who does what to which resource id."""

    kind: OpKind
    user: int
    resource: int
    chunks: int = 1
    permission: Literal["view", "edit"] = "view"
    visibility: Literal["private", "workspace"] = "workspace"


@dataclass(frozen=True)
class WriteScript:
    """A world (users and registered resources; its chunks are not used) and operations.

    ``pool`` are the resource ids operations name: the world's resources (in every
    workspace) and ids nobody registered.
    """

    world: World
    pool: tuple[str, ...]
    ops: tuple[WriteOp, ...]


class WriteLeakBackend(LeakBackend, Protocol):
    """A leak backend that also joins the write side: its lifecycle binding."""

    def binding(self, handle: object) -> object:
        """The :class:`~sentinel_vectors.binding.StoreBackend` over the example's handle."""
        ...


@st.composite
def write_scripts(draw: st.DrawFn, max_ops: int = 8) -> WriteScript:
    """A random world and 1..``max_ops`` operations by random users on random ids."""
    world = draw(worlds(max_chunks=12))
    salt = draw(st.integers(min_value=0, max_value=2**60))
    fresh = tuple(str(uuid.UUID(int=(salt << 64) | (2**63 + i), version=4)) for i in range(2))
    pool = tuple(r.resource_id for r in world.resources) + fresh
    op = st.builds(
        WriteOp,
        st.sampled_from(["index", "index", "put", "remove", "delete", "share", "revoke"]),
        st.integers(min_value=0, max_value=len(world.users) - 1),
        st.integers(min_value=0, max_value=len(pool) - 1),
        st.integers(min_value=1, max_value=3),
        st.sampled_from(["view", "edit"]),
        st.sampled_from(["private", "workspace"]),
    )
    ops = draw(st.lists(op, min_size=1, max_size=max_ops))
    return WriteScript(world, pool, tuple(ops))


@dataclass
class _Registered:
    workspace_id: str
    owner_id: str
    visibility: Literal["private", "workspace"]
    shares: list[Share]

    def as_resource(self, rid: str) -> Resource:
        return Resource(rid, self.workspace_id, self.owner_id, self.visibility, tuple(self.shares))


def may_edit(user: User, resource: Resource) -> bool:
    """Sentinel's edit rule, written out independently of the emulator."""
    if resource.workspace_id != user.workspace_id:
        return False
    if user.role in ("admin", "owner") or resource.owner_id == user.user_id:
        return True
    if resource.visibility == "workspace" and user.role == "editor":
        return True
    return any(
        s.permission == "edit"
        and (
            (s.grantee_type == "user" and s.grantee_id == user.user_id)
            or (s.grantee_type == "group" and s.grantee_id in user.groups)
        )
        for s in resource.shares
    )


def _last_per_grantee(shares: Sequence[Share]) -> list[Share]:
    """Sentinel keeps one share per grantee: sharing again replaces its permission."""
    out: dict[tuple[str, str], Share] = {}
    for share in shares:
        out[(share.grantee_type, share.grantee_id)] = share
    return list(out.values())


class _Oracle:
    """What the identity service and the store must hold after each operation."""

    def __init__(self, world: World) -> None:
        self.registry: dict[str, _Registered] = {
            r.resource_id: _Registered(
                r.workspace_id, r.owner_id, r.visibility, _last_per_grantee(r.shares)
            )
            for r in world.resources
        }
        # workspace -> record id -> (resource id, stored owner)
        self.store: dict[str, dict[str, tuple[str, str]]] = {ws: {} for ws in world.workspaces}

    def resource(self, rid: str) -> Resource | None:
        reg = self.registry.get(rid)
        return None if reg is None else reg.as_resource(rid)

    def records_of(self, ws: str, rid: str) -> dict[str, tuple[str, str]]:
        return {i: v for i, v in self.store[ws].items() if v[0] == rid}

    def replace(self, user: User, rid: str, n: int) -> None:
        records = self.store[user.workspace_id]
        kept = {f"{rid}:{i}" for i in range(n)}
        for record_id in list(self.records_of(user.workspace_id, rid)):
            if record_id not in kept:
                del records[record_id]
        for record_id in sorted(kept):
            owner = records.get(record_id, (rid, user.user_id))[1]
            records[record_id] = (rid, owner)

    def remove(self, ws: str, rid: str) -> int:
        gone = self.records_of(ws, rid)
        for record_id in gone:
            del self.store[ws][record_id]
        return len(gone)


def _texts(rid: str, n: int, dim: int) -> list[IndexChunk]:
    rng = np.random.default_rng(uuid.UUID(rid).int % 2**32)
    return [IndexChunk(f"{rid}:{i}", [float(x) for x in rng.normal(size=dim)]) for i in range(n)]


async def run_writes(
    script: WriteScript,
    backend: WriteLeakBackend,
    running: RunningEmulator,
    *,
    resource_type: str = "document",
    dim: int = 8,
) -> None:
    """Run ``script`` through ``backend``'s lifecycle and chunk index; check the oracle.

    After every operation: it succeeded exactly when the oracle says it may, a refusal
    has the right type (``ResourceNotFoundError`` for what the caller may not see,
    invariant 9), and every workspace's store (listed by its admin) and the identity
    service hold exactly what the oracle holds (nothing unauthorized, nothing left).
    """
    world = script.world
    emulator = running.emulator
    emulator.reset()
    oracle = _Oracle(world)
    for rid, reg in oracle.registry.items():
        emulator.register(
            resource_type,
            uuid.UUID(rid),
            uuid.UUID(reg.workspace_id),
            uuid.UUID(reg.owner_id),
            visibility=reg.visibility,
        )
        for share in reg.shares:
            emulator.share(
                resource_type,
                uuid.UUID(rid),
                share.grantee_type,
                uuid.UUID(share.grantee_id),
                share.permission,
            )
    client = running.permission_client()
    handle = await backend.fresh(dim)
    binding: Any = backend.binding(handle)

    def auth_of(user: User) -> Any:
        member, token = make_user(
            running.keys,
            workspace_id=uuid.UUID(user.workspace_id),
            role=user.role,
            groups=[uuid.UUID(g) for g in user.groups],
            user_id=uuid.UUID(user.user_id),
        )
        return request_auth(member, token, client)

    admins = {
        ws: make_user(running.keys, workspace_id=uuid.UUID(ws), role="admin")
        for ws in world.workspaces
    }
    try:
        for step, op in enumerate(script.ops):
            user = world.users[op.user]
            rid = script.pool[op.resource]
            where = f"step {step} {op} by {user} on {rid}"
            auth = auth_of(user)
            index = binding.index(auth)
            res = oracle.resource(rid)
            ws = user.workspace_id
            full = user.role in ("admin", "owner")
            if op.kind in ("index", "put"):
                if op.kind == "index":
                    if res is None:
                        foreign = any(
                            owner != user.user_id
                            for _, owner in oracle.records_of(ws, rid).values()
                        )
                        ok = user.role != "viewer" and not foreign
                    else:
                        ok = may_edit(user, res)
                else:
                    ok = res is not None and may_edit(user, res)
                try:
                    if op.kind == "index":
                        lifecycle = ResourceLifecycle(index, SentinelRegistry(client, index.scope))
                        await lifecycle.index_resource(
                            rid, _texts(rid, op.chunks, dim), visibility=op.visibility
                        )
                    else:
                        await index.put_chunks(rid, _texts(rid, op.chunks, dim))
                except AccessDeniedError as exc:
                    assert not ok, f"{where}: refused although allowed: {exc!r}"
                    assert not isinstance(exc, ResourceNotFoundError), where
                else:
                    assert ok, f"{where}: UNAUTHORIZED write succeeded"
                    if res is None:
                        oracle.registry[rid] = _Registered(ws, user.user_id, op.visibility, [])
                    oracle.replace(user, rid, op.chunks)
            elif op.kind == "remove":
                expected = 0
                if full or (res is not None and may_edit(user, res)):
                    expected = oracle.remove(ws, rid)
                removed = await index.remove_chunks(rid)
                assert removed == expected, f"{where}: removed {removed}, expected {expected}"
            elif op.kind == "delete":
                lifecycle = ResourceLifecycle(index, SentinelRegistry(client, index.scope))
                here = res is not None and res.workspace_id == ws
                orphans = bool(oracle.records_of(ws, rid))
                if here and (res is not None and (res.owner_id == user.user_id or full)):
                    outcome = "deleted"
                elif here and res is not None and may_view(user, res):
                    outcome = "denied"
                elif not here and full and orphans:
                    outcome = "orphans"
                else:
                    outcome = "not found"
                try:
                    await lifecycle.delete_resource(rid)
                except ResourceNotFoundError:
                    assert outcome == "not found", f"{where}: not found, expected {outcome}"
                except AccessDeniedError:
                    assert outcome == "denied", f"{where}: denied, expected {outcome}"
                else:
                    assert outcome in ("deleted", "orphans"), (
                        f"{where}: deleted, expected {outcome}"
                    )
                    oracle.remove(ws, rid)
                    if outcome == "deleted":
                        del oracle.registry[rid]
            else:  # share / revoke: the identity service changes (by the resource's owner)
                target = oracle.registry.get(rid)
                if target is not None:
                    grantee = user.user_id
                    had = any(
                        s.grantee_type == "user" and s.grantee_id == grantee for s in target.shares
                    )
                    target.shares = [
                        s
                        for s in target.shares
                        if not (s.grantee_type == "user" and s.grantee_id == grantee)
                    ]
                    if op.kind == "share" and had:
                        # Sentinel keeps one share per grantee: a change is unshare + share.
                        emulator.unshare(resource_type, uuid.UUID(rid), "user", uuid.UUID(grantee))
                    if op.kind == "share":
                        target.shares.append(Share("user", grantee, op.permission))
                        emulator.share(
                            resource_type, uuid.UUID(rid), "user", uuid.UUID(grantee), op.permission
                        )
                    elif had:
                        emulator.unshare(resource_type, uuid.UUID(rid), "user", uuid.UUID(grantee))
            # The whole state, after every step.
            for space in world.workspaces:
                admin, token = admins[space]
                listed = await backend.listing(handle, request_auth(admin, token, client), None)
                assert sorted(listed) == sorted(oracle.store[space]), (
                    f"{where}: workspace {space} holds {sorted(listed)}, "
                    f"expected {sorted(oracle.store[space])}"
                )
            for pooled in script.pool:
                record = emulator.get(resource_type, uuid.UUID(pooled))
                known = oracle.registry.get(pooled)
                assert (record is None) == (known is None), f"{where}: registry differs on {pooled}"
                if record is not None and known is not None:
                    assert str(record.workspace_id) == known.workspace_id, where
                    assert str(record.owner_id) == known.owner_id, where
    finally:
        await backend.drop(handle)
        await client.close()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
        emulator.reset()
