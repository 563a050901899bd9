"""The leak harness's worlds: random tenancies and the independent oracle of who may see what.

The model (:class:`World`: users, resources, shares and chunks), the oracle written from
Sentinel's rules independently of the emulator (:func:`may_view`, :func:`allowed_chunks`,
:func:`expected_order`, :func:`check_search`, :func:`check_listing`) and the hypothesis
strategy that generates worlds (:func:`worlds`). :mod:`sentinel_vectors.testing.leak`
runs them against a backend and re-exports every name.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from hypothesis import strategies as st

from sentinel_vectors import filters as F
from sentinel_vectors.filters import Filter

__all__ = [
    "Chunk",
    "Resource",
    "Share",
    "User",
    "World",
    "allowed_chunks",
    "check_listing",
    "check_search",
    "expected_order",
    "may_view",
    "worlds",
]

Role = Literal["viewer", "editor", "admin", "owner"]
Metric = Literal["l2", "cosine", "ip"]

ROLES: tuple[Role, ...] = ("viewer", "editor", "admin", "owner")
TOPICS = ("billing", "security", "roadmap")
YEARS = (2021, 2022, 2023, 2024, 2025)


@dataclass(frozen=True)
class User:
    """A workspace member as the JWT describes them."""

    user_id: str
    workspace_id: str
    role: Role
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Share:
    """A share of a resource with a user or a group."""

    grantee_type: Literal["user", "group"]
    grantee_id: str
    permission: Literal["view", "edit"]


@dataclass(frozen=True)
class Resource:
    """A Sentinel resource (a document) that chunks belong to."""

    resource_id: str
    workspace_id: str
    owner_id: str
    visibility: Literal["private", "workspace"]
    shares: tuple[Share, ...]


@dataclass(frozen=True)
class Chunk:
    """One vector record: its resource, its caller-visible metadata and its vector."""

    chunk_id: str
    resource: Resource
    topic: str
    year: int
    vector: tuple[float, ...]

    @property
    def metadata(self) -> dict[str, object]:
        """The metadata the harness writes (tenancy keys are stamped by the store)."""
        return {"resource_id": self.resource.resource_id, "topic": self.topic, "year": self.year}


@dataclass(frozen=True)
class World:
    """Workspaces, users, resources, chunks, a query vector and a caller filter."""

    workspaces: tuple[str, ...]
    users: tuple[User, ...]
    resources: tuple[Resource, ...]
    chunks: tuple[Chunk, ...]
    query: tuple[float, ...]
    caller_filter: Filter | None
    k: int
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# -- the oracle ---------------------------------------------------------------------


def may_view(user: User, resource: Resource) -> bool:
    """Sentinel's view rule, written out independently of the emulator."""
    if resource.workspace_id != user.workspace_id:
        return False
    if user.role in ("admin", "owner"):
        return True
    if resource.owner_id == user.user_id or resource.visibility == "workspace":
        return True
    return any(
        (s.grantee_type == "user" and s.grantee_id == user.user_id)
        or (s.grantee_type == "group" and s.grantee_id in user.groups)
        for s in resource.shares
    )


def allowed_chunks(world: World, user: User) -> list[Chunk]:
    """Chunks the user may view that the world's caller filter admits."""
    return [
        c
        for c in world.chunks
        if may_view(user, c.resource)
        and (world.caller_filter is None or F.matches(world.caller_filter, c.metadata))
    ]


def _distance(metric: Metric, a: Sequence[float], b: Sequence[float]) -> float:
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if metric == "l2":
        return float(np.sum((va - vb) ** 2))
    if metric == "ip":
        return float(-np.dot(va, vb))
    return float(1.0 - np.dot(va, vb) / (np.linalg.norm(va) * np.linalg.norm(vb)))


def expected_order(world: World, user: User, metric: Metric) -> list[tuple[str, float]]:
    """Every allowed chunk with its distance to the query, nearest first."""
    scored = [
        (c.chunk_id, _distance(metric, c.vector, world.query)) for c in allowed_chunks(world, user)
    ]
    return sorted(scored, key=lambda pair: pair[1])


def check_search(
    world: World, user: User, returned: Sequence[str], *, metric: Metric, exact: bool
) -> None:
    """Assert a search result leaks nothing and (if exact) misses nothing."""
    allowed = {c.chunk_id for c in allowed_chunks(world, user)}
    leaked = [cid for cid in returned if cid not in allowed]
    assert not leaked, f"LEAK for {user}: returned {leaked} which the user may not see"
    assert len(set(returned)) == len(returned), f"duplicate hits {returned}"
    order = expected_order(world, user, metric)
    want = min(world.k, len(order))
    assert len(returned) <= world.k
    if not exact:
        return
    assert len(returned) == want, f"{user}: expected {want} hits, got {len(returned)}"
    if want == 0:
        return
    # Float32 storage can reorder near-ties at the k-th boundary; outside it, exact.
    tol = 1e-4 * max(1.0, abs(order[want - 1][1]))
    kth = order[want - 1][1]
    required = {cid for cid, d in order if d < kth - tol}
    admissible = {cid for cid, d in order if d <= kth + tol}
    assert required <= set(returned), f"{user}: missing {required - set(returned)}"
    assert set(returned) <= admissible, f"{user}: {set(returned) - admissible} beyond top-{want}"


def check_listing(world: World, user: User, returned: Sequence[str]) -> None:
    """Assert a filtered listing is exactly the allowed, filter-admitted set."""
    allowed = {c.chunk_id for c in allowed_chunks(world, user)}
    leaked = set(returned) - allowed
    assert not leaked, f"LEAK for {user}: listed {sorted(leaked)} which the user may not see"
    assert set(returned) == allowed, f"{user}: listing missed {sorted(allowed - set(returned))}"


# -- generation ---------------------------------------------------------------------


class _Ids:
    """Unique UUIDs within one world (Sentinel ids are globally unique)."""

    def __init__(self, salt: int) -> None:
        self._salt = salt
        self._next = 0

    def __call__(self) -> str:
        self._next += 1
        return str(uuid.UUID(int=(self._salt << 64) | self._next, version=4))


def _filters() -> st.SearchStrategy[Filter]:
    leaf = st.one_of(
        st.sampled_from(TOPICS).map(lambda t: F.eq("topic", t)),
        st.sampled_from(TOPICS).map(lambda t: F.ne("topic", t)),
        st.lists(st.sampled_from(TOPICS), min_size=1, max_size=2, unique=True).map(
            lambda ts: F.in_("topic", ts)
        ),
        st.lists(st.sampled_from(TOPICS), min_size=1, max_size=2, unique=True).map(
            lambda ts: F.not_in("topic", ts)
        ),
        st.tuples(st.sampled_from(["gt", "gte", "lt", "lte", "eq"]), st.sampled_from(YEARS)).map(
            lambda p: F.Comparison("year", p[0], p[1])  # type: ignore[arg-type]
        ),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: F.And(tuple(xs))),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: F.Or(tuple(xs))),
            inner.map(F.Not),
        ),
        max_leaves=4,
    )


@st.composite
def worlds(draw: st.DrawFn, dim: int = 8, max_chunks: int = 40) -> World:
    """A random tenancy world: 2-3 workspaces, users, resources, shares and chunks.

    Vectors come from a seeded RNG (hypothesis shrinks the seed and the structure).
    Chunks of other workspaces and of private, unshared resources are placed nearest
    the query as decoys.
    """
    new_id = _Ids(draw(st.integers(min_value=0, max_value=2**60)))
    n_ws = draw(st.integers(min_value=2, max_value=3))
    workspaces = tuple(new_id() for _ in range(n_ws))
    groups = {ws: (new_id(), new_id()) for ws in workspaces}
    users: list[User] = []
    for ws in workspaces:
        roles = draw(st.lists(st.sampled_from(ROLES), min_size=2, max_size=4))
        for role in roles:
            member_of = draw(st.lists(st.sampled_from(groups[ws]), max_size=2, unique=True))
            users.append(User(new_id(), ws, role, tuple(member_of)))
    resources: list[Resource] = []
    for ws in workspaces:
        members = [u for u in users if u.workspace_id == ws]
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            owner = draw(st.sampled_from(members))
            shares = draw(
                st.lists(
                    st.one_of(
                        st.builds(
                            Share,
                            st.just("user"),
                            st.sampled_from([m.user_id for m in members]),
                            st.sampled_from(["view", "edit"]),
                        ),
                        st.builds(
                            Share,
                            st.just("group"),
                            st.sampled_from(groups[ws]),
                            st.sampled_from(["view", "edit"]),
                        ),
                    ),
                    max_size=2,
                    # One share per grantee: the real service's unique key refuses a second.
                    unique_by=lambda s: (s.grantee_type, s.grantee_id),
                )
            )
            resources.append(
                Resource(
                    new_id(),
                    ws,
                    owner.user_id,
                    draw(st.sampled_from(["private", "workspace"])),
                    tuple(shares),
                )
            )
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    query = rng.normal(size=dim)
    chunks: list[Chunk] = []
    n_chunks = draw(st.integers(min_value=len(resources), max_value=max_chunks))
    per_workspace: dict[str, int] = dict.fromkeys(workspaces, 0)
    for i in range(n_chunks):
        resource = resources[i % len(resources)]
        decoy = resource.visibility == "private" and not resource.shares
        if resource.workspace_id != workspaces[0] or decoy:
            vector = query + rng.normal(scale=0.05, size=dim)
        else:
            vector = rng.normal(size=dim)
        # Ids restart in every workspace: the same id lives in several (invariant 3).
        per_workspace[resource.workspace_id] += 1
        chunks.append(
            Chunk(
                chunk_id=f"chunk-{per_workspace[resource.workspace_id]}",
                resource=resource,
                topic=TOPICS[int(rng.integers(len(TOPICS)))],
                year=YEARS[int(rng.integers(len(YEARS)))],
                vector=tuple(float(x) for x in vector),
            )
        )
    caller_filter = draw(st.one_of(st.none(), _filters()))
    k = draw(st.integers(min_value=1, max_value=8))
    return World(
        workspaces=workspaces,
        users=tuple(users),
        resources=tuple(resources),
        chunks=tuple(chunks),
        query=tuple(float(x) for x in query),
        caller_filter=caller_filter,
        k=k,
        groups=groups,
    )
