"""Shard keys of workspaces: onboarding (``per_tenant``) and promotion (``tiered``).

Administration helpers, run with the native client outside any scope (like
:func:`~sentinel_vectors_qdrant.ensure_collection`), each once as a workflow of native
calls with an async and a blocking driver:

* :func:`create_workspace_shard` creates a workspace's shard key (its canonical UUID) in
  a ``per_tenant`` collection, at onboarding; until then the workspace's requests are a
  :class:`~sentinel_vectors.errors.PlacementError`.
* :func:`promote_workspace` moves a workspace of a ``tiered`` collection from the shared
  fallback shard (:data:`~sentinel_vectors_qdrant.placement.SHARED_SHARD_KEY`) into a
  shard of its own, online, with Qdrant's tenant promotion (Qdrant 1.16+): the
  workspace's shard key is created in ``Partial`` state, Qdrant's ``replicate_points``
  copies the workspace's points (the tenant filter) from the fallback shard into it,
  Qdrant marks it ``Active`` when the copy is complete, and the workspace's points are
  then deleted from the fallback shard. Throughout, the scoped clients'
  ``ShardKeyWithFallback`` routing sends reads to the fallback shard until the new shard
  is active and to the new shard after (never both, never neither), and writes to both
  while the copy runs, so nothing written during the move is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.errors import InvalidInputError, StoreUnavailableError
from sentinel_vectors.scope import WORKSPACE_KEY
from sentinel_vectors_qdrant.placement import SHARED_SHARD_KEY

__all__ = [
    "create_workspace_shard",
    "create_workspace_shard_sync",
    "promote_workspace",
    "promote_workspace_sync",
    "shard_states",
    "tenant_filter",
]

_BATCH = 256


@dataclass(frozen=True)
class _Call:
    """One native call of an administration workflow."""

    method: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class _Sleep:
    """A pause between two looks at the cluster."""

    seconds: float


type _Flow[T] = Generator[_Call | _Sleep, Any, T]


def _call(method: str, **kwargs: Any) -> _Call:
    return _Call(method, {k: v for k, v in kwargs.items() if v is not None})


async def _run_async[T](client: AsyncQdrantClient | QdrantClient, flow: _Flow[T]) -> T:
    answer: Any = None
    while True:
        try:
            step = flow.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(step, _Sleep):
            await asyncio.sleep(step.seconds)
            answer = None
            continue
        fn = getattr(client, step.method)
        if isinstance(client, AsyncQdrantClient):
            answer = await fn(**step.kwargs)
        else:
            answer = await asyncio.to_thread(fn, **step.kwargs)


def _run_sync[T](client: QdrantClient, flow: _Flow[T]) -> T:
    if isinstance(client, AsyncQdrantClient):
        raise InvalidInputError("the _sync helpers need a qdrant_client.QdrantClient")
    answer: Any = None
    while True:
        try:
            step = flow.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(step, _Sleep):
            time.sleep(step.seconds)
            answer = None
        else:
            answer = getattr(client, step.method)(**step.kwargs)


def _check(client: object, collection_name: object) -> None:
    if not isinstance(client, AsyncQdrantClient | QdrantClient):
        raise InvalidInputError("client must be a qdrant_client.AsyncQdrantClient or QdrantClient")
    if not isinstance(collection_name, str) or not collection_name:
        raise InvalidInputError("collection_name must be a non-empty string")


def tenant_filter(workspace_id: str) -> models.Filter:
    """The points of one workspace (its stamped ``workspace_id``)."""
    match = models.FieldCondition(key=WORKSPACE_KEY, match=models.MatchValue(value=workspace_id))
    return models.Filter(must=[match])


def _replicas(
    cluster: models.CollectionClusterInfo,
) -> list[models.LocalShardInfo | models.RemoteShardInfo]:
    return [*cluster.local_shards, *cluster.remote_shards]


def shard_states(cluster: models.CollectionClusterInfo) -> dict[str, list[models.ReplicaState]]:
    """The replica states of every shard key (as a string) in the collection."""
    out: dict[str, list[models.ReplicaState]] = {}
    for shard in _replicas(cluster):
        if shard.shard_key is not None:
            out.setdefault(str(shard.shard_key), []).append(shard.state)
    return out


def _shard_ids(cluster: models.CollectionClusterInfo, key: str) -> set[int]:
    return {s.shard_id for s in _replicas(cluster) if str(s.shard_key) == key}


def _active(states: list[models.ReplicaState] | None) -> bool:
    """As Qdrant routes a read: the key has shards and each has an active replica."""
    return bool(states) and all(s == models.ReplicaState.ACTIVE for s in states or [])


def _transferring(cluster: models.CollectionClusterInfo, ids: set[int]) -> bool:
    return any(
        t.shard_id in ids or (t.to_shard_id is not None and t.to_shard_id in ids)
        for t in cluster.shard_transfers
    )


def _custom(info: models.CollectionInfo, collection_name: str, mode: str) -> None:
    if info.config.params.sharding_method != models.ShardingMethod.CUSTOM:
        raise InvalidInputError(
            f"collection {collection_name!r} is not sharded by key: a {mode!r} placement "
            f"needs a collection created by ensure_collection(placement=Placement({mode!r}))"
        )


def _create_shard(
    collection_name: str,
    ws: str,
    shards_number: int | None,
    replication_factor: int | None,
    placement: list[int] | None,
) -> _Flow[bool]:
    info = yield _call("get_collection", collection_name=collection_name)
    _custom(info, collection_name, "per_tenant")
    cluster = yield _call("collection_cluster_info", collection_name=collection_name)
    if ws in shard_states(cluster):
        return False
    yield _call(
        "create_shard_key",
        collection_name=collection_name,
        shard_key=ws,
        shards_number=shards_number,
        replication_factor=replication_factor,
        placement=placement,
    )
    return True


async def create_workspace_shard(
    client: AsyncQdrantClient | QdrantClient,
    collection_name: str,
    workspace_id: str,
    *,
    shards_number: int | None = None,
    replication_factor: int | None = None,
    placement: list[int] | None = None,
) -> bool:
    """Create ``workspace_id``'s shard key in a ``per_tenant`` collection (onboarding).

    The key is the workspace's canonical UUID, as the scoped clients send it.
    ``shards_number``, ``replication_factor`` and ``placement`` (peer ids) are Qdrant's
    ``create_shard_key`` options. Idempotent: returns ``False`` if the key existed.
    """
    _check(client, collection_name)
    ws = canonical_uuid(workspace_id, what="workspace_id")
    flow = _create_shard(collection_name, ws, shards_number, replication_factor, placement)
    return await _run_async(client, flow)


def create_workspace_shard_sync(
    client: QdrantClient,
    collection_name: str,
    workspace_id: str,
    *,
    shards_number: int | None = None,
    replication_factor: int | None = None,
    placement: list[int] | None = None,
) -> bool:
    """:func:`create_workspace_shard` with a blocking ``QdrantClient``."""
    _check(client, collection_name)
    ws = canonical_uuid(workspace_id, what="workspace_id")
    flow = _create_shard(collection_name, ws, shards_number, replication_factor, placement)
    return _run_sync(client, flow)


def _promote(collection_name: str, ws: str, poll: float, timeout: float | None) -> _Flow[int]:
    info = yield _call("get_collection", collection_name=collection_name)
    _custom(info, collection_name, "tiered")
    cluster = yield _call("collection_cluster_info", collection_name=collection_name)
    shards = shard_states(cluster)
    if SHARED_SHARD_KEY not in shards:
        raise InvalidInputError(
            f"collection {collection_name!r} has no fallback shard key {SHARED_SHARD_KEY!r}: "
            f"create it with ensure_collection(placement=Placement('tiered'))"
        )
    tenant = tenant_filter(ws)
    counted = yield _call(
        "count",
        collection_name=collection_name,
        count_filter=tenant,
        exact=True,
        shard_key_selector=SHARED_SHARD_KEY,
    )
    moved = int(counted.count)
    replicate = _call(
        "cluster_collection_update",
        collection_name=collection_name,
        cluster_operation=models.ReplicatePointsOperation(
            replicate_points=models.ReplicatePoints(
                filter=tenant, from_shard_key=SHARED_SHARD_KEY, to_shard_key=ws
            )
        ),
    )
    # Whether the points left in the fallback shard are known to be copies: true once this
    # call has seen the workspace's shard filled by Qdrant's transfer.
    copied = True
    if ws not in shards:
        # Partial: Qdrant routes reads to the fallback and writes to both until the copy
        # is complete, then marks the shard Active (tiered multitenancy's promotion).
        yield _call(
            "create_shard_key",
            collection_name=collection_name,
            shard_key=ws,
            shards_number=1,
            initial_state=models.ReplicaState.PARTIAL,
        )
        yield replicate
    elif not _active(shards[ws]):
        if not _transferring(cluster, _shard_ids(cluster, ws)):
            yield replicate  # a promotion whose copy stopped before it was complete
    else:
        copied = False  # already active when this call began: check before deleting
    waited = 0.0
    while True:
        cluster = yield _call("collection_cluster_info", collection_name=collection_name)
        ids = _shard_ids(cluster, ws)
        if _active(shard_states(cluster).get(ws)) and not _transferring(cluster, ids):
            break
        if timeout is not None and waited >= timeout:
            raise StoreUnavailableError(
                f"the copy of workspace {ws} into its own shard has not completed after "
                f"{timeout:.0f} s; run the promotion again later (it resumes)",
                store="qdrant",
            )
        yield _Sleep(poll)
        waited += poll
    if copied:
        yield _call(
            "delete",
            collection_name=collection_name,
            points_selector=models.FilterSelector(filter=tenant),
            shard_key_selector=SHARED_SHARD_KEY,
            wait=True,
        )
        return moved
    return (yield from _drop_copies(collection_name, ws, tenant))


def _drop_copies(collection_name: str, ws: str, tenant: models.Filter) -> _Flow[int]:
    """Delete the fallback's points of a workspace whose shard was already active.

    Only points the workspace's shard also holds are deleted (copies); any other is
    reported, never deleted: it may be the only copy (a shard key created active before
    its points were moved).
    """
    removed = 0
    orphans = 0
    offset: Any = None
    while True:
        page, offset = yield _call(
            "scroll",
            collection_name=collection_name,
            scroll_filter=tenant,
            limit=_BATCH,
            offset=offset,
            with_payload=False,
            with_vectors=False,
            shard_key_selector=SHARED_SHARD_KEY,
        )
        ids = [p.id for p in page]
        if ids:
            held = yield _call(
                "retrieve",
                collection_name=collection_name,
                ids=ids,
                with_payload=False,
                with_vectors=False,
                shard_key_selector=ws,
            )
            copies = [p.id for p in held]
            orphans += len(ids) - len(copies)
            if copies:
                yield _call(
                    "delete",
                    collection_name=collection_name,
                    points_selector=models.PointIdsList(points=copies),
                    shard_key_selector=SHARED_SHARD_KEY,
                    wait=True,
                )
                removed += len(copies)
        if offset is None:
            break
    if orphans:
        raise InvalidInputError(
            f"workspace {ws} already has an active shard, but {orphans} of its points in the "
            f"shared shard have no copy there (they were not moved by a promotion); they were "
            f"left in place. Copy them with the native client, then run the promotion again."
        )
    return removed


async def promote_workspace(
    client: AsyncQdrantClient | QdrantClient,
    collection_name: str,
    workspace_id: str,
    *,
    poll_interval: float = 0.5,
    timeout: float | None = 600.0,  # noqa: ASYNC109 - a bound on the polling, not on I/O
) -> int:
    """Move ``workspace_id`` from the shared fallback shard into its own, online (tiered).

    The collection must be a ``tiered`` one (created by
    ``ensure_collection(placement=Placement("tiered"))``) on a Qdrant 1.16+ server. Waits
    (polling every ``poll_interval`` seconds, at most ``timeout``) until Qdrant has
    copied the workspace's points and activated its shard, then deletes them from the
    fallback shard. Returns how many points the fallback shard held for the workspace
    when the move began. Idempotent: a promoted workspace moves 0 points, and a run
    interrupted at any step resumes. See the module docstring for what readers and
    writers see meanwhile.
    """
    _check(client, collection_name)
    ws = canonical_uuid(workspace_id, what="workspace_id")
    return await _run_async(client, _promote(collection_name, ws, poll_interval, timeout))


def promote_workspace_sync(
    client: QdrantClient,
    collection_name: str,
    workspace_id: str,
    *,
    poll_interval: float = 0.5,
    timeout: float | None = 600.0,
) -> int:
    """:func:`promote_workspace` with a blocking ``QdrantClient``."""
    _check(client, collection_name)
    ws = canonical_uuid(workspace_id, what="workspace_id")
    return _run_sync(client, _promote(collection_name, ws, poll_interval, timeout))
