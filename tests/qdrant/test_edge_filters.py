"""The Qdrant filter compiler on Qdrant's real engine, with ``filters.matches`` as the oracle.

Local mode ignores payload indexes; a server and qdrant-edge answer an indexed condition
from the index, whose type decides what it sees. Here a qdrant-edge collection holds
points of two workspaces and three resources under the tenant indexes of
``ensure_collection`` (keyword ``is_tenant``, or ``uuid`` ``is_tenant`` as a deployment may
choose), and caller keys with typed indexes (``k`` keyword, ``i`` integer, ``f`` float,
``b`` bool, ``m`` none) holding every scalar type the neutral algebra distinguishes.
Hypothesis draws caller filters and access answers; the scoped read filter
(``TenancyPolicy.read_filter``) compiled by ``QdrantFilterCompiler`` must select exactly
the points ``matches`` admits: no disagreement at all, on tenancy keys or caller keys.

The one disagreement found (an ``integer`` index cannot hold ``0.5``, so ``lt 1`` misses
it) is refused on write by the scoped client (``sentinel_vectors_qdrant.typed``); the
data below holds what the scoped client accepts. Array values are outside the algebra
(``matches`` compares the whole value, Qdrant any element): see ``docs/qdrant.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import models

from sentinel_vectors import filters as F
from sentinel_vectors.access import Access
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter
from sentinel_vectors.policy import TenancyPolicy
from sentinel_vectors.scope import Scope
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import QdrantFilterCompiler, ensure_collection
from sentinel_vectors_qdrant.edge import EdgeQdrantClient
from tests.qdrant.conftest import Store, edge_client
from tests.qdrant.world import Writer

EXAMPLES = 100
WORKSPACES = [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))]
RESOURCES = [str(uuid.UUID(int=10 + i)) for i in range(3)]
INDEXES: dict[str, models.PayloadSchemaType | None] = {
    "k": models.PayloadSchemaType.KEYWORD,
    "i": models.PayloadSchemaType.INTEGER,
    "f": models.PayloadSchemaType.FLOAT,
    "b": models.PayloadSchemaType.BOOL,
    "m": None,
}
KEYS = list(INDEXES)
VALUES: list[Any] = [0, 1, 2, 2.5, 0.5, -1, True, False, "a", "b", "1", "", 1.0, 10**12, 2024.0]


def _accepted(key: str, value: Any) -> bool:
    # What the scoped client writes: no non-integral number under an integer index.
    return not (key == "i" and isinstance(value, float) and not value.is_integer())


CALLER_ROWS: list[dict[str, Any]] = [{}]
for _key in KEYS:
    CALLER_ROWS += [{_key: v} for v in VALUES if _accepted(_key, v)]
CALLER_ROWS += [{"k": "a", "i": 1, "f": 0.5, "b": True, "m": "x"}, {"i": True, "f": "a", "b": 0}]
# Every caller row under every (workspace, resource): the tenancy keys vary independently.
ROWS: list[dict[str, Any]] = [
    {"workspace_id": ws, "resource_id": res, **row}
    for ws in WORKSPACES
    for res in RESOURCES
    for row in CALLER_ROWS
]


@pytest.fixture(scope="module", params=["keyword", "uuid"])
def loaded(request: pytest.FixtureRequest) -> Iterator[EdgeQdrantClient]:
    """The rows on qdrant-edge, tenant keys indexed as ``request.param``."""
    client = edge_client()
    client.create_collection("d", models.VectorParams(size=2, distance=models.Distance.DOT))
    tenant: Any = (
        models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
        if request.param == "keyword"
        else models.UuidIndexParams(type=models.UuidIndexType.UUID, is_tenant=True)
    )
    client.create_payload_index("d", "workspace_id", tenant)
    client.create_payload_index(
        "d",
        "resource_id",
        models.PayloadSchemaType.KEYWORD
        if request.param == "keyword"
        else models.PayloadSchemaType.UUID,
    )
    for key, kind in INDEXES.items():
        if kind is not None:
            client.create_payload_index("d", key, kind)
    client.upsert(
        "d",
        [models.PointStruct(id=i, vector=[1.0, 0.0], payload=r) for i, r in enumerate(ROWS)],
    )
    yield client
    client.close()


scalars = st.sampled_from(VALUES)
numbers = st.sampled_from(
    [v for v in VALUES if isinstance(v, int | float) and not isinstance(v, bool)]
)


def _membership(negated: bool) -> st.SearchStrategy[Filter]:
    lists = st.one_of(
        st.lists(st.sampled_from(["a", "b", "1", ""]), min_size=1, max_size=3),
        st.lists(st.sampled_from([0, 1, 2, 2.5, 1.0, -1, 2024]), min_size=1, max_size=3),
        st.lists(st.booleans(), min_size=1, max_size=2),
    )
    return st.builds(F.Membership, st.sampled_from(KEYS), lists.map(tuple), st.just(negated))


leaves = st.one_of(
    st.builds(F.Comparison, st.sampled_from(KEYS), st.sampled_from(["eq", "ne"]), scalars),
    st.builds(
        F.Comparison, st.sampled_from(KEYS), st.sampled_from(["gt", "gte", "lt", "lte"]), numbers
    ),
    _membership(False),
    _membership(True),
)
caller_filters = st.none() | st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: F.And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: F.Or(tuple(xs))),
        inner.map(F.Not),
    ),
    max_leaves=5,
)
accesses = st.builds(
    lambda full, ids: Access("view", full, frozenset() if full else frozenset(ids)),
    st.booleans(),
    st.sets(st.sampled_from(RESOURCES), min_size=1),
)


def _policy(workspace: str) -> TenancyPolicy:
    scope = Scope(
        auth=None,  # type: ignore[arg-type]  # the policy never calls it
        resource_type="document",
        resource_key="resource_id",
        workspace_id=workspace,
        user_id=str(uuid.UUID(int=99)),
        role="viewer",
        timeout=1.0,
    )
    return TenancyPolicy(scope)


def test_the_compiled_read_filter_selects_exactly_what_matches_admits(
    loaded: EdgeQdrantClient,
) -> None:
    compiler = QdrantFilterCompiler()

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(workspace=st.sampled_from(WORKSPACES), access=accesses, caller=caller_filters)
    def check(workspace: str, access: Access, caller: Filter | None) -> None:
        flt = _policy(workspace).read_filter(access, caller)
        assert flt is not None
        want = {i for i, row in enumerate(ROWS) if F.matches(flt, row)}
        records, _ = loaded.scroll(
            "d", scroll_filter=compiler.to_filter(flt), limit=len(ROWS), with_payload=False
        )
        got = {int(r.id) for r in records}
        outside = {i for i in got if ROWS[i]["workspace_id"] != workspace}
        assert not outside, ("tenancy", flt)  # invariant 1: never another workspace
        assert got == want, ("caller keys", flt, [ROWS[i] for i in got ^ want][:4])

    check()


async def test_a_value_an_integer_index_cannot_hold_is_refused_on_write(
    tenancy: Tenancy,
) -> None:
    client = edge_client()
    await ensure_collection(
        client, "c", models.VectorParams(size=4, distance=models.Distance.COSINE)
    )
    client.create_payload_index("c", "year", models.PayloadSchemaType.INTEGER)
    writer = Writer(tenancy, Store(client, "c", "edge"))
    with pytest.raises(InvalidInputError, match="integer payload index"):
        await writer.client.upsert("c", [writer.point(1, year=2024), writer.point(2, year=0.5)])
    assert client.count("c").count == 0  # nothing was written
    await writer.client.upsert("c", [writer.point(1, year=2024), writer.point(2, year=7.0)])
    with pytest.raises(InvalidInputError, match="integer payload index"):
        await writer.client.set_payload("c", {"year": 2.5}, points=[1])
    with pytest.raises(InvalidInputError, match="integer payload index"):
        await writer.client.overwrite_payload("c", {"year": [1, 1.5]}, points=[2])
    lt = F.lt("year", 2025)
    assert (await writer.client.count("c", count_filter=lt)).count == 2
    client.close()
