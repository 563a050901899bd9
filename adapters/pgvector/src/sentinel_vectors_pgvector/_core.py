"""What the async and the sync store share: validation, and the work of one transaction.

Every ``*_tx`` method takes a sync ``Connection`` or ``Session`` whose transaction the
store has begun. The async store runs them through ``run_sync`` (SQLAlchemy's own bridge),
the sync store calls them directly, so the tenancy flow exists once. Permission lookups
happen before the transaction opens: no transaction waits on the permission service.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    Table,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from sentinel_vectors.errors import InvalidInputError, ReservedKeyError, WriteConflictError
from sentinel_vectors.filters import Filter, FilterCompiler, as_filter, in_
from sentinel_vectors.policy import ExistingRecord, TenancyPolicy
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Access, Scope, canonical_uuid
from sentinel_vectors.strategy import (
    OverFetch,
    ReadPlan,
    StrategyName,
    merge_top_k,
    plan_read,
    postfilter_top_k_sync,
)
from sentinel_vectors.validation import (
    as_embeddings,
    as_id_list,
    as_metadata_list,
    check_lengths,
    check_positive_int,
)
from sentinel_vectors_pgvector.compiler import SqlFilterCompiler
from sentinel_vectors_pgvector.model import (
    DISTANCE_OPCLASSES,
    METADATA_COLUMN,
    Distance,
    table_of,
)
from sentinel_vectors_pgvector.rls import WORKSPACE_SETTING

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "Hit",
    "Hits",
    "IterativeScan",
    "Record",
    "SearchSettings",
    "StoreCore",
]

DEFAULT_POSTFILTER_MIN_IDS: int | None = None
"""Accessible-list size from which ``auto`` post-filters a ``query`` (``None``: never).

See ``docs/benchmarks.md``: the ``resource_id = ANY(:ids)`` pre-filter (the SDK's UUIDs
bound as one ``uuid[]``) costs what the hand-written query costs, about 0.7 us per id.
At 100,000 ids on 100,000 chunks a post-filter was 2x faster with 10% of the workspace
visible but 2.4x slower with 1% (an HNSW scan of 1,600 candidates), and a plan cannot
know the visible share beforehand: pgvector pre-filters unless a caller opts in.
"""

# pgvector binds the id list as one array parameter: no per-query limit to chunk under.
_NO_CHUNKING = 2**62

Tx = Connection | Session
"""What a ``*_tx`` method runs its statements on: a Core connection (the store opened
the transaction on an engine) or a session (the caller's), inside its transaction."""

IterativeScan = Literal["off", "relaxed_order", "strict_order"]
"""pgvector's ``hnsw.iterative_scan`` modes."""

WhereArg = Filter | Mapping[str, Any] | None
"""A caller filter: the neutral algebra or a Chroma-style ``where`` dict."""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored chunk, as the caller may see it.

    ``metadata`` holds the caller's metadata plus the tenancy keys (``workspace_id``,
    ``owner_id`` and the resource key) as canonical UUID strings.
    """

    id: str
    document: str | None
    metadata: dict[str, Any]
    embedding: list[float] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One nearest neighbour: a :class:`Record` plus its distance to the query.

    ``distance`` is pgvector's: cosine distance, Euclidean distance, the *negative*
    inner product, or the taxicab distance. Smaller is nearer for all four.
    """

    id: str
    distance: float
    document: str | None
    metadata: dict[str, Any]
    embedding: list[float] | None = None


class Hits(list[Hit]):
    """The hits of a search: a ``list[Hit]`` plus the read's :attr:`complete` flag.

    ``complete`` is ``False`` only when a forced ``postfilter`` read could not fill ``k``
    within its over-fetch (see :mod:`sentinel_vectors.strategy`).
    """

    complete: bool = True

    @classmethod
    def of(cls, hits: Sequence[Hit], *, complete: bool = True) -> Hits:
        out = cls(hits)
        out.complete = complete
        return out


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """HNSW settings applied with ``SET LOCAL`` in every query's transaction.

    ``iterative_scan`` keeps scanning the graph until ``k`` rows pass the tenancy and
    caller filters (or ``max_scan_tuples`` is reached), so a selective filter still
    fills the top-k. ``ef_search`` is raised to ``k`` when smaller. ``None`` leaves
    the server's setting.
    """

    iterative_scan: IterativeScan = "relaxed_order"
    ef_search: int | None = None
    max_scan_tuples: int | None = None

    def __post_init__(self) -> None:
        if self.iterative_scan not in ("off", "relaxed_order", "strict_order"):
            raise InvalidInputError(
                f"iterative_scan must be 'off', 'relaxed_order' or 'strict_order', "
                f"got {self.iterative_scan!r}"
            )
        for name in ("ef_search", "max_scan_tuples"):
            value = getattr(self, name)
            if value is not None:
                check_positive_int(value, what=name)


@dataclass(frozen=True, slots=True)
class Batch:
    """Validated write arguments, one entry per id."""

    ids: list[str]
    embeddings: list[list[float]] | None
    metadatas: list[Mapping[str, Any]] | None
    documents: list[str | None] | None


class StoreCore:
    """The tenancy flow of a scoped pgvector store, run inside one transaction per call."""

    def __init__(
        self,
        scope: Scope,
        model: object,
        *,
        distance: Distance,
        search: SearchSettings,
        compiler: FilterCompiler[ColumnElement[bool]] | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | None = DEFAULT_POSTFILTER_MIN_IDS,
        overfetch: OverFetch | None = None,
    ) -> None:
        if strategy not in ("auto", "prefilter", "postfilter"):
            raise InvalidInputError(
                f"strategy must be 'auto', 'prefilter' or 'postfilter' (the id list is one "
                f"array parameter, never chunked), got {strategy!r}"
            )
        if postfilter_min_ids is not None:
            check_positive_int(postfilter_min_ids, what="postfilter_min_ids")
        if overfetch is not None and not isinstance(overfetch, OverFetch):
            raise InvalidInputError("overfetch must be a sentinel_vectors.strategy.OverFetch")
        self.strategy: StrategyName = strategy
        self.postfilter_min_ids = postfilter_min_ids
        self.overfetch = overfetch
        self.scope = scope
        self.model = model
        self.table = table_of(model)
        self.policy = TenancyPolicy(scope, collection=self.table.fullname)
        self.search = search
        self.distance = _check_distance(distance)
        cols = {c.name: c for c in self.table.columns}
        self.c_id = _require(cols, "id", Text, self.table)
        self.c_ws = _require(cols, WORKSPACE_KEY, Uuid, self.table)
        self.c_owner = _require(cols, OWNER_KEY, Uuid, self.table)
        self.c_res = _require(cols, scope.resource_key, Uuid, self.table)
        self.c_doc = _require(cols, "document", Text, self.table)
        self.c_meta = _require(cols, METADATA_COLUMN, JSONB, self.table)
        self.c_emb = _require(cols, "embedding", VECTOR, self.table)
        if self.c_meta.nullable:
            raise InvalidInputError(f"{self.table.name}.metadata must be NOT NULL")
        dim = getattr(self.c_emb.type, "dim", None)
        if not isinstance(dim, int):
            raise InvalidInputError(
                f"{self.table.name}.embedding must have a fixed dimension: Vector(dim)"
            )
        self.dim = dim
        pk = {c.name for c in self.table.primary_key.columns}
        if pk != {WORKSPACE_KEY, "id"}:
            raise InvalidInputError(
                f"{self.table.name}'s primary key must be (workspace_id, id), got {sorted(pk)}: "
                f"ids must never collide across workspaces (invariant 3)"
            )
        self.compiler: FilterCompiler[ColumnElement[bool]] = compiler or SqlFilterCompiler(
            self.c_meta,
            {WORKSPACE_KEY: self.c_ws, OWNER_KEY: self.c_owner, scope.resource_key: self.c_res},
        )
        self._ws = uuid.UUID(scope.workspace_id)
        self._settings: dict[int | None, Select[Any]] = {}

    # -- validation, before any lookup ------------------------------------------------

    def batch(
        self,
        op: str,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: Any,
        *,
        full: bool,
    ) -> Batch:
        """Check a write's arguments; ``full`` writes need embeddings and metadatas."""
        id_list = as_id_list(ids)
        n = len(id_list)
        metas = as_metadata_list(metadatas, n, required=full)
        if metas is not None:
            key = self.scope.resource_key
            for i, meta in enumerate(metas):
                _check_metadata(meta, i, self.scope.reserved_keys)
                if full and key not in meta:
                    raise ReservedKeyError(
                        f"metadatas[{i}] must name its resource under {key!r} "
                        f"(the Sentinel resource id this chunk belongs to)"
                    )
                if key in meta:
                    canonical_uuid(meta[key], what=f"metadatas[{i}][{key!r}]")
        if embeddings is None and full:
            raise InvalidInputError(f"{op}() needs embeddings: this store never embeds text")
        embs = None if embeddings is None else as_embeddings(embeddings, n=n, dimension=self.dim)
        docs = _documents(documents, n)
        return Batch(id_list, embs, metas, docs)

    def query_vector(self, embedding: Any) -> list[float]:
        """One query vector of the table's dimension."""
        vectors = as_embeddings(embedding, n=None, dimension=self.dim, what="embedding")
        if len(vectors) != 1:
            raise InvalidInputError("query() takes one embedding; call it once per vector")
        return vectors[0]

    def caller_filter(self, where: WhereArg) -> Filter | None:
        """The caller's filter as a neutral node, refused if it names a tenancy key."""
        flt = as_filter(where)
        if flt is None:
            return None
        self.policy.check_caller_filter(flt)
        self.compiler.compile(flt)  # refuse what cannot compile before any lookup
        return flt

    def query_plan(self, access: Access, caller: Filter | None, k: int) -> ReadPlan | None:
        """The read plan of a top-``k`` search (``None``: nothing is visible)."""
        return plan_read(
            self.policy,
            access,
            caller,
            strategy=self.strategy,
            max_ids_per_query=_NO_CHUNKING,
            native_ids=True,
            k=k,
            postfilter_min_ids=self.postfilter_min_ids,
            overfetch=self.overfetch,
        )

    def check_distance(self, distance: Distance | None) -> Distance:
        """The query's distance, defaulting to the store's."""
        return self.distance if distance is None else _check_distance(distance)

    # -- statements -------------------------------------------------------------------

    def settings_statement(self, *, k: int | None) -> Select[Any]:
        """``SELECT set_config(...)``: the workspace for RLS, plus HNSW settings for a query.

        Built once per ``k`` (the values are the store's own, fixed at construction).
        """
        stmt = self._settings.get(k)
        if stmt is None:
            stmt = self._settings_statement(k)
            if len(self._settings) < 16:  # a caller choosing k cannot grow it without bound
                self._settings[k] = stmt
        return stmt

    def _settings_statement(self, k: int | None) -> Select[Any]:
        pairs: list[tuple[str, str]] = [(WORKSPACE_SETTING, self.scope.workspace_id)]
        if k is not None:
            pairs.append(("hnsw.iterative_scan", self.search.iterative_scan))
            ef = max(self.search.ef_search or 40, k)
            pairs.append(("hnsw.ef_search", str(min(ef, 1000))))
            if self.search.max_scan_tuples is not None:
                pairs.append(("hnsw.max_scan_tuples", str(self.search.max_scan_tuples)))
        return select(
            *(
                func.set_config(
                    bindparam(None, name, type_=Text), bindparam(None, value, type_=Text), true()
                )
                for name, value in pairs
            )
        )

    def where(self, flt: Filter) -> ColumnElement[bool]:
        """The compiled tenancy-and-caller filter."""
        return self.compiler.compile(flt)

    def scoped_select(self, access: Access, caller: Filter | None, entity: object) -> Select[Any]:
        """``select(entity)`` reading only the rows ``access`` reaches (none if empty).

        The scope is not a WHERE clause of the returned statement (a caller's
        ``.where(text("a OR b"))`` would render ``scope AND a OR b`` and escape it): it is
        a ``WITH <table> AS NOT MATERIALIZED (SELECT ... WHERE scope)`` named like the
        table. PostgreSQL resolves every unqualified ``<table>`` of the statement (the
        entity, a join or alias of the table, a union's other half, a subquery) to that
        CTE, so nothing a caller adds sees unscoped rows. ``NOT MATERIALIZED`` lets the
        planner inline it and keep the HNSW index for an ``ORDER BY`` distance.
        """
        if self.table.schema is not None:
            # A schema-qualified reference is not shadowed by a CTE of the same name.
            raise InvalidInputError(
                f"scoped_select needs a table referred to without a schema, got "
                f"{self.table.fullname!r}: declare it without schema= and put its schema on "
                f"the connection's search_path"
            )
        flt = self.policy.read_filter(access, caller)
        inner = select(self.table)
        inner = inner.where(literal(False) if flt is None else self.where(flt))
        scoped = inner.cte(name=self.table.name).prefix_with("NOT MATERIALIZED")
        stmt = select(entity).add_cte(scoped).select_from(self.table)  # type: ignore[call-overload]
        return stmt  # type: ignore[no-any-return]

    def _ids_clause(self, ids: Sequence[str]) -> ColumnElement[bool]:
        return self.c_id == any_(bindparam(None, list(ids), type_=ARRAY(Text)))

    # -- transactions -----------------------------------------------------------------

    def configure_tx(self, session: Tx, k: int | None = None) -> None:
        """Apply the ``SET LOCAL`` settings in the session's transaction."""
        session.execute(self.settings_statement(k=k))

    def _stored(self, session: Tx, ids: Sequence[str]) -> dict[str, ExistingRecord]:
        rows = session.execute(
            select(self.c_id, self.c_ws, self.c_res, self.c_owner)
            .where(self.c_ws == self._ws, self._ids_clause(ids))
            .with_for_update()
        ).all()
        return {
            row[0]: ExistingRecord(
                workspace_id=_s(row[1]), resource_id=_s(row[2]), owner_id=_s(row[3])
            )
            for row in rows
        }

    def resources_of(self, batch: Batch) -> set[str]:
        """The canonical resource ids a full write names (checked in :meth:`batch`)."""
        assert batch.metadatas is not None
        key = self.scope.resource_key
        return {canonical_uuid(m[key], what=key) for m in batch.metadatas}

    # -- whole resources (the lifecycle's chunk index) --------------------------------

    def _resource_where(self, flt: Filter, keep: Sequence[str] = ()) -> ColumnElement[bool]:
        clause = self.where(flt)
        if keep:
            clause = and_(clause, ~self._ids_clause(keep))
        return clause

    def remove_resource_tx(self, session: Tx, flt: Filter, keep: Sequence[str]) -> int:
        """Delete every row ``flt`` (from :meth:`TenancyPolicy.resource_filter`) selects."""
        self.configure_tx(session)
        result = session.execute(
            delete(self.table).where(self._resource_where(flt, keep)).returning(self.c_id)
        )
        return len(result.all())

    def count_resource_tx(self, session: Tx, flt: Filter) -> int:
        """How many rows ``flt`` selects."""
        self.configure_tx(session)
        return int(
            session.execute(
                select(func.count()).select_from(self.table).where(self.where(flt))
            ).scalar_one()
        )

    def resource_owners_tx(self, session: Tx, flt: Filter) -> set[object]:
        """The owners of the rows ``flt`` selects (for the lifecycle's claim check)."""
        self.configure_tx(session)
        rows = session.execute(select(self.c_owner).distinct().where(self.where(flt))).all()
        return {_s(row[0]) for row in rows}

    def write_tx(
        self,
        session: Tx,
        batch: Batch,
        edit: Access,
        *,
        upsert: bool,
    ) -> None:
        """``add`` or ``upsert`` a batch: stamp, authorize, then one bulk statement.

        The batch's resources were authorized already
        (:meth:`TenancyPolicy.authorize_resources`, which may ask the identity service).
        """
        assert batch.metadatas is not None and batch.embeddings is not None
        self.configure_tx(session)
        stored = self._stored(session, batch.ids)
        existing = {i: stored[rid] for i, rid in enumerate(batch.ids) if rid in stored}
        stamped = self.policy.stamp(batch.metadatas, edit, existing)
        self.policy.check_ids(batch.ids, stamped)
        self.policy.authorize_write(edit, existing=existing.values())
        if stored and not upsert:
            raise InvalidInputError(
                f"ids already exist in the workspace: {sorted(stored)[:5]}; use upsert() to "
                f"replace them. Nothing was written."
            )
        reserved = self.scope.reserved_keys
        rows = [
            {
                self.c_ws.key: self._ws,
                self.c_id.key: rid,
                self.c_owner.key: uuid.UUID(meta[OWNER_KEY]),
                self.c_res.key: uuid.UUID(meta[self.scope.resource_key]),
                self.c_doc.key: None if batch.documents is None else batch.documents[i],
                self.c_meta.key: {k: v for k, v in meta.items() if k not in reserved},
                self.c_emb.key: batch.embeddings[i],
            }
            for i, (rid, meta) in enumerate(zip(batch.ids, stamped, strict=True))
        ]
        # Invariant 10: the statement carries the condition the check decided on. An id
        # the check found absent is insert-only (ON CONFLICT DO NOTHING); an id it found
        # (locked FOR UPDATE above) is replaced only while the stored row is still one the
        # caller may overwrite. A row another writer created in between is left as it is,
        # missing from RETURNING, and the whole batch rolls back.
        stmt = pg_insert(self.table)
        known = sorted(stored) if upsert else []
        allowed = self.policy.overwritable(edit)
        if known and allowed is not None:
            replaced = (self.c_owner, self.c_res, self.c_doc, self.c_meta, self.c_emb)
            stmt = stmt.on_conflict_do_update(
                index_elements=[self.c_ws, self.c_id],
                set_={c: stmt.excluded[c.key] for c in replaced},
                where=and_(self._ids_clause(known), self.where(allowed)),
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[self.c_ws, self.c_id])
        written = set(session.execute(stmt.returning(self.c_id), rows).scalars().all())
        if written != set(batch.ids):
            raise WriteConflictError(
                "another writer created or changed a record with one of these ids after the "
                "write was checked; nothing was written. Read the records again and retry."
                if upsert
                else "another writer added a record with one of these ids after the write was "
                "checked; nothing was written. Use upsert() to replace records you may edit."
            )

    def update_tx(self, session: Tx, batch: Batch, edit: Access, view: Access) -> int:
        """Update stored records in place (metadata merged); unknown ids are skipped.

        So are records the caller may not view (invariant 9); a visible record it may
        not edit raises.
        """
        self.configure_tx(session)
        stored = self._stored(session, batch.ids)
        reached = set(self.policy.reachable(stored, edit, view))
        keep = [i for i, rid in enumerate(batch.ids) if rid in reached]
        existing = {pos: stored[batch.ids[i]] for pos, i in enumerate(keep)}
        if not keep:
            return 0
        patches: list[dict[str, Any]] | None = None
        if batch.metadatas is not None:
            checked = self.policy.check_partial_update([batch.metadatas[i] for i in keep], existing)
            reserved = self.scope.reserved_keys
            patches = [{k: v for k, v in m.items() if k not in reserved} for m in checked]
        values: dict[Column[Any], Any] = {}
        if patches is not None:
            values[self.c_meta] = self.c_meta.op("||", return_type=JSONB)(
                bindparam("p_meta", type_=JSONB)
            )
        if batch.embeddings is not None:
            values[self.c_emb] = bindparam("p_emb", type_=self.c_emb.type)
        if batch.documents is not None:
            values[self.c_doc] = bindparam("p_doc", type_=Text)
        if not values:
            return len(keep)
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
        session.execute(
            update(self.table)
            .where(self.c_ws == self._ws, self.c_id == bindparam("p_id", type_=Text))
            .values(values),
            params,
        )
        return len(keep)

    def delete_tx(
        self,
        session: Tx,
        ids: list[str] | None,
        caller: Filter | None,
        edit: Access,
        view: Access,
    ) -> int:
        """Delete editable records by id and/or filter; re-check each before deleting.

        Named records the caller may not view are absent ids (invariant 9).
        """
        self.configure_tx(session)
        if ids is not None:
            stored = self._stored(session, ids)
            reached = set(self.policy.reachable(stored, edit, view))
            if not reached:
                return 0
            ids = [rid for rid in ids if rid in reached]
        flt = self.policy.read_filter(edit, caller)
        if flt is None:
            return 0
        stmt = select(self.c_id, self.c_ws, self.c_res).where(self.where(flt))
        if ids is not None:
            stmt = stmt.where(self._ids_clause(ids))
        targets = [
            row[0]
            for row in session.execute(stmt.with_for_update()).all()
            if self.policy.recheck(self._tenancy(row[1], row[2]), edit, row[0])
        ]
        if targets:
            session.execute(
                delete(self.table).where(self.c_ws == self._ws, self._ids_clause(targets))
            )
        return len(targets)

    def get_tx(
        self,
        session: Tx,
        flt: Filter,
        access: Access,
        *,
        ids: list[str] | None,
        limit: int | None,
        offset: int | None,
        include_embeddings: bool,
    ) -> list[Record]:
        """Records matching ``flt`` (already the tenancy filter), re-checked, audited."""
        self.configure_tx(session)
        cols: list[Any] = [self.c_id, self.c_ws, self.c_res, self.c_owner, self.c_doc, self.c_meta]
        if include_embeddings:
            cols.append(self.c_emb)
        stmt = select(*cols).where(self.where(flt)).order_by(self.c_id)
        if ids is not None:
            stmt = stmt.where(self._ids_clause(ids))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        rows = session.execute(stmt).all()
        out: list[Record] = []
        for row in rows:
            meta = self._metadata(row)
            if self.policy.recheck(meta, access, row[0]):
                emb = _vector(row[6]) if include_embeddings else None
                out.append(Record(row[0], row[4], meta, emb))
        self.policy.audit(
            strategy="prefilter",
            examined=len(rows),
            returned=len(out),
            dropped=len(rows) - len(out),
        )
        return out

    def query_tx(
        self,
        session: Tx,
        plan: ReadPlan,
        access: Access,
        *,
        vector: list[float],
        k: int,
        distance: Distance,
        include_embeddings: bool,
    ) -> Hits:
        """Top-``k`` by ``distance`` under the plan, with iterative HNSW scans; re-checked.

        A post-filter plan asks for growing numbers of candidates in the workspace (each
        one ``SELECT ... LIMIT fetch`` in this transaction); under ``auto`` a post-filter
        that cannot fill ``k`` falls back to the pre-filter in the same transaction.
        """
        self.configure_tx(session, k=k)
        query = bindparam(None, vector, type_=_QueryVector(self.dim))
        dist = _distance(self.c_emb, distance, query).label("distance")
        cols: list[Any] = [self.c_id, self.c_ws, self.c_res, self.c_owner, self.c_doc, self.c_meta]
        if include_embeddings:
            cols.append(self.c_emb)

        def nearest(flt: Filter, limit: int, ids: Access | None = None) -> list[Any]:
            stmt = select(*cols, dist).where(self.where(flt))
            if ids is not None:
                stmt = stmt.where(self._ids_in(ids))
            return list(session.execute(stmt.order_by(dist).limit(limit)).all())

        def hit(row: Any, meta: dict[str, Any]) -> Hit:
            emb = _vector(row[6]) if include_embeddings else None
            return Hit(row[0], float(row[-1]), row[4], meta, emb)

        if plan.postfilter:
            post = plan
            admitted: dict[str, Hit] = {}

            def search(fetch: int, which: list[int]) -> list[list[Any]]:
                if fetch > k:
                    self._raise_ef(session, fetch)
                return [nearest(post.filters[0], fetch)]

            def admit(row: Any) -> bool:
                meta = self._metadata(row)
                ok = self.policy.recheck(meta, access, row[0], postfiltered=True)
                if ok:
                    admitted[row[0]] = hit(row, meta)
                return ok

            (got,) = postfilter_top_k_sync(
                post,
                k,
                1,
                search,
                admit=admit,
                key=lambda row: str(row[0]),
                distance=lambda row: float(row[-1]),
            )
            if got.complete or post.fallback is None:
                hits = [admitted[row[0]] for row in got.hits]
                self.policy.audit(
                    strategy="postfilter",
                    examined=got.examined,
                    returned=len(hits),
                    dropped=got.examined - len(hits),
                    complete=got.complete,
                )
                return Hits.of(hits, complete=got.complete)
            fallback = post.fallback_plan()
            assert fallback is not None
            plan = fallback
            self.configure_tx(session, k=k)
        runs = [nearest(flt, k, plan.ids) for flt in plan.filters]
        rows = merge_top_k(runs, k, distance=lambda row: float(row[-1]))
        hits = []
        for row in rows:
            meta = self._metadata(row)
            if self.policy.recheck(meta, access, row[0]):
                hits.append(hit(row, meta))
        # relaxed_order may return rows slightly out of order: sort what is returned.
        hits.sort(key=lambda h: h.distance)
        name = plan.strategy
        if plan.strategy == "prefilter" and self.search.iterative_scan != "off":
            name = "prefilter-iterative"
        self.policy.audit(
            strategy=name,
            examined=len(rows),
            returned=len(hits),
            dropped=len(rows) - len(hits),
        )
        return Hits.of(hits)

    def _ids_in(self, ids: Access) -> ColumnElement[bool]:
        """``resource IN ids`` for a plan that hands the id list over (``ReadPlan.ids``).

        :class:`SqlFilterCompiler` binds the SDK's UUIDs as one ``uuid[]``; another
        compiler gets the neutral ``in_`` node of canonical strings.
        """
        key = self.scope.resource_key
        native = getattr(self.compiler, "uuid_membership", None)
        if native is not None:
            clause: ColumnElement[bool] = native(key, ids.uuid_list)
            return clause
        return self.where(in_(key, sorted(ids.resource_ids)))

    def _raise_ef(self, session: Tx, fetch: int) -> None:
        """``hnsw.ef_search`` for a post-filter fetch of ``fetch`` candidates (max 1000)."""
        ef = min(max(self.search.ef_search or 40, fetch), 1000)
        session.execute(
            select(
                func.set_config(
                    bindparam(None, "hnsw.ef_search", type_=Text),
                    bindparam(None, str(ef), type_=Text),
                    true(),
                )
            )
        )

    def count_tx(self, session: Tx, flt: Filter, access: Access) -> int:
        """How many records ``flt`` reaches, re-checked per (workspace, resource) group."""
        self.configure_tx(session)
        rows = session.execute(
            select(self.c_ws, self.c_res, func.count())
            .where(self.where(flt))
            .group_by(self.c_ws, self.c_res)
        ).all()
        examined = returned = 0
        for ws, res, n in rows:
            examined += n
            if self.policy.recheck(self._tenancy(ws, res), access, f"<{n} records of {res}>"):
                returned += n
        self.policy.audit(
            strategy="prefilter-count",
            examined=examined,
            returned=returned,
            dropped=examined - returned,
        )
        return returned

    # -- rows -------------------------------------------------------------------------

    def _tenancy(self, ws: object, res: object) -> dict[str, Any]:
        return {WORKSPACE_KEY: _s(ws), self.scope.resource_key: _s(res)}

    def _metadata(self, row: Any) -> dict[str, Any]:
        stored = row[5]
        meta: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
        meta[WORKSPACE_KEY] = _s(row[1])
        meta[self.scope.resource_key] = _s(row[2])
        meta[OWNER_KEY] = _s(row[3])
        return meta


# -- helpers ----------------------------------------------------------------------------


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def _vector(value: Any) -> list[float]:
    return [float(x) for x in (value.tolist() if hasattr(value, "tolist") else value)]


def _require(cols: Mapping[str, Column[Any]], name: str, kind: type, table: Table) -> Column[Any]:
    column = cols.get(name)
    if column is None or not isinstance(column.type, kind):
        raise InvalidInputError(
            f"table {table.name!r} needs a column {name!r} of type {kind.__name__} "
            f"(see sentinel_vectors_pgvector.ChunkMixin)"
        )
    return column


def _check_distance(distance: object) -> Distance:
    if distance not in DISTANCE_OPCLASSES:
        raise InvalidInputError(
            f"distance must be one of {sorted(DISTANCE_OPCLASSES)}, got {distance!r}"
        )
    return distance  # type: ignore[return-value]


class _QueryVector(VECTOR):
    """pgvector's ``VECTOR`` for the query vector, formatted at C speed.

    :meth:`StoreCore.query_vector` hands over a list of finite Python floats; the text
    sent is exactly what ``pgvector.Vector._to_db`` makes of it (``str(float)`` is
    ``float.__repr__``), without a Python-level loop over the dimensions.
    """

    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        return _vector_text


def _vector_text(value: list[float]) -> str:
    return "[" + ",".join(map(float.__repr__, value)) + "]"


def _distance(column: Column[Any], distance: Distance, query: Any) -> ColumnElement[float]:
    comparator: Any = column.comparator
    if distance == "cosine":
        return comparator.cosine_distance(query)  # type: ignore[no-any-return]
    if distance == "l2":
        return comparator.l2_distance(query)  # type: ignore[no-any-return]
    if distance == "ip":
        return comparator.max_inner_product(query)  # type: ignore[no-any-return]
    return comparator.l1_distance(query)  # type: ignore[no-any-return]


def _check_metadata(meta: Mapping[str, Any], i: int, reserved: frozenset[str]) -> None:
    for key, value in meta.items():
        if key in reserved:
            continue  # the policy checks and stamps these
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"metadatas[{i}][{key!r}] is {value!r}; use finite numbers")
        if not isinstance(value, str | int | float | bool):
            raise InvalidInputError(
                f"metadatas[{i}][{key!r}] must be str, int, float or bool, "
                f"got {type(value).__name__}"
            )
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise InvalidInputError(f"metadatas[{i}][{key!r}] contains a NUL character")


def _documents(documents: Any, n: int) -> list[str | None] | None:
    if documents is None:
        return None
    if isinstance(documents, str):
        documents = [documents]
    if not isinstance(documents, Sequence):
        raise InvalidInputError("documents must be a string or a list of strings")
    out: list[str | None] = []
    for item in documents:
        if item is not None and not isinstance(item, str):
            raise InvalidInputError(f"documents must be strings, got {type(item).__name__}")
        if isinstance(item, str) and "\x00" in item:
            raise InvalidInputError("documents may not contain NUL characters (PostgreSQL text)")
        out.append(item)
    check_lengths(n, documents=out)
    return out
