"""The SQL filter compiler against the real server, with filters.matches as the oracle.

Rows hold every kind of value the algebra distinguishes (missing keys, bool vs int, int vs
float, numeric strings); hypothesis draws filters; the ids PostgreSQL returns must be the
ids ``matches`` admits, exactly.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Table, select

from sentinel_vectors import filters as F
from sentinel_vectors.filters import Filter
from sentinel_vectors_pgvector import SqlFilterCompiler
from tests.pgvector.conftest import bulk_load, raw_row

VALUES: list[Any] = [0, 1, 2, 2.5, -1, True, False, "a", "b", "1", "", 1.0, 10**12]
KEYS = ["x", "y"]

ROWS: list[dict[str, Any]] = [{}]
for v in VALUES:
    ROWS.append({"x": v})
    ROWS.append({"y": v, "x": "a"})
ROWS += [{"x": 1, "y": True}, {"x": False, "y": 0}, {"x": 2.5, "y": "b"}]


@pytest.fixture
def loaded(sync_engine: Engine, chunks: Table) -> Table:
    ws, res = uuid.uuid4(), uuid.uuid4()
    bulk_load(sync_engine, chunks, [raw_row(ws, f"r{i}", res, meta=m) for i, m in enumerate(ROWS)])
    return chunks


scalars = st.sampled_from(VALUES)
numbers = st.sampled_from(
    [v for v in VALUES if isinstance(v, int | float) and not isinstance(v, bool)]
)


def _membership(negated: bool) -> st.SearchStrategy[Filter]:
    lists = st.one_of(
        st.lists(st.sampled_from(["a", "b", "1", ""]), min_size=1, max_size=3),
        st.lists(st.sampled_from([0, 1, 2, 2.5, 1.0, -1]), min_size=1, max_size=3),
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
filters_ = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: F.And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: F.Or(tuple(xs))),
        inner.map(F.Not),
    ),
    max_leaves=5,
)


def test_compiler_matches_the_python_oracle(sync_engine: Engine, loaded: Table) -> None:
    compiler = SqlFilterCompiler(loaded.c.meta)

    @settings(
        max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(flt=filters_)
    def check(flt: Filter) -> None:
        want = {f"r{i}" for i, meta in enumerate(ROWS) if F.matches(flt, meta)}
        with sync_engine.connect() as conn:
            got = set(conn.execute(select(loaded.c.id).where(compiler.compile(flt))).scalars())
        assert got == want, flt

    check()


def test_compiler_binds_every_value(loaded: Table) -> None:
    compiler = SqlFilterCompiler(loaded.c.meta, {"resource_id": loaded.c.resource_id})
    flt = F.and_(
        F.eq("x'; DROP TABLE t; --", "'; DROP TABLE t; --"),
        F.in_("resource_id", [str(uuid.uuid4()) for _ in range(5_000)]),
        F.gte("y", 3),
    )
    sql = str(select(loaded.c.id).where(compiler.compile(flt)))
    assert "DROP" not in sql
    assert sql.count(":") <= 6  # a handful of parameters, one of them the 5,000-id array


def test_missing_key_and_type_rules_spelled_out(sync_engine: Engine, loaded: Table) -> None:
    compiler = SqlFilterCompiler(loaded.c.meta)

    def ids(flt: Filter) -> set[int]:
        with sync_engine.connect() as conn:
            got = conn.execute(select(loaded.c.id).where(compiler.compile(flt))).scalars()
            return {int(i[1:]) for i in got}

    x_is = {i for i, m in enumerate(ROWS) if "x" in m}
    assert ids(F.ne("x", "zzz")) == set(range(len(ROWS)))  # true on a missing key
    assert ids(F.not_in("x", ["zzz"])) == set(range(len(ROWS)))
    assert ids(F.eq("x", 1)) == {
        i for i, m in enumerate(ROWS) if m.get("x") == 1 and m.get("x") is not True
    }
    assert all(ROWS[i].get("x") is not True for i in ids(F.eq("x", 1)))  # true is not 1
    assert ids(F.eq("x", True)) == {i for i, m in enumerate(ROWS) if m.get("x") is True}
    assert ids(F.gte("x", 0)) <= x_is  # ranges are false on a missing key
    assert not any(isinstance(ROWS[i]["x"], bool | str) for i in ids(F.gte("x", -100)))
