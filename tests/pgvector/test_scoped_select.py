"""``scoped_select`` cannot be widened by what a caller adds to it (issue #10, finding 3).

The scope is a CTE named like the chunk table, so every unqualified reference to the
table in the caller's statement (the entity, an alias joined to it, a union's other
half) reads scoped rows only. Each test adds one kind of clause that escaped a plain
``WHERE <scope>`` and checks nothing outside the caller's view comes back.
"""

from __future__ import annotations

import anyio.to_thread
import pytest
from sqlalchemy import Engine, Table, or_, select, text, true, union
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from sentinel_vectors_pgvector import SyncScopedVectorStore
from tests.pgvector.test_invariants import ALICE_SEES, QUERY, World, store, world

__all__ = ["world"]  # the fixture, re-exported for pytest

ANY = {"q": "%"}


async def _ids(engine: AsyncEngine, stmt: object, s: object) -> set[str]:
    async with AsyncSession(engine) as session, session.begin():
        await s.configure(session)  # type: ignore[attr-defined]
        rows = (await session.execute(stmt, ANY)).all()  # type: ignore[call-overload]
    return {str(row[0]) for row in rows}


@pytest.mark.invariant(1)
async def test_invariant_1_scoped_select_text_or_clause_cannot_widen(
    async_engine: AsyncEngine, chunks: Table, world: World
) -> None:
    s = store(async_engine, world.alice, chunks)
    stmt = (await s.scoped_select(chunks.c.id)).where(
        text("metadata->>'kind' ILIKE :q OR document ILIKE :q OR id ILIKE :q")
    )
    assert await _ids(async_engine, stmt, s) == ALICE_SEES


@pytest.mark.invariant(1)
async def test_invariant_1_scoped_select_or_clause_cannot_widen(
    async_engine: AsyncEngine, chunks: Table, world: World
) -> None:
    s = store(async_engine, world.alice, chunks)
    stmt = (await s.scoped_select()).where(or_(chunks.c.id.like("%"), true()))
    assert await _ids(async_engine, stmt.with_only_columns(chunks.c.id), s) == ALICE_SEES


@pytest.mark.invariant(1)
async def test_invariant_1_scoped_select_outer_join_to_the_chunk_table_is_scoped(
    async_engine: AsyncEngine, chunks: Table, world: World
) -> None:
    s = store(async_engine, world.alice, chunks)
    other = chunks.alias("other")
    stmt = (await s.scoped_select(other.c.id)).outerjoin_from(
        chunks, other, or_(other.c.id != chunks.c.id, other.c.id == chunks.c.id)
    )
    assert await _ids(async_engine, stmt, s) == ALICE_SEES
    right = (
        (await s.scoped_select(other.c.id))
        .join_from(chunks, other, other.c.resource_id == chunks.c.resource_id, full=True)
        .where(text("true OR true"))
    )
    assert await _ids(async_engine, right, s) == ALICE_SEES


@pytest.mark.invariant(1)
async def test_invariant_1_scoped_select_union_cannot_widen(
    async_engine: AsyncEngine, chunks: Table, world: World
) -> None:
    s = store(async_engine, world.alice, chunks)
    scoped = await s.scoped_select(chunks.c.id)
    stmt = union(scoped, select(chunks.c.id), select(chunks.c.id).where(true()))
    assert await _ids(async_engine, stmt, s) == ALICE_SEES
    # The scope also holds inside a subquery of the caller's statement.
    nested = select(chunks.c.id).where(or_(chunks.c.id.in_(scoped.scalar_subquery()), text("true")))
    assert await _ids(async_engine, nested, s) <= ALICE_SEES


@pytest.mark.invariant(1)
async def test_invariant_1_scoped_select_keeps_ordering_by_distance(
    async_engine: AsyncEngine, chunks: Table, world: World
) -> None:
    s = store(async_engine, world.alice, chunks)
    stmt = (
        (await s.scoped_select(chunks.c.id))
        .where(text("id ILIKE :q OR true"))
        .order_by(chunks.c.embedding.cosine_distance(QUERY))
        .limit(4)
    )
    async with AsyncSession(async_engine) as session, session.begin():
        await s.configure(session, k=4)
        got = (await session.execute(stmt, ANY)).scalars().all()
    assert len(got) == 4
    assert set(got) <= ALICE_SEES


@pytest.mark.invariant(1)
async def test_invariant_1_sync_scoped_select_cannot_be_widened(
    sync_engine: Engine, chunks: Table, world: World
) -> None:
    s = SyncScopedVectorStore(sync_engine, world.alice.auth, model=chunks, resource_type="document")
    stmt = await anyio.to_thread.run_sync(lambda: s.scoped_select(chunks.c.id))
    widened = union(stmt.where(text("id ILIKE :q OR true")), select(chunks.c.id))
    with Session(sync_engine) as session, session.begin():
        s.configure(session)
        got = set(session.execute(widened, ANY).scalars().all())
    assert got == ALICE_SEES
