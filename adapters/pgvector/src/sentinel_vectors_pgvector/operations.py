"""pgvector's side of the engine's workflows: each operation yields native SQL calls.

The engine (:mod:`sentinel_vectors.engine`) runs the read and write workflows and asks
these sources and targets for rows; they turn a neutral filter into one statement and
yield it as a :class:`~sentinel_vectors.engine.Native` ``execute`` on the call's
connection (opened by the store, lazily, in one transaction that starts with the
``SET LOCAL`` settings). They hold no policy: every row they return is re-checked by the
engine, and every write carries the condition the engine checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import Text

from sentinel_vectors.access import OWNER_KEY, Access
from sentinel_vectors.engine import AskAccess, Native, Row, Step
from sentinel_vectors.errors import WriteConflictError
from sentinel_vectors.filters import Filter
from sentinel_vectors.policy import ExistingRecord, TenancyPolicy
from sentinel_vectors_pgvector.inputs import Batch
from sentinel_vectors_pgvector.model import Distance
from sentinel_vectors_pgvector.statements import ChunkStatements, as_str

__all__ = [
    "Counting",
    "Listing",
    "Search",
    "Writes",
    "count_resource",
    "remove_resource",
    "resource_owners",
]


def execute(stmt: Any, params: Any = None) -> Native:
    """``connection.execute(stmt[, params])`` on the call's connection."""
    return Native("execute", (stmt,) if params is None else (stmt, params))


class Search:
    """One top-k search: the nearest rows under a filter, with iterative HNSW scans.

    The transaction starts with ``hnsw.ef_search`` sized for ``k``; a post-filter fetch
    of more candidates raises it first (and a fall back to the pre-filter lowers it).
    """

    def __init__(
        self,
        sql: ChunkStatements,
        vector: list[float],
        *,
        k: int,
        distance: Distance,
        include_embeddings: bool,
    ) -> None:
        self.sql = sql
        self.columns = sql.record_columns(include_embeddings)
        self.distance = sql.distance_to(vector, distance)
        self.ef = sql.ef_for(k)  # what the transaction's settings statement set

    def search(
        self, flt: Filter, fetch: int, which: Sequence[int], ids: Access | None
    ) -> Step[list[list[Row]]]:
        """The ``fetch`` nearest rows under ``flt`` (one query: ``which`` is ``[0]``)."""
        sql = self.sql
        ef = sql.ef_for(fetch)
        if ef != self.ef:
            yield execute(sql.ef_statement(ef))
            self.ef = ef
        stmt = select(*self.columns, self.distance).where(sql.where(flt))
        if ids is not None:
            stmt = stmt.where(sql.resource_in(ids))
        result = yield execute(stmt.order_by(self.distance).limit(fetch))
        rows = [Row(row[0], sql.metadata(row), float(row[-1]), row) for row in result.all()]
        return [rows for _ in which]


class Listing:
    """One ``get``: rows under a filter (and among ``pids``), ordered by id."""

    def __init__(
        self, sql: ChunkStatements, pids: list[str] | None, *, include_embeddings: bool
    ) -> None:
        self.sql = sql
        self.pids = pids
        self.columns = sql.record_columns(include_embeddings)

    def fetch(
        self, flt: Filter, ids: Access | None, *, limit: int | None, offset: int | None
    ) -> Step[list[Row]]:
        """Rows under ``flt``, ``offset``/``limit`` applied, ordered by id."""
        if self.pids == []:
            return []  # get([]) names nothing: no statement
        sql = self.sql
        stmt = select(*self.columns).where(sql.where(flt)).order_by(sql.c_id)
        if ids is not None:
            stmt = stmt.where(sql.resource_in(ids))
        if self.pids is not None:
            stmt = stmt.where(sql.ids_clause(self.pids))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        result = yield execute(stmt)
        return [Row(row[0], sql.metadata(row), native=row) for row in result.all()]


class Counting:
    """One ``count``: rows under a filter, grouped by (workspace, resource)."""

    def __init__(self, sql: ChunkStatements) -> None:
        self.sql = sql

    def count(self, flt: Filter, ids: Access | None) -> Step[list[tuple[Row, int]]]:
        """Per (workspace, resource): its tenancy keys and how many rows it holds."""
        sql = self.sql
        stmt = select(sql.c_ws, sql.c_res, func.count()).where(sql.where(flt))
        if ids is not None:
            stmt = stmt.where(sql.resource_in(ids))
        result = yield execute(stmt.group_by(sql.c_ws, sql.c_res))
        return [
            (Row(f"<{n} records of {res}>", sql.tenancy(ws, res)), int(n))
            for ws, res, n in result.all()
        ]


class Writes:
    """The target of one write (add/upsert, update or delete) of a batch of ids.

    Stored records are probed ``FOR UPDATE``: once probed they cannot change before this
    transaction writes, so the check and the write are one step (invariant 10) for them;
    an id the probe found absent is insert-only.
    """

    def __init__(self, sql: ChunkStatements, batch: Batch | None = None) -> None:
        self.sql = sql
        self.batch = batch

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """The stored records among ``pids`` in the workspace, locked for this transaction."""
        sql = self.sql
        result = yield execute(
            select(sql.c_id, sql.c_ws, sql.c_res, sql.c_owner)
            .where(sql.c_ws == sql.ws, sql.ids_clause(pids))
            .with_for_update()
        )
        return {
            row[0]: ExistingRecord(
                workspace_id=as_str(row[1]), resource_id=as_str(row[2]), owner_id=as_str(row[3])
            )
            for row in result.all()
        }

    def put(
        self,
        op: str,
        stamped: list[dict[str, Any]],
        stored: Mapping[str, ExistingRecord],
        condition: Filter | None,
    ) -> Step[None]:
        """One ``INSERT ... ON CONFLICT`` carrying the checked condition (invariant 10).

        An id the probe found absent is insert-only (``DO NOTHING``); one it found is
        replaced only while the stored row still matches ``condition``. A row another
        writer created in between is left as it is, missing from ``RETURNING``, and the
        call raises :class:`WriteConflictError` (its transaction rolls back).
        """
        sql, batch = self.sql, self.batch
        assert batch is not None and batch.embeddings is not None
        upsert = op == "upsert"
        reserved = sql.scope.reserved_keys
        key = sql.scope.resource_key
        rows = [
            {
                sql.c_ws.key: sql.ws,
                sql.c_id.key: rid,
                sql.c_owner.key: uuid.UUID(meta[OWNER_KEY]),
                sql.c_res.key: uuid.UUID(meta[key]),
                sql.c_doc.key: None if batch.documents is None else batch.documents[i],
                sql.c_meta.key: {k: v for k, v in meta.items() if k not in reserved},
                sql.c_emb.key: batch.embeddings[i],
            }
            for i, (rid, meta) in enumerate(zip(batch.ids, stamped, strict=True))
        ]
        stmt = pg_insert(sql.table)
        known = sorted(stored) if upsert else []
        if known and condition is not None:
            replaced = (sql.c_owner, sql.c_res, sql.c_doc, sql.c_meta, sql.c_emb)
            stmt = stmt.on_conflict_do_update(
                index_elements=[sql.c_ws, sql.c_id],
                set_={c: stmt.excluded[c.key] for c in replaced},
                where=and_(sql.ids_clause(known), sql.where(condition)),
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[sql.c_ws, sql.c_id])
        result = yield execute(stmt.returning(sql.c_id), rows)
        if set(result.scalars().all()) != set(batch.ids):
            raise WriteConflictError(
                "another writer created or changed a record with one of these ids after the "
                "write was checked; nothing was written. Read the records again and retry."
                if upsert
                else "another writer added a record with one of these ids after the write was "
                "checked; nothing was written. Use upsert() to replace records you may edit."
            )

    def update(
        self,
        keep: list[int],
        metadatas: list[dict[str, Any]] | None,
        existing: Mapping[int, ExistingRecord],
        condition: Filter | None,
    ) -> Step[None]:
        """Update the rows at ``keep`` in place, metadata merged (``||``).

        The rows were probed ``FOR UPDATE`` in this transaction: they still match the
        checked ``condition``, which is therefore not bound again per row.
        """
        sql, batch = self.sql, self.batch
        assert batch is not None
        patches: list[dict[str, Any]] | None = None
        if metadatas is not None:
            reserved = sql.scope.reserved_keys
            patches = [{k: v for k, v in m.items() if k not in reserved} for m in metadatas]
        values: dict[Column[Any], Any] = {}
        if patches is not None:
            values[sql.c_meta] = sql.c_meta.op("||", return_type=JSONB)(
                bindparam("p_meta", type_=JSONB)
            )
        if batch.embeddings is not None:
            values[sql.c_emb] = bindparam("p_emb", type_=sql.c_emb.type)
        if batch.documents is not None:
            values[sql.c_doc] = bindparam("p_doc", type_=Text)
        if not values:
            return
        params: list[dict[str, Any]] = []
        for pos, i in enumerate(keep):
            row: dict[str, Any] = {"p_id": batch.ids[i]}
            if patches is not None:
                row["p_meta"] = patches[pos]
            if batch.embeddings is not None:
                row["p_emb"] = batch.embeddings[i]
            if batch.documents is not None:
                row["p_doc"] = batch.documents[i]
            params.append(row)
        yield execute(
            update(sql.table)
            .where(sql.c_ws == sql.ws, sql.c_id == bindparam("p_id", type_=Text))
            .values(values),
            params,
        )

    def select(self, flt: Filter, pids: Sequence[str] | None) -> Step[list[Row]]:
        """A delete's candidates under ``flt`` (among ``pids``), locked for this transaction."""
        sql = self.sql
        stmt = select(sql.c_id, sql.c_ws, sql.c_res).where(sql.where(flt))
        if pids is not None:
            stmt = stmt.where(sql.ids_clause(pids))
        result = yield execute(stmt.with_for_update())
        return [Row(row[0], sql.tenancy(row[1], row[2])) for row in result.all()]

    def remove(self, flt: Filter, pids: Sequence[str]) -> Step[None]:
        """Delete ``pids`` (selected and locked under ``flt`` in this transaction)."""
        sql = self.sql
        yield execute(delete(sql.table).where(sql.c_ws == sql.ws, sql.ids_clause(pids)))


# -- whole resources (the lifecycle's chunk index) ------------------------------------


def remove_resource(
    sql: ChunkStatements, policy: TenancyPolicy, resource_id: str, keep: Sequence[str]
) -> Step[int]:
    """Delete every chunk of the resource in the workspace but ``keep``, if editable."""
    flt = policy.resource_filter((yield AskAccess("edit")), resource_id)
    if flt is None:
        return 0
    clause = sql.where(flt)
    if keep:
        clause = and_(clause, ~sql.ids_clause(keep))
    result = yield execute(delete(sql.table).where(clause).returning(sql.c_id))
    return len(result.all())


def count_resource(sql: ChunkStatements, policy: TenancyPolicy, resource_id: str) -> Step[int]:
    """How many chunks of the resource the caller may view (0 if out of reach)."""
    flt = policy.resource_filter((yield AskAccess("view")), resource_id)
    if flt is None:
        return 0
    result = yield execute(select(func.count()).select_from(sql.table).where(sql.where(flt)))
    return int(result.scalar_one())


def resource_owners(
    sql: ChunkStatements, policy: TenancyPolicy, resource_id: str
) -> Step[set[object]]:
    """Owners of the resource's chunks in the workspace, whatever the caller may see.

    For the lifecycle's claim check only; never returned to a caller.
    """
    full = Access(action="view", full=True, resource_ids=frozenset())
    flt = policy.resource_filter(full, resource_id)
    assert flt is not None
    result = yield execute(select(sql.c_owner).distinct().where(sql.where(flt)))
    return {as_str(row[0]) for row in result.all()}
