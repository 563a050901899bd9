"""Qdrant placement, tested at the level of the requests sent.

A real ``QdrantClient(url=...)`` / ``AsyncQdrantClient(url=...)`` talks to
:class:`tests.qdrant.recorder.Recorder` (no Qdrant server runs in CI; shard keys exist
only on a server). Every method of both scoped clients is called under ``per_tenant`` and
``tiered``; every request it sends must carry the scope's shard key and the tenancy
filter (or, for writes, the scope's stamped payload and its own point ids). A shard key
the caller passes anywhere is refused before anything is sent. What a real server does
with these requests is ``tests/qdrant/test_placement_server.py`` (``QDRANT_URL``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio.to_thread
import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.errors import (
    InvalidInputError,
    PlacementError,
    ReservedKeyError,
    UnsupportedError,
)
from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.conformance import Member, Tenancy, vec
from sentinel_vectors_qdrant import (
    QdrantBackend,
    ScopedQdrantClient,
    SyncScopedQdrantClient,
    create_workspace_shard,
    ensure_collection,
    promote_workspace,
    promote_workspace_sync,
)
from sentinel_vectors_qdrant.points import PointIds
from tests.qdrant.conftest import edge_client
from tests.qdrant.recorder import Recorder, Request

NAME = "docs"
MODES = ["per_tenant", "tiered"]
KINDS = ["async", "sync"]
# Every endpoint the scoped clients use (the recorder's paths under the collection).
ENDPOINTS = {
    ("PUT", "/points"),  # upsert, upload_points, rollback
    ("POST", "/points"),  # retrieve (the write probe, the read-back)
    ("POST", "/points/query"),
    ("POST", "/points/query/batch"),
    ("POST", "/points/query/groups"),
    ("POST", "/points/scroll"),
    ("POST", "/points/count"),
    ("POST", "/facet"),
    ("POST", "/points/delete"),
    ("POST", "/points/payload"),  # set_payload
    ("POST", "/points/payload/delete"),
    ("POST", "/points/batch"),  # overwrite_payload, clear_payload
    ("PUT", "/points/vectors"),  # update_vectors
    ("POST", "/points/vectors/delete"),
}


@pytest.fixture(scope="module")
def server() -> Iterator[Recorder]:
    """One recording server for the module (cleared before each test)."""
    with Recorder() as recorder:
        yield recorder


@pytest.fixture
def rec(server: Recorder) -> Recorder:
    server.requests.clear()
    server.points.clear()
    server.shards.clear()
    server.sharding = "custom"
    return server


class _InThread:
    """A sync scoped client called from async tests, in a worker thread of the loop."""

    def __init__(self, sync: SyncScopedQdrantClient) -> None:
        self._sync = sync

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        attr = getattr(self._sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await anyio.to_thread.run_sync(functools.partial(attr, *args, **kwargs))

        return call


@pytest.fixture(params=KINDS)
async def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def native_clients(rec: Recorder) -> AsyncIterator[tuple[AsyncQdrantClient, QdrantClient]]:
    aclient = AsyncQdrantClient(url=rec.url, check_compatibility=False, timeout=10)
    sclient = QdrantClient(url=rec.url, check_compatibility=False, timeout=10)
    yield aclient, sclient
    await aclient.close()
    sclient.close()


def scoped(
    clients: tuple[AsyncQdrantClient, QdrantClient], kind: str, member: Member, mode: str | None
) -> Any:
    """The member's scoped client (async, or sync in a worker thread) under ``mode``."""
    placement = None if mode is None else Placement(mode)  # type: ignore[arg-type]
    if kind == "sync":
        sync = SyncScopedQdrantClient(
            clients[1], member.auth, resource_type="document", placement=placement
        )
        return _InThread(sync)
    return ScopedQdrantClient(
        clients[0], member.auth, resource_type="document", placement=placement
    )


def expected_key(mode: str, ws: str) -> Any:
    """The shard key as the request's JSON carries it."""
    if mode == "per_tenant":
        return ws
    return {"target": ws, "fallback": "shared"}


async def every_method(docs: Any, resource: str) -> None:
    """Call every method of a scoped client (and the chunk index's private ones) once."""
    point = functools.partial(models.PointStruct, vector=vec(1.0, 0.0))
    payload = {"resource_id": resource, "topic": "a"}
    await docs.upsert(NAME, [point(id=1, payload=payload), point(id=2, payload=payload)])
    await docs.upsert(
        NAME, models.Batch(ids=[3], vectors=[vec(0.0, 1.0)], payloads=[dict(payload)])
    )
    await docs.upload_points(NAME, [point(id=4, payload=payload)])
    await docs.query_points(NAME, query=vec(1.0, 0.0), limit=2)
    await docs.query_points(NAME, query=1, limit=2)  # a point id: checked visible first
    await docs.query_points(
        NAME, query=vec(1.0, 0.0), prefetch=models.Prefetch(query=vec(0.0, 1.0)), limit=2
    )
    await docs.query_batch_points(NAME, [models.QueryRequest(query=vec(1.0, 0.0), limit=2)])
    await docs.query_points_groups(NAME, "topic", query=vec(1.0, 0.0), limit=2)
    await docs.scroll(NAME, limit=10)
    await docs.retrieve(NAME, [1, 2])
    await docs.count(NAME)
    await docs.facet(NAME, "topic")
    await docs.set_payload(NAME, {"topic": "b"}, [1])
    topic_b = models.FieldCondition(key="topic", match=models.MatchValue(value="b"))
    await docs.set_payload(NAME, {"topic": "c"}, models.Filter(must=[topic_b]))
    await docs.overwrite_payload(NAME, {"topic": "d"}, [2])
    await docs.delete_payload(NAME, ["topic"], [1])
    await docs.clear_payload(NAME, [2])
    await docs.update_vectors(NAME, [models.PointVectors(id=1, vector=vec(0.0, 1.0))])
    await docs.delete_vectors(NAME, [""], [3])
    await docs.delete(NAME, [4])
    if isinstance(docs, _InThread):
        return  # the chunk index's operations exist on the async client only
    await docs._count_resource(NAME, resource)
    await docs._resource_owners(NAME, resource)
    await docs._remove_resource(NAME, resource, ())


def _has_workspace(node: Any, ws: str) -> bool:
    """Whether a JSON filter holds the tenancy condition ``workspace_id == ws``."""
    if isinstance(node, dict):
        if node.get("key") == "workspace_id" and node.get("match") == {"value": ws}:
            return True
        return any(_has_workspace(v, ws) for v in node.values())
    if isinstance(node, list):
        return any(_has_workspace(v, ws) for v in node)
    return False


def _bodies(req: Request) -> list[dict[str, Any]]:
    """The request bodies a shard key belongs on (one per batched request/operation)."""
    if req.endpoint == "/points/query/batch":
        return list(req.body["searches"])
    if req.endpoint == "/points/batch":
        return [body for op in req.body["operations"] for body in op.values()]
    return [req.body]


def check_requests(rec: Recorder, mode: str | None, ws: str, own: set[str]) -> None:
    """Every point request carries the shard key of ``mode`` and the tenancy of ``ws``."""
    requests = list(rec.point_requests())
    assert requests
    for req in requests:
        for body in _bodies(req):
            where = f"{req.method} {req.path}: {body}"
            if mode is None:
                assert "shard_key" not in body, where
            else:
                assert body.get("shard_key") == expected_key(mode, ws), where
            if req.endpoint == "/points" and req.method == "PUT":  # stamped writes
                assert all(p["payload"]["workspace_id"] == ws for p in body["points"]), where
                assert {str(p["id"]) for p in body["points"]} <= own, where
            elif req.endpoint == "/points" and req.method == "POST":  # retrieve: own ids
                assert {str(i) for i in body["ids"]} <= own, where
            else:  # every other read and write is under the tenancy filter
                assert _has_workspace(body.get("filter") or body.get("update_filter"), ws), where


def own_ids(ws: str, ids: list[int]) -> set[str]:
    """The stored (physical) ids of the caller's ids in workspace ``ws``."""
    physical = PointIds(lambda i: f"{ws}:{i}").physical
    return {physical(i) for i in ids}


# -- every request carries the scope's shard key and tenancy filter ----------------------


@pytest.mark.invariant(1)
@pytest.mark.parametrize("mode", MODES)
async def test_invariant_1_every_request_carries_the_scope_shard_key_and_tenancy(
    rec: Recorder,
    native_clients: tuple[AsyncQdrantClient, QdrantClient],
    client_kind: str,
    mode: str,
    tenancy: Tenancy,
) -> None:
    ws = tenancy.workspace()
    admin = tenancy.member("admin", ws)
    docs = scoped(native_clients, client_kind, admin, mode)
    await every_method(docs, tenancy.resource(admin))
    hit = {(r.method, r.endpoint) for r in rec.point_requests()}
    assert hit >= ENDPOINTS, ENDPOINTS - hit  # every native call was exercised
    check_requests(rec, mode, str(ws), own_ids(str(ws), [1, 2, 3, 4]))


async def test_shared_placement_sends_the_same_requests_as_none(
    rec: Recorder, native_clients: tuple[AsyncQdrantClient, QdrantClient], tenancy: Tenancy
) -> None:
    # Byte for byte: Placement("shared") is today's behaviour, no shard key on any request.
    ws = tenancy.workspace()
    admin = tenancy.member("admin", ws)
    resource = tenancy.resource(admin)
    sent: list[list[tuple[str, str, Any]]] = []
    for mode in (None, "shared"):
        rec.requests.clear()
        rec.points.clear()
        await every_method(scoped(native_clients, "async", tenancy.fresh(admin), mode), resource)
        sent.append([(r.method, r.path, r.body) for r in rec.requests])
        check_requests(rec, None, str(ws), own_ids(str(ws), [1, 2, 3, 4]))
    assert sent[0] == sent[1]


async def test_shared_placement_passes_a_caller_shard_key_through(
    rec: Recorder, native_clients: tuple[AsyncQdrantClient, QdrantClient], tenancy: Tenancy
) -> None:
    # Documented: without a placement, the application's own custom sharding is its own.
    ws = tenancy.workspace()
    docs = scoped(native_clients, "async", tenancy.member("admin", ws), "shared")
    await docs.count(NAME, shard_key_selector="app-key")
    [req] = rec.point_requests()
    assert req.body["shard_key"] == "app-key"
    assert _has_workspace(req.body["filter"], str(ws))


# -- a shard key from the caller is refused and nothing is sent ----------------------------


def _attacks(other: str) -> list[tuple[str, Callable[[Any], Awaitable[Any]]]]:
    """Calls naming another workspace's shard in every place a shard key can go."""
    other_fb = models.ShardKeyWithFallback(target=other, fallback="shared")
    q = vec(1.0, 0.0)
    pts = [models.PointStruct(id=9, vector=q, payload={"resource_id": "r"})]
    ids_other = models.PointIdsList(points=[1], shard_key=other)
    flt_other = models.FilterSelector(filter=models.Filter(), shard_key=other)
    lookup = models.LookupLocation(collection=NAME, shard_key=other)
    return [
        ("query_points", lambda d: d.query_points(NAME, query=q, shard_key_selector=other)),
        ("query_points fb", lambda d: d.query_points(NAME, query=q, shard_key_selector=other_fb)),
        ("query_points lookup", lambda d: d.query_points(NAME, query=1, lookup_from=lookup)),
        (
            "query_points positional",
            lambda d: d.query_points(
                NAME, q, None, None, None, None, 10, None, True, False, None, None, None, other
            ),
        ),
        (
            "query_batch_points",
            lambda d: d.query_batch_points(NAME, [models.QueryRequest(query=q, shard_key=other)]),
        ),
        (
            "query_batch_points prefetch lookup",
            lambda d: d.query_batch_points(
                NAME,
                [
                    models.QueryRequest(
                        query=q, prefetch=models.Prefetch(query=1, lookup_from=lookup)
                    )
                ],
            ),
        ),
        (
            "query_points_groups",
            lambda d: d.query_points_groups(NAME, "topic", query=q, shard_key_selector=other),
        ),
        ("scroll", lambda d: d.scroll(NAME, shard_key_selector=other)),
        ("retrieve", lambda d: d.retrieve(NAME, [1], shard_key_selector=other)),
        ("count", lambda d: d.count(NAME, shard_key_selector=other_fb)),
        ("facet", lambda d: d.facet(NAME, "topic", shard_key_selector=other)),
        ("upsert", lambda d: d.upsert(NAME, pts, shard_key_selector=other)),
        ("upload_points", lambda d: d.upload_points(NAME, pts, shard_key_selector=other)),
        (
            "update_vectors",
            lambda d: d.update_vectors(
                NAME, [models.PointVectors(id=1, vector=q)], shard_key_selector=other
            ),
        ),
        ("delete ids", lambda d: d.delete(NAME, ids_other)),
        ("delete filter", lambda d: d.delete(NAME, flt_other)),
        ("delete kw", lambda d: d.delete(NAME, [1], shard_key_selector=other)),
        ("delete_vectors", lambda d: d.delete_vectors(NAME, [""], ids_other)),
        ("set_payload", lambda d: d.set_payload(NAME, {"topic": "x"}, flt_other)),
        ("overwrite_payload", lambda d: d.overwrite_payload(NAME, {"topic": "x"}, ids_other)),
        (
            "delete_payload",
            lambda d: d.delete_payload(NAME, ["topic"], [1], shard_key_selector=other),
        ),
        ("clear_payload", lambda d: d.clear_payload(NAME, ids_other)),
        # The REST form: a selector given as a mapping names its shard key as a key.
        ("delete mapping", lambda d: d.delete(NAME, {"points": [1], "shard_key": other})),
    ]


@pytest.mark.invariant(1)
@pytest.mark.invariant(4)
@pytest.mark.parametrize("mode", MODES)
async def test_invariant_1_4_a_caller_shard_key_is_refused_and_nothing_is_sent(
    rec: Recorder,
    native_clients: tuple[AsyncQdrantClient, QdrantClient],
    client_kind: str,
    mode: str,
    tenancy: Tenancy,
) -> None:
    ws_a, ws_b = tenancy.workspace(), tenancy.workspace()
    docs = scoped(native_clients, client_kind, tenancy.member("admin", ws_a), mode)
    for what, attack in _attacks(str(ws_b)):
        with pytest.raises(ReservedKeyError, match="set by the scope"):
            await attack(docs)
        assert rec.requests == [], what  # refused before anything was sent


@pytest.mark.parametrize("mode", ["per_tenant"])
async def test_a_payload_key_named_shard_key_is_data_not_a_shard_key(
    rec: Recorder,
    native_clients: tuple[AsyncQdrantClient, QdrantClient],
    client_kind: str,
    mode: str,
    tenancy: Tenancy,
) -> None:
    ws = tenancy.workspace()
    docs = scoped(native_clients, client_kind, tenancy.member("admin", ws), mode)
    await docs.set_payload(NAME, {"shard_key": "mine"}, [1])
    assert rec.point_requests(), "the payload write was sent"
    assert all(r.body.get("shard_key") == str(ws) for r in rec.point_requests())


# -- onboarding, missing shards, engines without shard keys ---------------------------------


async def test_a_workspace_without_its_shard_is_a_placement_error(
    rec: Recorder, native_clients: tuple[AsyncQdrantClient, QdrantClient], tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    admin = tenancy.member("admin", ws)
    rec.answer_override = (400, f"Wrong input: Shard key {ws} not found")
    try:
        docs = scoped(native_clients, "async", admin, "per_tenant")
        with pytest.raises(PlacementError, match=str(ws)):
            await docs.count(NAME)
    finally:
        rec.answer_override = None


async def test_ensure_collection_and_onboarding_create_shard_keys(
    rec: Recorder, native_clients: tuple[AsyncQdrantClient, QdrantClient], tenancy: Tenancy
) -> None:
    aclient, _ = native_clients
    rec.points.clear()
    await ensure_collection(
        aclient,
        NAME,
        models.VectorParams(size=4, distance=models.Distance.COSINE),
        placement=Placement("tiered"),
    )
    assert rec.shards == {"shared": "Active"}
    ws = str(tenancy.workspace())
    assert await create_workspace_shard(aclient, NAME, ws) is True
    assert await create_workspace_shard(aclient, NAME, ws) is False  # idempotent
    assert rec.shards[ws] == "Active"


@pytest.mark.parametrize("kind", ["edge", "local"])
@pytest.mark.parametrize("mode", MODES)
async def test_a_non_shared_placement_without_shard_keys_fails_at_construction(
    kind: str, mode: str, tenancy: Tenancy
) -> None:
    client = edge_client() if kind == "edge" else QdrantClient(":memory:")
    auth = tenancy.member("admin", tenancy.workspace()).auth
    try:
        for cls in (ScopedQdrantClient, SyncScopedQdrantClient):
            with pytest.raises(UnsupportedError, match="shard keys") as err:
                cls(client, auth, resource_type="document", placement=Placement(mode))  # type: ignore[arg-type]
            assert err.value.store == ("qdrant-edge" if kind == "edge" else "qdrant-local")
        with pytest.raises(UnsupportedError):
            await ensure_collection(client, NAME, None, placement=Placement(mode))  # type: ignore[arg-type]
        backend = QdrantBackend(client, NAME, resource_type="document", placement=Placement(mode))
        with pytest.raises(UnsupportedError):
            backend.scoped(auth)
        # The default stays usable on the embedded engines.
        assert ScopedQdrantClient(client, auth, resource_type="document").placement.mode == "shared"
    finally:
        client.close()


# -- promotion (tiered): the requests of Qdrant's tenant promotion --------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_promotion_sends_qdrant_tenant_promotion_and_is_idempotent(
    rec: Recorder,
    native_clients: tuple[AsyncQdrantClient, QdrantClient],
    tenancy: Tenancy,
    kind: str,
) -> None:
    aclient, sclient = native_clients
    ws = str(tenancy.workspace())
    rec.shards["shared"] = "Active"
    for i in range(3):
        rec.points[str(i)] = {"id": i, "payload": {"workspace_id": ws}, "vector": None}

    async def promote() -> int:
        if kind == "sync":
            run = functools.partial(promote_workspace_sync, sclient, NAME, ws, poll_interval=0.01)
            return await anyio.to_thread.run_sync(run)
        return await promote_workspace(aclient, NAME, ws, poll_interval=0.01)

    assert await promote() == 3
    tenant = {"must": [{"key": "workspace_id", "match": {"value": ws}}]}
    sent = [(r.method, r.endpoint) for r in rec.requests]
    polls = sent.count(("GET", "/cluster"))
    assert sent == [
        ("GET", "/"),
        ("GET", "/cluster"),
        ("POST", "/points/count"),
        ("PUT", "/shards"),
        ("POST", "/cluster"),
        *[("GET", "/cluster")] * (polls - 1),
        ("POST", "/points/delete"),
    ]
    count, create, replicate, delete = (
        rec.requests[2],
        rec.requests[3],
        rec.requests[4],
        rec.requests[-1],
    )
    assert count.body["shard_key"] == "shared"
    assert count.body["filter"] == tenant
    assert create.body == {"shard_key": ws, "shards_number": 1, "initial_state": "Partial"}
    assert replicate.body == {
        "replicate_points": {"filter": tenant, "from_shard_key": "shared", "to_shard_key": ws}
    }
    # The fallback's points are deleted only once Qdrant has activated the new shard.
    assert polls - 1 == rec.polls_until_active + 1
    assert delete.body == {"filter": tenant, "shard_key": "shared"}
    assert rec.shards[ws] == "Active"
    # Idempotent: a promoted workspace moves nothing; no shard is created, nothing copied.
    rec.requests.clear()
    assert await promote() == 0
    assert ("PUT", "/shards") not in [(r.method, r.endpoint) for r in rec.requests]
    assert ("POST", "/cluster") not in [(r.method, r.endpoint) for r in rec.requests]


async def test_promotion_refuses_a_collection_that_is_not_tiered(
    rec: Recorder, native_clients: tuple[AsyncQdrantClient, QdrantClient], tenancy: Tenancy
) -> None:
    aclient, _ = native_clients
    ws = str(tenancy.workspace())
    with pytest.raises(InvalidInputError, match="no fallback shard key 'shared'"):
        await promote_workspace(aclient, NAME, ws)
    rec.sharding = "auto"
    with pytest.raises(InvalidInputError, match="not sharded by key"):
        await promote_workspace(aclient, NAME, ws)
    assert not [r for r in rec.requests if r.method != "GET"]  # nothing was changed


async def test_backend_check_reports_a_collection_unfit_for_the_placement(
    rec: Recorder, native_clients: tuple[AsyncQdrantClient, QdrantClient]
) -> None:
    aclient, _ = native_clients
    backend = QdrantBackend(aclient, NAME, resource_type="document", placement=Placement("tiered"))
    rec.sharding = "auto"
    assert any(p.fatal and "not sharded by key" in p.message for p in await backend.check())
    rec.sharding = "custom"
    assert any(p.fatal and "'shared'" in p.message for p in await backend.check())
    rec.shards["shared"] = "Active"
    assert not any(p.fatal for p in await backend.check())


def test_cli_promote_dispatches_to_qdrant_promotion(rec: Recorder) -> None:
    """``sentinel-vectors promote qdrant://...``: the library call behind the command."""
    from typer.testing import CliRunner

    from sentinel_vectors_cli.app import app

    ws = str(uuid.uuid4())
    rec.shards["shared"] = "Active"
    rec.polls_until_active = 0
    try:
        url = f"qdrant://{rec.url.removeprefix('http://')}/{NAME}"
        first = CliRunner().invoke(app, ["promote", url, "-w", ws])
        assert first.exit_code == 0, first.output
        assert f"workspace {ws}: 0 points moved into its own shard" in first.output
        assert rec.shards[ws] == "Active"
        local = CliRunner().invoke(app, ["promote", f"qdrant+local:///tmp/x/{NAME}", "-w", ws])
        assert local.exit_code == 2
        assert "no shard keys" in local.output
    finally:
        rec.polls_until_active = 2
