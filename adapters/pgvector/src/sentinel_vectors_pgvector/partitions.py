"""Workspace placement on PostgreSQL: the chunk table partitioned by workspace.

The core's :class:`~sentinel_vectors.placement.Placement` maps to declarative
partitioning of the chunk table ``PARTITION BY LIST (workspace_id)``:

* ``shared``: one ``DEFAULT`` partition (optionally itself ``PARTITION BY HASH
  (workspace_id)`` into ``hash_partitions`` pieces) holds every workspace;
* ``tiered``: the same, plus one list partition ``<table>__ws_<uuid hex>`` per promoted
  workspace (:func:`promote_workspace` moves a workspace there, online);
* ``per_tenant``: no default partition at all: a workspace is writable only once
  :func:`promote_workspace` (or :func:`create_workspace_partition`) gave it its own.

An index declared on the table (the HNSW index of :func:`~sentinel_vectors_pgvector.hnsw_index`,
the ``(workspace_id, resource_id)`` index, the primary key) is a partitioned index: every
partition gets its own, so a promoted workspace searches an HNSW graph of its chunks alone.

The scoped store needs no setting for this: it always reads and writes the parent table,
and every statement it runs carries ``workspace_id = <the scope's workspace>`` (the
tenancy filter; row-level security on the parent as the second fence), so PostgreSQL
routes writes and prunes reads to the workspace's partition. No argument of a call names
a table or a partition. Partitions get no grants of their own: an application role that
is granted only the parent (:func:`~sentinel_vectors_pgvector.grant_app_role`) cannot
read a partition directly, around the parent's row-level security.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.errors import InvalidInputError, PlacementError
from sentinel_vectors.placement import Placement, dedicated_name
from sentinel_vectors_pgvector.model import table_of
from sentinel_vectors_pgvector.rls import _quote

__all__ = [
    "PARTITION_BY_WORKSPACE",
    "PG_IDENTIFIER_MAX",
    "create_workspace_partition",
    "partition_name",
    "partitioning_ddl",
    "promote_workspace",
    "promote_workspace_sync",
    "translate_store_error",
    "workspace_partitions",
]

PARTITION_BY_WORKSPACE = "LIST (workspace_id)"
"""The ``postgresql_partition_by`` of a chunk table placed by workspace."""

PG_IDENTIFIER_MAX = 63
"""PostgreSQL's identifier length limit (NAMEDATALEN - 1)."""

# PostgreSQL's check_violation, which a row routed to no partition raises.
_CHECK_VIOLATION = "23514"


def translate_store_error(exc: Exception, effect: object) -> BaseException | None:
    """The driver's ``translate`` for the pgvector stores: a row for a workspace with no
    partition (per-tenant placement, not onboarded) becomes :class:`PlacementError`.

    Any other error is kept as it is (``None``).
    """
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code == _CHECK_VIOLATION and "no partition of relation" in str(exc):
        return PlacementError(
            "this workspace has no partition in the chunk table yet (per-tenant placement):"
            " nothing was written; onboard it with create_workspace_partition",
            store="pgvector",
        )
    return None


SHARED_SUFFIX = "__shared"
"""Suffix of the default (shared) partition's name."""


def partition_name(model: object, workspace_id: str) -> str:
    """The name of ``workspace_id``'s own partition of the chunk table."""
    return dedicated_name(table_of(model).name, workspace_id, max_length=PG_IDENTIFIER_MAX)


def _qualified(table: Table, name: str | None = None) -> str:
    name = _quote(name or table.name)
    return f"{_quote(table.schema)}.{name}" if table.schema else name


def _check_partitioned(table: Table) -> None:
    if table.dialect_options["postgresql"].get("partition_by") != PARTITION_BY_WORKSPACE:
        raise InvalidInputError(
            f"table {table.name!r} is not partitioned by workspace: declare it with "
            f"chunk_table(..., partitioned=True) or ChunkMixin's __partitioned__ = True"
        )


def partitioning_ddl(model: object, placement: Placement, *, hash_partitions: int = 0) -> list[Any]:
    """DDL creating the partitions a placement starts with (after ``create_all``).

    ``shared`` and ``tiered``: the default partition ``<table>__shared`` (hash
    partitioned into ``hash_partitions`` pieces when > 1), plus an own partition for each
    workspace in ``placement.promoted``. ``per_tenant``: only those own partitions.
    """
    table = table_of(model)
    _check_partitioned(table)
    if isinstance(hash_partitions, bool) or not isinstance(hash_partitions, int):
        raise InvalidInputError("hash_partitions must be an int")
    statements: list[Any] = []
    if placement.mode != "per_tenant":
        shared = table.name + SHARED_SUFFIX
        by_hash = " PARTITION BY HASH (workspace_id)" if hash_partitions > 1 else ""
        statements.append(
            text(
                f"CREATE TABLE {_qualified(table, shared)} PARTITION OF {_qualified(table)} "
                f"DEFAULT{by_hash}"
            )
        )
        for i in range(hash_partitions if hash_partitions > 1 else 0):
            statements.append(
                text(
                    f"CREATE TABLE {_qualified(table, f'{shared}_h{i}')} PARTITION OF "
                    f"{_qualified(table, shared)} FOR VALUES WITH "
                    f"(MODULUS {hash_partitions}, REMAINDER {i})"
                )
            )
    for ws in sorted(placement.promoted):
        statements.append(_create_partition(table, ws))
    return statements


def _create_partition(table: Table, workspace_id: str) -> Any:
    ws = canonical_uuid(workspace_id, what="workspace_id")  # canonical: safe as a literal
    return text(
        f"CREATE TABLE {_qualified(table, partition_name(table, ws))} PARTITION OF "
        f"{_qualified(table)} FOR VALUES IN ('{ws}')"
    )


def create_workspace_partition(conn: Connection, model: object, workspace_id: str) -> bool:
    """Give a workspace that has no rows yet its own partition (``per_tenant`` onboarding).

    Returns ``False`` if it already has one. A workspace with rows in the shared
    partition is moved with :func:`promote_workspace` instead.
    """
    table = table_of(model)
    _check_partitioned(table)
    ws = canonical_uuid(workspace_id, what="workspace_id")
    if partition_name(table, ws) in workspace_partitions(conn, table):
        return False
    conn.execute(_create_partition(table, ws))
    return True


def workspace_partitions(conn: Connection, model: object) -> dict[str, str]:
    """The chunk table's partitions: name -> bound (``DEFAULT`` or ``FOR VALUES IN (...)``)."""
    table = table_of(model)
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:t AS regclass)"
        ),
        {"t": _qualified(table)},
    ).all()
    return {str(name): str(bound) for name, bound in rows}


def _index_definitions(conn: Connection, table: Table) -> list[str]:
    """``CREATE INDEX`` statements of the parent's indexes (``ON ONLY <parent>``)."""
    rows = conn.execute(
        text(
            "SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisprimary"
        ),
        {"t": _qualified(table)},
    ).all()
    return [str(r[0]) for r in rows]


_INDEXDEF = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON ONLY (\S+) ")


def _promote(conn: Connection, table: Table, workspace_id: str) -> int:
    """Move a workspace from the default partition into its own; see :func:`promote_workspace`."""
    _check_partitioned(table)
    ws = canonical_uuid(workspace_id, what="workspace_id")
    own = partition_name(table, ws)
    parts = workspace_partitions(conn, table)
    if own in parts:
        return 0  # already promoted: idempotent
    default = next((name for name, bound in parts.items() if bound == "DEFAULT"), None)
    if default is None:
        raise InvalidInputError(
            f"table {table.name!r} has no default (shared) partition to promote from"
        )
    parent, staged, shared = _qualified(table), _qualified(table, own), _qualified(table, default)
    # Writes to the table wait from here to the commit (plain reads go on): no row of the
    # workspace can land in the shared partition behind the copy. EXCLUSIVE, not SHARE ROW
    # EXCLUSIVE: it also waits out a writer between its locking probe (SELECT ... FOR
    # UPDATE, ROW SHARE) and its INSERT, which would otherwise deadlock with the ATTACH.
    conn.execute(text(f"LOCK TABLE {parent} IN EXCLUSIVE MODE"))
    conn.execute(
        text(f"CREATE TABLE {staged} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    conn.execute(text(f"ALTER TABLE {staged} ADD PRIMARY KEY (workspace_id, id)"))
    moved = conn.execute(
        text(f"INSERT INTO {staged} SELECT * FROM {shared} WHERE workspace_id = CAST(:ws AS uuid)"),
        {"ws": ws},
    ).rowcount
    # The partitioned indexes (HNSW included) built on the new table before it is attached,
    # after the bulk copy (one build, not row by row), while the shared partition is readable.
    for i, definition in enumerate(_index_definitions(conn, table)):
        match = _INDEXDEF.match(definition)
        if match is None:  # pragma: no cover - pg_get_indexdef of a partitioned index
            raise InvalidInputError(f"unexpected index definition: {definition}")
        name = _quote(f"{own[: PG_IDENTIFIER_MAX - 4]}_i{i}")
        conn.execute(
            text(
                f"CREATE {match.group(1) or ''}INDEX {name} ON {staged} "
                + definition[match.end() :]
            )
        )
    # The switch: reads wait from here to the commit (a delete and the ATTACH's check of
    # the shared partition). ACCESS EXCLUSIVE on the table itself, not only the lock the
    # ATTACH takes on the shared partition: a read then waits before it plans, and plans
    # against the new partitions with a snapshot that sees the move. Waiting on the
    # shared partition alone, a read planned before the commit could run after it and
    # see the workspace in neither partition (the concurrent test caught it).
    conn.execute(text(f"LOCK TABLE {parent} IN ACCESS EXCLUSIVE MODE"))
    conn.execute(text(f"DELETE FROM {shared} WHERE workspace_id = CAST(:ws AS uuid)"), {"ws": ws})
    conn.execute(text(f"ALTER TABLE {parent} ATTACH PARTITION {staged} FOR VALUES IN ('{ws}')"))
    return int(moved)


def promote_workspace_sync(engine: Engine | Connection, model: object, workspace_id: str) -> int:
    """Move ``workspace_id`` from the shared partition into its own, in one transaction.

    Online: reads of every workspace go on during the copy and the index build (they
    see the workspace in the shared partition until the commit, in its own after: never
    both, never neither); writes to the table wait for the move (never lost or
    misplaced). Reads wait only for the switch at the end: deleting the workspace's rows
    from the shared partition and attaching its own (which scans the shared partition).
    Returns how many chunks moved (0 if the workspace already had its own partition).
    Given a ``Connection``, runs in its current transaction (begun if idle).
    """
    table = table_of(model)
    if isinstance(engine, Connection):
        if engine.in_transaction():
            return _promote(engine, table, workspace_id)
        with engine.begin():
            return _promote(engine, table, workspace_id)
    with engine.begin() as conn:
        return _promote(conn, table, workspace_id)


async def promote_workspace(engine: AsyncEngine, model: object, workspace_id: str) -> int:
    """The async form of :func:`promote_workspace_sync` (an ``AsyncEngine``)."""
    table = table_of(model)
    async with engine.begin() as conn:
        return await conn.run_sync(_promote, table, workspace_id)
