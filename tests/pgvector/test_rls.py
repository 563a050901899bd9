"""Row-level security, the opt-in second fence, on the real server.

The application connects as a LOGIN role that is not the table owner, not a superuser and
not BYPASSRLS; the table has :func:`enable_rls`'s policy. Raw SQL on that connection, with
no tenancy WHERE clause at all, sees only the workspace in ``sentinel.workspace_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_pgvector import (
    ScopedVectorStore,
    disable_rls,
    enable_rls,
    grant_app_role,
)
from tests.pgvector.conftest import bulk_load, raw_row, vec


@dataclass
class AppRole:
    name: str
    password: str
    url: str


@pytest.fixture
def app_role(
    postgres_server: PostgresServer, sync_engine: Engine, chunks: Table
) -> Iterator[AppRole]:
    """A fresh LOGIN role (no superuser, no BYPASSRLS) granted DML on the chunk table."""
    name = f"sentinel_app_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with sync_engine.begin() as conn:
        conn.execute(
            text(f"CREATE ROLE \"{name}\" LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{password}'")
        )
        for stmt in grant_app_role(chunks, name):
            conn.execute(stmt)
        for stmt in enable_rls(chunks, role=name):
            conn.execute(stmt)
    url = postgres_server.sqlalchemy_url("asyncpg").replace(
        f"{postgres_server.user}:{postgres_server.password}@", f"{name}:{password}@", 1
    )
    yield AppRole(name, password, url)
    with sync_engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{name}"'))
        conn.execute(text(f'DROP ROLE "{name}"'))


@pytest.fixture
async def app_engine(app_role: AppRole) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(app_role.url)
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine, table: Table, workspace: str | None) -> int:
    async with engine.begin() as conn:
        if workspace is not None:
            await conn.execute(select(func.set_config("sentinel.workspace_id", workspace, True)))
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_rls_raw_sql_sees_only_the_set_workspace(
    app_engine: AsyncEngine, sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    ws_a, ws_b = tenancy.workspace(), tenancy.workspace()
    res_a, res_b = uuid.uuid4(), uuid.uuid4()
    bulk_load(
        sync_engine,
        chunks,
        [raw_row(ws_a, f"a{i}", res_a) for i in range(4)]
        + [raw_row(ws_b, f"b{i}", res_b) for i in range(3)],
    )
    assert await _count(app_engine, chunks, str(ws_a)) == 4
    assert await _count(app_engine, chunks, str(ws_b)) == 3
    assert await _count(app_engine, chunks, str(uuid.uuid4())) == 0  # the wrong workspace
    assert await _count(app_engine, chunks, None) == 0  # never set: nothing, no error
    assert await _count(app_engine, chunks, "") == 0
    # SET LOCAL ends with the transaction: the next one on the same connection sees nothing.
    async with app_engine.connect() as conn:
        async with conn.begin():
            await conn.execute(select(func.set_config("sentinel.workspace_id", str(ws_a), True)))
        async with conn.begin():
            n = (await conn.execute(select(func.count()).select_from(chunks))).scalar_one()
    assert n == 0
    # Writes are checked too: a row for another workspace is refused.
    async with app_engine.begin() as conn:
        await conn.execute(select(func.set_config("sentinel.workspace_id", str(ws_a), True)))
        with pytest.raises(DBAPIError, match="row-level security"):
            await conn.execute(insert(chunks), [raw_row(ws_b, "evil", res_b)])
    async with app_engine.begin() as conn:  # and updates cannot move a row out
        await conn.execute(select(func.set_config("sentinel.workspace_id", str(ws_a), True)))
        with pytest.raises(DBAPIError, match="row-level security"):
            await conn.execute(chunks.update().values(workspace_id=ws_b))
    # The superuser (this test's DDL connection) bypasses RLS: it sees both workspaces.
    with sync_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(chunks)).scalar_one() == 7


async def test_rls_store_works_under_the_app_role(
    app_engine: AsyncEngine, sync_engine: Engine, chunks: Table, tenancy: Tenancy
) -> None:
    """The store sets sentinel.workspace_id itself in every transaction it runs."""
    ws = tenancy.workspace()
    alice = tenancy.member("editor", ws)
    doc = tenancy.resource(alice)
    other = tenancy.workspace()
    bulk_load(sync_engine, chunks, [raw_row(other, "x", uuid.uuid4(), embedding=vec(1))])
    s = ScopedVectorStore(app_engine, alice.auth, model=chunks, resource_type="document")
    await s.add(["x", "y"], [vec(1), vec(2)], [{"resource_id": doc}] * 2)
    assert [h.id for h in await s.query(vec(1), k=5)] == ["x", "y"]
    assert await s.count() == 2
    assert await s.update("x", metadatas={"t": 1}) == 1
    await s.upsert("y", vec(3), {"resource_id": doc})
    assert await s.delete(["x", "y"]) == 2
    with sync_engine.connect() as conn:
        assert conn.execute(select(chunks.c.workspace_id)).scalars().all() == [other]


async def test_rls_owner_bypasses_unless_forced(
    sync_engine: Engine, chunks: Table, app_role: AppRole
) -> None:
    """The table owner is exempt from RLS until FORCE ROW LEVEL SECURITY."""
    owner = f"sentinel_owner_{uuid.uuid4().hex[:8]}"
    ws = uuid.uuid4()
    bulk_load(sync_engine, chunks, [raw_row(ws, "a", uuid.uuid4())])

    def owner_count() -> int:
        with sync_engine.begin() as conn:
            conn.execute(text(f'SET LOCAL ROLE "{owner}"'))
            return int(conn.execute(select(func.count()).select_from(chunks)).scalar_one())

    with sync_engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{owner}" NOLOGIN NOSUPERUSER NOBYPASSRLS'))
        conn.execute(text(f'ALTER TABLE "{chunks.name}" OWNER TO "{owner}"'))
    try:
        assert owner_count() == 1
        with sync_engine.begin() as conn:
            for stmt in enable_rls(chunks, force=True):
                conn.execute(stmt)
        assert owner_count() == 0
        with sync_engine.begin() as conn:
            for stmt in disable_rls(chunks):
                conn.execute(stmt)
        assert owner_count() == 1
    finally:
        with sync_engine.begin() as conn:
            conn.execute(text(f'ALTER TABLE "{chunks.name}" OWNER TO CURRENT_USER'))
            conn.execute(text(f'DROP ROLE "{owner}"'))


def test_rls_ddl_quotes_identifiers(chunks: Table) -> None:
    (grant,) = grant_app_role(chunks, 'odd"role')
    assert '"odd""role"' in str(grant)
    ddl = [str(s) for s in enable_rls(chunks, role="app", force=True)]
    assert ddl[0] == f'ALTER TABLE "{chunks.name}" ENABLE ROW LEVEL SECURITY'
    assert (
        'TO "app" USING (workspace_id = '
        "NULLIF(current_setting('sentinel.workspace_id', true), '')::uuid)" in ddl[2]
    )
    assert ddl[-1].endswith("FORCE ROW LEVEL SECURITY")
