"""What every operation of the scoped Qdrant client shares.

:class:`ClientBase` holds the native client, the caller's :class:`TenancyPolicy`, the
point id translation and the filter compiler, and the steps every read and write uses:
validating a caller's filter, building the scoped native filter, re-checking hits
(invariant 7), reading stored records, and building native calls: every step that
reaches Qdrant or the permission service yields an effect of :mod:`sentinel_vectors.engine`
(``Native``, ``AskAccess``), which the clients' drivers answer, async or blocking.
The operations themselves live in :mod:`~sentinel_vectors_qdrant.reads`,
:mod:`~sentinel_vectors_qdrant.upserts`, :mod:`~sentinel_vectors_qdrant.updates` and
:mod:`~sentinel_vectors_qdrant.resources`.

Nothing here holds per-call state: the collection a call works on is passed to each step
(one client may serve concurrent calls on several collections).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.engine import Native, Row, Step, reach
from sentinel_vectors.errors import (
    FilterError,
    InvalidInputError,
    StoreUnavailableError,
    is_store_outage,
)
from sentinel_vectors.filters import FilterCompiler, filter_keys
from sentinel_vectors.placement import Placement
from sentinel_vectors.policy import ExistingRecord, TenancyPolicy
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Access, Scope
from sentinel_vectors.strategy import OverFetch, StrategyName, plan_read
from sentinel_vectors.validation import check_positive_int
from sentinel_vectors_qdrant.compiler import (
    QdrantCondition,
    QdrantFilterCompiler,
    inspect_filter,
    root_key,
)
from sentinel_vectors_qdrant.filtering import NEUTRAL, CallerFilter, nest, to_filter
from sentinel_vectors_qdrant.placement import ShardRouting, check_engine, check_placement
from sentinel_vectors_qdrant.points import ID_KEY, LogicalId, PayloadView, PointIds, VectorSpace
from sentinel_vectors_qdrant.queries import QueryRewriter
from sentinel_vectors_qdrant.typed import IndexedTypes

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "ID_BATCH",
    "LOCAL_POSTFILTER_MIN_IDS",
    "OPS_BATCH",
    "ClientBase",
]

DEFAULT_POSTFILTER_MIN_IDS: int | None = 25_000
"""Accessible-list size from which ``auto`` post-filters ``query_points`` (server, qdrant-edge).

Measured on qdrant-edge, Qdrant's own engine in-process (``docs/benchmarks.md``, 20,000
x 384, ``is_tenant``, ``payload_m=16``, ``m=0``): one ``MatchAny`` costs 13-19 ms per
1,000 ids end to end (building, translating and evaluating the list), 130-235 ms at
10,000 ids and 1.7-2.2 s at 100,000, while the workspace-only over-fetch with the Python
re-check took 60-480 ms. At 10,000 ids the pre-filter won when 1% of the workspace was
visible, so the post-filter starts between the two measured sizes, where the pre-filter's
linear cost passes the post-filter's. On a server the ``MatchAny`` list is also encoded,
sent and parsed: inferred to be no cheaper, so the same threshold applies.
"""

LOCAL_POSTFILTER_MIN_IDS = 1_000
"""The same threshold in local mode (``QdrantClient(":memory:")`` or ``path=...``).

Local mode tests ``MatchAny`` point by point in Python, so a pre-filter costs time
linear in points x ids (``docs/benchmarks.md``: seconds at 10,000 ids); the post-filter
tests ids against a set.
"""

ID_BATCH = 256
"""Ids per native lookup or write request the wrapper issues itself."""

OPS_BATCH = 128
"""Update operations per ``batch_update_points`` request (overwrite/clear payload)."""


class ClientBase:
    """The state and shared steps of :class:`~sentinel_vectors_qdrant.QdrantOperations`.

    The arguments are :class:`~sentinel_vectors_qdrant.ScopedQdrantClient`'s.
    """

    def __init__(
        self,
        client: AsyncQdrantClient | QdrantClient,
        auth: AuthContext | None,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        timeout: float = 5.0,
        search_params: models.SearchParams | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | Literal["default"] | None = "default",
        overfetch: OverFetch | None = None,
        compiler: FilterCompiler[QdrantCondition] | None = None,
        placement: Placement | None = None,
    ) -> None:
        scope = Scope.of(
            auth, resource_type=resource_type, resource_key=resource_key, timeout=timeout
        )
        if resource_key == ID_KEY:
            raise InvalidInputError(f"resource_key may not be {ID_KEY!r}: it holds the point id")
        if not isinstance(client, AsyncQdrantClient | QdrantClient):
            raise InvalidInputError(
                "client must be a qdrant_client.AsyncQdrantClient or QdrantClient, got "
                f"{type(client).__name__}"
            )
        placement = check_placement(placement)
        check_engine(client, placement)
        if search_params is not None and not isinstance(search_params, models.SearchParams):
            raise InvalidInputError("search_params must be a models.SearchParams")
        self._client = client
        self._policy = TenancyPolicy(scope, collection="?")
        self._ids = PointIds(self._policy.physical_id)
        self._routing = ShardRouting(placement, scope)
        self._compiler: FilterCompiler[QdrantCondition] = compiler or QdrantFilterCompiler()
        self._queries = QueryRewriter(self._ids, self._caller_filter)
        self._search_params = search_params
        if strategy not in ("auto", "prefilter", "postfilter"):
            raise InvalidInputError(
                f"strategy must be 'auto', 'prefilter' or 'postfilter' (one MatchAny needs no "
                f"chunking), got {strategy!r}"
            )
        self._strategy: StrategyName = strategy
        if postfilter_min_ids == "default":
            local = type(getattr(client, "_client", None)).__name__.endswith("QdrantLocal")
            postfilter_min_ids = LOCAL_POSTFILTER_MIN_IDS if local else DEFAULT_POSTFILTER_MIN_IDS
        self._postfilter_min_ids = (
            None
            if postfilter_min_ids is None
            else check_positive_int(postfilter_min_ids, what="postfilter_min_ids")
        )
        if overfetch is not None and not isinstance(overfetch, OverFetch):
            raise InvalidInputError("overfetch must be a sentinel_vectors.strategy.OverFetch")
        self._overfetch = overfetch
        self._spaces: dict[str, VectorSpace] = {}
        self._typed: dict[str, IndexedTypes] = {}

    # -- introspection ---------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        return self._policy.scope

    @property
    def violations(self) -> int:
        """Hits dropped by the per-hit re-check since this wrapper was built (should be 0)."""
        return self._policy.violations

    def __repr__(self) -> str:
        scope = self._policy.scope
        return (
            f"{type(self).__name__}(workspace_id={scope.workspace_id!r}, "
            f"user_id={scope.user_id!r}, resource_type={scope.resource_type!r})"
        )

    # -- internals: filters ------------------------------------------------------------

    def _caller_filter(self, flt: object) -> CallerFilter:
        """Validate a caller filter (before any network call); reserved keys are refused."""
        if flt is None:
            return CallerFilter()
        if isinstance(flt, NEUTRAL):
            self._policy.check_caller_filter(flt)
            self._check_id_key(filter_keys(flt))
            return CallerFilter(neutral=flt)
        if isinstance(flt, Mapping):
            try:
                flt = models.Filter.model_validate(flt)
            except Exception as exc:
                raise FilterError(f"not a Qdrant filter: {exc}") from exc
        if not isinstance(flt, models.Filter):
            raise FilterError(
                "a filter must be a qdrant_client.models.Filter or a sentinel_vectors.filters "
                f"node, got {type(flt).__name__}"
            )
        native, keys = inspect_filter(flt, lambda i: self._ids.physical(i, what="has_id"))
        self._policy.check_filter_keys(keys)
        self._check_id_key(keys)
        return CallerFilter(native=native)

    def _check_id_key(self, keys: Iterable[str]) -> None:
        if ID_KEY in set(keys):
            raise FilterError(
                f"filters may not name {ID_KEY!r}; select points by id with "
                f"models.HasIdCondition(has_id=[...]) instead"
            )

    def _check_keys(self, keys: Iterable[str]) -> None:
        roots = {root_key(k) for k in keys}
        self._policy.check_removable_keys(roots)
        if ID_KEY in roots:
            raise InvalidInputError(f"{ID_KEY!r} holds the point's id and cannot be changed")

    def _scoped_filter(self, access: Access, caller: CallerFilter) -> models.Filter | None:
        """Tenancy filter (with the caller's neutral filter) with the native one nested under it."""
        plan = plan_read(self._policy, access, caller.neutral, strategy="prefilter")
        if plan is None:
            return None
        (neutral,) = plan.filters
        return nest(to_filter(self._compiler, neutral), caller.native)

    # -- internals: hits ---------------------------------------------------------------

    def _accept[P: (models.ScoredPoint, models.Record)](
        self, points: Sequence[P], access: Access, view: PayloadView, collection: str
    ) -> list[P]:
        return [p for p in self._accept_pairs(points, access, view, collection) if p is not None]

    def _accept_pairs[P: (models.ScoredPoint, models.Record)](
        self,
        points: Sequence[P],
        access: Access,
        view: PayloadView,
        collection: str,
        *,
        postfiltered: bool = False,
    ) -> list[P | None]:
        """Re-check every hit (invariant 7); the kept ones get the caller's id and payload."""
        out: list[P | None] = []
        for point in points:
            payload = point.payload or {}
            pid = str(point.id)
            ok = self._policy.recheck(
                payload, access, pid, postfiltered=postfiltered, collection=collection
            )
            if ok and not self._ids.matches(payload.get(ID_KEY), pid):
                ok = False
                self._policy.violation(
                    "sentinel-vectors dropped a point whose stored id does not match its "
                    "payload id",
                    pid,
                    collection=collection,
                )
            out.append(
                point.model_copy(update={"id": payload[ID_KEY], "payload": view.present(payload)})
                if ok
                else None
            )
        return out

    def _rows(
        self, points: Sequence[models.ScoredPoint | models.Record], collection: str
    ) -> list[Row]:
        """Native points as the engine's rows (it re-checks them, invariant 7).

        Qdrant's own check comes first, on points of the caller's workspace (any other is
        the engine's violation): a point whose stored id is not the one its payload id maps
        to (tampered data) is dropped and counted as a violation.
        """
        out: list[Row] = []
        workspace = self.scope.workspace_id
        for point in points:
            payload = point.payload or {}
            pid = str(point.id)
            same = payload.get(WORKSPACE_KEY) == workspace
            if same and not self._ids.matches(payload.get(ID_KEY), pid):
                self._policy.violation(
                    "sentinel-vectors dropped a point whose stored id does not match its "
                    "payload id",
                    pid,
                    collection=collection,
                )
                continue
            own = payload.get(ID_KEY)
            caller_id = None if own is None else str(own)
            out.append(Row(pid=pid, meta=payload, native=point, caller_id=caller_id))
        return out

    @staticmethod
    def _present[P: (models.ScoredPoint, models.Record)](point: P, view: PayloadView) -> P:
        """A kept point as the caller wrote it: its own id, the payload keys it asked for."""
        payload = point.payload or {}
        return point.model_copy(update={"id": payload[ID_KEY], "payload": view.present(payload)})

    def _audit(
        self,
        collection: str,
        strategy: str,
        examined: int,
        returned: int,
        points: Iterable[models.ScoredPoint | models.Record] = (),
    ) -> None:
        """The read's audit event; ``points``: the kept points, with the caller's ids."""
        self._policy.audit(
            strategy=strategy,
            examined=examined,
            returned=returned,
            returned_ids=(str(p.id) for p in points),
            dropped=examined - returned,
            collection=collection,
        )

    def _audit_empty(self, collection: str) -> None:
        """The audit event of a read the scope answers alone (the caller sees nothing)."""
        self._audit(collection, "empty", 0, 0)

    # -- internals: stored records ---------------------------------------------------

    def _records(
        self, collection_name: str, pids: list[str], *, with_vectors: bool
    ) -> Step[dict[str, models.Record]]:
        """Stored points under these ids (any workspace: the ids are ours), with payload."""
        out: dict[str, models.Record] = {}
        for start in range(0, len(pids), ID_BATCH):
            raw: list[models.Record] = yield self._native(
                "retrieve",
                collection_name=collection_name,
                ids=pids[start : start + ID_BATCH],
                with_payload=True,
                with_vectors=with_vectors,
            )
            for record in raw:
                out[str(record.id)] = record
        return out

    def _existing(self, record: models.Record) -> ExistingRecord:
        payload = record.payload or {}
        return ExistingRecord(
            workspace_id=payload.get(WORKSPACE_KEY),
            resource_id=payload.get(self.scope.resource_key),
            owner_id=payload.get(OWNER_KEY),
        )

    def _reach(
        self, collection_name: str, logical: Mapping[str, LogicalId]
    ) -> Step[tuple[Access, list[models.Record]]]:
        """``edit`` access and the named points (stored id -> caller id) an update or
        delete by id acts on: the engine's :func:`~sentinel_vectors.engine.reach` (a
        point the caller may not view is an absent id; one it may view but not edit
        raises), over this client's stored records."""
        probe = _RecordProbe(self, collection_name)
        pids = list(logical)
        got = yield from reach(self._policy, probe, ids=[str(logical[p]) for p in pids], pids=pids)
        return got.edit, [probe.records[pids[i]] for i in got.positions]

    # -- internals: native calls -------------------------------------------------------

    def _space(self, collection_name: str) -> Step[VectorSpace]:
        if not isinstance(collection_name, str) or not collection_name:
            raise InvalidInputError("collection_name must be a non-empty string")
        space = self._spaces.get(collection_name)
        if space is None:
            try:
                info = yield self._native("get_collection", collection_name=collection_name)
            except UnexpectedResponse as exc:
                if exc.status_code == 404:
                    raise InvalidInputError(
                        f"collection {collection_name!r} does not exist"
                    ) from exc
                raise
            except ValueError as exc:
                raise InvalidInputError(f"collection {collection_name!r}: {exc}") from exc
            space = VectorSpace.of(info)
            self._spaces[collection_name] = space
            self._typed[collection_name] = IndexedTypes.of(info)
        return space

    def _native(self, method: str, **kwargs: Any) -> Native:
        """The effect of one native call; ``None`` arguments are left out (Qdrant defaults).

        Every native call of every operation goes through here, so the placement's shard
        key is forced on each (:meth:`ShardRouting.route`; nothing changes when shared).
        """
        given = {k: v for k, v in kwargs.items() if v is not None}
        return Native(method, kwargs=self._routing.route(method, given), target=self._client)

    def _translate(self, exc: Exception, effect: Native) -> BaseException | None:
        """:func:`translate`, plus a missing shard of the caller's own workspace."""
        missing = self._routing.missing_shard(exc)
        if missing is not None:
            return missing
        return translate(exc, effect)


def translate(exc: Exception, effect: Native) -> BaseException | None:
    """A Qdrant outage (not the identity service's) as its own error and status."""
    if is_store_outage(exc):
        return StoreUnavailableError(
            f"Qdrant could not be reached during {effect.method}() ({type(exc).__name__}: {exc})",
            store="qdrant",
        )
    return None


@dataclass
class _RecordProbe:
    """The engine's probe over Qdrant: the stored points under some ids, kept whole."""

    ops: ClientBase
    collection: str
    records: dict[str, models.Record] = field(default_factory=dict)

    def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
        """The tenancy keys of the stored points among ``pids``, whoever owns them."""
        self.records = yield from self.ops._records(self.collection, list(pids), with_vectors=False)
        return {pid: self.ops._existing(record) for pid, record in self.records.items()}
