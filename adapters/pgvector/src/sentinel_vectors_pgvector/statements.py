"""The native side of a scoped pgvector store: its table, its SQL, its ``SET LOCAL``.

:class:`ChunkStatements` checks a chunk table once (columns, primary key, dimension) and
builds every statement the store runs, with the caller's filter compiled by the
:class:`~sentinel_vectors_pgvector.SqlFilterCompiler`. It decides nothing about tenancy:
the filters it compiles come from the policy (through the engine), and every row it
reads is re-checked by the engine before it is returned.
"""

from __future__ import annotations

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
    any_,
    bindparam,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from sentinel_vectors.access import OWNER_KEY, WORKSPACE_KEY, Access
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter, FilterCompiler, in_
from sentinel_vectors.scope import Scope
from sentinel_vectors.validation import check_positive_int
from sentinel_vectors_pgvector.compiler import SqlFilterCompiler
from sentinel_vectors_pgvector.model import (
    DISTANCE_OPCLASSES,
    METADATA_COLUMN,
    Distance,
    table_of,
)
from sentinel_vectors_pgvector.rls import WORKSPACE_SETTING

__all__ = ["ChunkStatements", "IterativeScan", "SearchSettings"]

IterativeScan = Literal["off", "relaxed_order", "strict_order"]
"""pgvector's ``hnsw.iterative_scan`` modes."""

_EF_DEFAULT = 40  # pgvector's default hnsw.ef_search
_EF_MAX = 1000  # pgvector's largest hnsw.ef_search


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


class ChunkStatements:
    """The columns and statements of one chunk table, for one caller's scope."""

    def __init__(
        self,
        scope: Scope,
        model: object,
        *,
        distance: Distance,
        search: SearchSettings,
        compiler: FilterCompiler[ColumnElement[bool]] | None = None,
    ) -> None:
        self.scope = scope
        self.model = model
        self.table = table_of(model)
        self.search = search
        self.distance = check_distance(distance)
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
        self.ws = uuid.UUID(scope.workspace_id)
        self._settings: dict[int | None, Select[Any]] = {}

    # -- SET LOCAL --------------------------------------------------------------------

    def settings_statement(self, *, k: int | None) -> Select[Any]:
        """``SELECT set_config(...)``: the workspace for RLS, plus HNSW settings for a query.

        Built once per ``k`` (the values are the store's own, fixed at construction).
        """
        stmt = self._settings.get(k)
        if stmt is None:
            pairs: list[tuple[str, str]] = [(WORKSPACE_SETTING, self.scope.workspace_id)]
            if k is not None:
                pairs.append(("hnsw.iterative_scan", self.search.iterative_scan))
                pairs.append(("hnsw.ef_search", str(self.ef_for(k))))
                if self.search.max_scan_tuples is not None:
                    pairs.append(("hnsw.max_scan_tuples", str(self.search.max_scan_tuples)))
            stmt = _set_config(pairs)
            if len(self._settings) < 16:  # a caller choosing k cannot grow it without bound
                self._settings[k] = stmt
        return stmt

    def ef_for(self, candidates: int) -> int:
        """``hnsw.ef_search`` for a fetch of ``candidates`` rows (at most pgvector's 1000)."""
        return min(max(self.search.ef_search or _EF_DEFAULT, candidates), _EF_MAX)

    def ef_statement(self, ef: int) -> Select[Any]:
        """``SELECT set_config('hnsw.ef_search', ef, true)``."""
        return _set_config([("hnsw.ef_search", str(ef))])

    # -- clauses ----------------------------------------------------------------------

    def where(self, flt: Filter) -> ColumnElement[bool]:
        """The compiled tenancy-and-caller filter."""
        return self.compiler.compile(flt)

    def ids_clause(self, ids: Sequence[str]) -> ColumnElement[bool]:
        """``id = ANY(:ids)``, one ``text[]``."""
        return self.c_id == any_(bindparam(None, list(ids), type_=ARRAY(Text)))

    def resource_in(self, ids: Access) -> ColumnElement[bool]:
        """``resource IN ids`` for a plan that hands the id list over (``ReadPlan.ids``).

        :class:`SqlFilterCompiler` binds the SDK's UUIDs as one ``uuid[]``, as given;
        another compiler gets the neutral ``in_`` node of canonical strings.
        """
        key = self.scope.resource_key
        native = getattr(self.compiler, "uuid_membership", None)
        if native is not None:
            clause: ColumnElement[bool] = native(key, ids.uuid_list)
            return clause
        return self.where(in_(key, sorted(ids.resource_ids)))

    def scoped_select(self, flt: Filter | None, entity: object) -> Select[Any]:
        """``select(entity)`` reading only the rows ``flt`` reaches (none if ``None``).

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
        inner = select(self.table)
        inner = inner.where(literal(False) if flt is None else self.where(flt))
        scoped = inner.cte(name=self.table.name).prefix_with("NOT MATERIALIZED")
        stmt = select(entity).add_cte(scoped).select_from(self.table)  # type: ignore[call-overload]
        return stmt  # type: ignore[no-any-return]

    # -- reads ------------------------------------------------------------------------

    def record_columns(self, include_embeddings: bool) -> list[Any]:
        """id, workspace, resource, owner, document, metadata (and the embedding)."""
        cols: list[Any] = [self.c_id, self.c_ws, self.c_res, self.c_owner, self.c_doc, self.c_meta]
        if include_embeddings:
            cols.append(self.c_emb)
        return cols

    def distance_to(self, vector: list[float], distance: Distance) -> ColumnElement[float]:
        """The ``distance`` of each row's embedding to ``vector``, labelled ``distance``."""
        query = bindparam(None, vector, type_=_QueryVector(self.dim))
        comparator: Any = self.c_emb.comparator
        if distance == "cosine":
            expr = comparator.cosine_distance(query)
        elif distance == "l2":
            expr = comparator.l2_distance(query)
        elif distance == "ip":
            expr = comparator.max_inner_product(query)
        else:
            expr = comparator.l1_distance(query)
        return expr.label("distance")  # type: ignore[no-any-return]

    def metadata(self, row: Any) -> dict[str, Any]:
        """A record row's metadata with its tenancy columns as canonical strings."""
        stored = row[5]
        meta: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
        meta[WORKSPACE_KEY] = as_str(row[1])
        meta[self.scope.resource_key] = as_str(row[2])
        meta[OWNER_KEY] = as_str(row[3])
        return meta

    def tenancy(self, ws: object, res: object) -> dict[str, Any]:
        """The tenancy keys of a (workspace, resource) pair, for the re-check."""
        return {WORKSPACE_KEY: as_str(ws), self.scope.resource_key: as_str(res)}


class _QueryVector(VECTOR):
    """pgvector's ``VECTOR`` for the query vector, formatted at C speed.

    The store's validation hands over a list of finite Python floats; the text sent is
    exactly what ``pgvector.Vector._to_db`` makes of it (``str(float)`` is
    ``float.__repr__``), without a Python-level loop over the dimensions.
    """

    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        """Format the list of floats as pgvector's text input."""
        return _vector_text


def _vector_text(value: list[float]) -> str:
    return "[" + ",".join(map(float.__repr__, value)) + "]"


def _set_config(pairs: Sequence[tuple[str, str]]) -> Select[Any]:
    return select(
        *(
            func.set_config(
                bindparam(None, name, type_=Text), bindparam(None, value, type_=Text), true()
            )
            for name, value in pairs
        )
    )


def as_str(value: object) -> str | None:
    """A column value as a string (UUIDs canonical), ``None`` kept."""
    return None if value is None else str(value)


def as_vector(value: Any) -> list[float]:
    """A stored embedding (numpy array or list) as a list of floats."""
    return [float(x) for x in (value.tolist() if hasattr(value, "tolist") else value)]


def check_distance(distance: object) -> Distance:
    """``distance`` if pgvector serves it, else :class:`InvalidInputError`."""
    if distance not in DISTANCE_OPCLASSES:
        raise InvalidInputError(
            f"distance must be one of {sorted(DISTANCE_OPCLASSES)}, got {distance!r}"
        )
    return distance  # type: ignore[return-value]


def _require(cols: Mapping[str, Column[Any]], name: str, kind: type, table: Table) -> Column[Any]:
    column = cols.get(name)
    if column is None or not isinstance(column.type, kind):
        raise InvalidInputError(
            f"table {table.name!r} needs a column {name!r} of type {kind.__name__} "
            f"(see sentinel_vectors_pgvector.ChunkMixin)"
        )
    return column
