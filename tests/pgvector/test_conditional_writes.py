"""Invariant 10 on PostgreSQL: check and write are one step (issue #10, finding 5).

The interleaving is deterministic: a ``before_cursor_execute`` hook on the store's engine
runs a competing writer's committed insert just before the store's INSERT reaches the
server, i.e. after the write rule found the id absent. The competitor's row must survive
unchanged and the caller get :class:`WriteConflictError` with nothing of the batch written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import Engine, Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel_vectors.errors import WriteConflictError
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_pgvector import ScopedVectorStore, SyncScopedVectorStore
from tests.pgvector.conftest import bulk_load, raw_row, vec


class Competitor:
    """Inserts ``row`` (committed, on its own connection) before the first INSERT into the table."""

    def __init__(self, sync_engine: Engine, table: Table, row: dict[str, Any]) -> None:
        self.engine, self.table, self.row = sync_engine, table, row
        self.fired = False

    def __call__(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not self.fired and statement.startswith(f"INSERT INTO {self.table.name}"):
            self.fired = True
            bulk_load(self.engine, self.table, [self.row])


@pytest.fixture
def hooked(sync_engine: Engine) -> Iterator[list[tuple[Engine, Competitor]]]:
    installed: list[tuple[Engine, Competitor]] = []
    yield installed
    for engine, hook in installed:
        event.remove(engine, "before_cursor_execute", hook)


def _rows(sync_engine: Engine, table: Table, ws: uuid.UUID) -> dict[str, tuple[Any, ...]]:
    with sync_engine.connect() as conn:
        got = conn.execute(
            select(table.c.id, table.c.resource_id, table.c.owner_id, table.c.document).where(
                table.c.workspace_id == ws
            )
        ).all()
    return {row[0]: tuple(row[1:]) for row in got}


@pytest.mark.invariant(10)
@pytest.mark.parametrize("op", ["add", "upsert"])
async def test_invariant_10_a_record_created_after_the_check_is_not_overwritten(
    async_engine: AsyncEngine,
    sync_engine: Engine,
    chunks: Table,
    tenancy: Tenancy,
    hooked: list[tuple[Engine, Competitor]],
    op: str,
) -> None:
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    row = raw_row(ws, "x", bobs, owner=bob.id, document="bob's", embedding=vec(9))
    hook = Competitor(sync_engine, chunks, row)
    event.listen(async_engine.sync_engine, "before_cursor_execute", hook)
    hooked.append((async_engine.sync_engine, hook))
    s = ScopedVectorStore(async_engine, alice.auth, model=chunks, resource_type="document")
    with pytest.raises(WriteConflictError, match="nothing was written"):
        await getattr(s, op)(
            ["y", "x"], [vec(1), vec(2)], [{"resource_id": mine}] * 2, ["alice's"] * 2
        )
    assert hook.fired
    assert _rows(sync_engine, chunks, ws) == {"x": (uuid.UUID(bobs), bob.id, "bob's")}


@pytest.mark.invariant(10)
async def test_invariant_10_sync_upsert_does_not_overwrite_a_record_created_after_the_check(
    sync_engine: Engine,
    chunks: Table,
    tenancy: Tenancy,
    hooked: list[tuple[Engine, Competitor]],
) -> None:
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    s = SyncScopedVectorStore(sync_engine, alice.auth, model=chunks, resource_type="document")
    await anyio.to_thread.run_sync(lambda: s.add("z", vec(3), {"resource_id": mine}))
    row = raw_row(ws, "x", bobs, owner=bob.id, document="bob's", embedding=vec(9))
    hook = Competitor(sync_engine, chunks, row)
    event.listen(sync_engine, "before_cursor_execute", hook)
    hooked.append((sync_engine, hook))

    def upsert() -> None:  # "z" exists and is hers: it is replaced only with "x"
        s.upsert(["z", "x"], [vec(1), vec(2)], [{"resource_id": mine}] * 2, ["new", "new"])

    with pytest.raises(WriteConflictError):
        await anyio.to_thread.run_sync(upsert)
    assert hook.fired
    assert _rows(sync_engine, chunks, ws) == {
        "x": (uuid.UUID(bobs), bob.id, "bob's"),
        "z": (uuid.UUID(mine), alice.id, None),
    }
