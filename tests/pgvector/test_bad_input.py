"""Bad input on pgvector: a typed error from ``sentinel_vectors.errors``, nothing written
(issue #10, finding 8: filters given as a list or string, NUL bytes PostgreSQL cannot
store, in ids and in filter values)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel_vectors.errors import FilterError, InvalidInputError
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_pgvector import ScopedVectorStore
from tests.pgvector.conftest import vec

Call = Callable[[ScopedVectorStore, str], Any]

CASES: dict[str, tuple[type[Exception], Call]] = {
    "get with a filter list": (FilterError, lambda s, r: s.get(filter=[{"topic": "a"}])),
    "query with a filter string": (FilterError, lambda s, r: s.query(vec(1), filter="topic")),
    "count with a filter list": (FilterError, lambda s, r: s.count(filter=["topic"])),
    "delete with a filter string": (FilterError, lambda s, r: s.delete(filter="true")),
    "scoped_select with a filter list": (FilterError, lambda s, r: s.scoped_select(filter=[1])),
    "a filter value with a NUL byte": (FilterError, lambda s, r: s.get(filter={"t": "a\x00"})),
    "a filter key with a NUL byte": (FilterError, lambda s, r: s.count(filter={"t\x00": 1})),
    "add of an id with a NUL byte": (
        InvalidInputError,
        lambda s, r: s.add(["a\x00b"], [vec(1)], [{"resource_id": r}]),
    ),
    "upsert of an id with a NUL byte": (
        InvalidInputError,
        lambda s, r: s.upsert(["ok", "a\x00"], [vec(1), vec(2)], [{"resource_id": r}] * 2),
    ),
    "update of an id with a NUL byte": (
        InvalidInputError,
        lambda s, r: s.update(["seed", "\x00"], metadatas=[{"n": 2}] * 2),
    ),
    "delete of an id with a NUL byte": (InvalidInputError, lambda s, r: s.delete(["\x00"])),
    "get of an id with a NUL byte": (InvalidInputError, lambda s, r: s.get(["seed\x00"])),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_is_a_typed_error_and_writes_nothing(
    case: str, async_engine: AsyncEngine, sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    editor = tenancy.member("editor", ws)
    doc = tenancy.resource(editor)
    s = ScopedVectorStore(async_engine, editor.auth, model=chunks, resource_type="document")
    await s.add("seed", vec(0), {"resource_id": doc, "n": 1})

    def snapshot() -> list[Any]:
        with sync_engine.connect() as conn:
            meta = next(c for c in chunks.columns if c.name == "metadata")
            return list(conn.execute(select(chunks.c.id, meta)).all())

    before = snapshot()
    error, call = CASES[case]
    with pytest.raises(error):
        await call(s, doc)
    assert snapshot() == before
    with sync_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(chunks)).scalar() == 1
