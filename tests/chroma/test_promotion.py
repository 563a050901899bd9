"""Online promotion on the real Chroma server: shared collection -> a workspace's own.

The tiered wrappers find each operation's place in the placement registry
(``<base>__placement``); the promoter moves a workspace with the registry's states
(``moving``, ``promoted``), a settle and a grace longer than the wrappers' lease. These
tests run readers and writers of two workspaces, through two independent bindings (two
application processes: no state shared but the server), throughout a promotion; crash
the promoter between any two of its steps and resume it; and attack the registry
through everything a caller passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import chromadb
import pytest

from sentinel_vectors.errors import InvalidInputError, PlacementError, ReservedKeyError
from sentinel_vectors.placement import Placement, dedicated_name
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors_chroma import (
    ChromaPlaces,
    PlacedChromaBackend,
    SyncTieredCollection,
    TieredCollection,
    placed_collection,
    promote_workspace,
    promote_workspace_sync,
    registry_name,
    sync_placed_collection,
    workspace_state,
    workspace_state_sync,
)
from sentinel_vectors_chroma.promotion import Sleep, _promotion

TIERED = Placement("tiered")
LEASE, SETTLE, GRACE = 1.0, 1.5, 1.5  # the wrappers' lease; the promoter's waits exceed it
ONLINE = {"settle": SETTLE, "grace": GRACE, "lease": LEASE}
FAST = {"settle": 0.1, "grace": 0.1, "lease": 0.05}  # nothing runs concurrently: no waits needed
Q = [1.0, 0.0, 0.0, 0.0]


def _vec(i: int) -> list[float]:
    return [1.0, i / 100.0, 0.5, 0.0]


def _client(server: ChromaServer) -> Any:
    return chromadb.HttpClient(host=server.host, port=server.port)


@pytest.fixture
def base(chroma_http: ChromaServer) -> Iterator[str]:
    """A fresh base name; every collection of it is dropped afterwards."""
    name = f"pr-{uuid.uuid4().hex[:10]}"
    yield name
    client = _client(chroma_http)
    for collection in client.list_collections():
        if collection.name.startswith(name):
            with contextlib.suppress(Exception):  # cleanup of what may be gone
                client.delete_collection(collection.name)


async def _seed(store: TieredCollection, res: str, n: int, prefix: str = "c") -> set[str]:
    ids = [f"{prefix}-{i}" for i in range(n)]
    await store.add(
        ids=ids,
        embeddings=[_vec(i) for i in range(n)],
        metadatas=[{"resource_id": res, "i": i} for i in range(n)],
        documents=[f"text {i}" for i in range(n)],
    )
    return set(ids)


def _pids(collection: Any, ws: uuid.UUID) -> set[str]:
    got = collection.get(where={"workspace_id": str(ws)}, include=[])
    return set(got["ids"])


def _physical(ws: uuid.UUID, ids: set[str]) -> set[str]:
    return {f"{ws}:{i}" for i in ids}


# -- online: readers and writers of two workspaces, two applications -----------------


@pytest.mark.invariant(1)
async def test_invariant_1_promotion_is_online_reads_and_writes_during_the_move(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """Every read sees exactly the acknowledged set (never neither place, never both),
    every acknowledged write and delete holds after the move, the other workspace is
    untouched; through two independent bindings at once."""
    ws_big, ws_small = tenancy.workspace(), tenancy.workspace()
    members = {
        "big": tenancy.member("admin", ws_big),
        "small": tenancy.member("admin", ws_small),
    }
    res = {name: tenancy.resource(m) for name, m in members.items()}
    apps = [
        PlacedChromaBackend(
            _client(chroma_http),
            base,
            placement=TIERED,
            resource_type="document",
            lease=LEASE,
            write_wait=30.0,
            poll=0.02,
        )
        for _ in range(2)
    ]
    n = {"big": 30, "small": 8}
    seeds = {
        name: await _seed(apps[0].scoped(members[name].auth), res[name], n[name])  # type: ignore[arg-type]
        for name in members
    }
    started: dict[str, set[str]] = {name: set() for name in members}
    acked: dict[str, set[str]] = {name: set() for name in members}
    deleted: dict[str, set[str]] = {name: set() for name in members}
    unwritten: dict[str, set[str]] = {name: set() for name in members}
    uncertain: dict[str, set[str]] = {name: set() for name in members}
    deleting = {name: 0 for name in members}
    epoch = {name: 0 for name in members}
    done = asyncio.Event()
    seen = {
        "reads_during": 0,
        "writes_during": 0,
        "reads_in_moving": 0,
        "writes_in_moving": 0,
    }
    retried: list[str] = []  # reads refused (retryable) after a stall across the switch

    async def _state(app: int) -> str | None:
        return await asyncio.to_thread(apps[app].places.state, str(ws_big))

    for app in apps:  # count the writes that found the workspace moving (and waited)
        decide = app.places._decide

        def recording(ws: str, writing: bool, state: Any, started: float, d: Any = decide) -> Any:
            if writing and state == "moving":
                seen["writes_in_moving"] += 1
            return d(ws, writing, state, started)

        app.places._decide = recording  # type: ignore[method-assign]

    rounds_after = 2

    async def writer(name: str, app: int) -> None:
        i, left = 0, rounds_after
        while left:
            store = apps[app].scoped(tenancy.fresh(members[name]).auth)  # one per request
            rid = f"w-{app}-{i}"
            started[name].add(rid)
            during = not done.is_set()
            try:
                await store.add(
                    ids=[rid], embeddings=[_vec(50 + i)], metadatas=[{"resource_id": res[name]}]
                )
                acked[name].add(rid)
            except PlacementError as exc:  # retryable: an op slower than its lease
                (unwritten if "nothing was written" in str(exc) else uncertain)[name].add(rid)
            if i < 6:  # deletes of seeded records while the move runs: none comes back
                victim = f"c-{2 * i + app}"
                deleting[name] += 1
                epoch[name] += 1
                try:
                    await store.delete(ids=[victim])
                    deleted[name].add(victim)
                except PlacementError:
                    uncertain[name].add(victim)
                finally:
                    deleting[name] -= 1
            seen["writes_during"] += during
            i += 1
            if done.is_set():
                left -= 1

    async def reader(name: str, app: int) -> None:
        left = rounds_after
        while left:
            store = apps[app].scoped(tenancy.fresh(members[name]).auth)  # one per request
            must, gone = set(acked[name]), set(deleted[name])
            during = not done.is_set()
            moving = name == "big" and await _state(app) == "moving"
            try:
                got = await store.get(include=["metadatas"])
            except PlacementError as exc:  # stalled past its lease across the switch
                retried.append(str(exc))  # retryable, never a wrong answer
                continue
            ids = list(got["ids"])
            assert len(ids) == len(set(ids)), "a record seen twice (both places)"
            assert must <= set(ids), ("an acknowledged write missing", must - set(ids))
            assert not (gone & set(ids)), "a deleted record came back"
            assert set(ids) <= seeds[name] | started[name] | acked[name]
            assert {m["workspace_id"] for m in got["metadatas"]} == {
                str(members[name].user.workspace_id)
            }
            quiet, before = deleting[name] == 0, epoch[name]
            try:
                hits = await store.query(query_embeddings=[Q], n_results=5)
            except PlacementError as exc:
                retried.append(str(exc))
                continue
            assert set(hits["ids"][0]) <= seeds[name] | started[name] | acked[name]
            if quiet and epoch[name] == before:
                # (Chroma's query may return a record deleted meanwhile with no
                # metadata; the re-check drops it: fewer hits only during a delete.)
                assert len(hits["ids"][0]) == 5, "a query found fewer records than stored"
            if moving and await _state(app) == "moving":
                seen["reads_in_moving"] += 1  # from the shared collection, mid-copy
            if during:
                seen["reads_during"] += 1
            else:
                left -= 1

    # Every permission lookup takes a while: an operation then runs well after it read
    # the registry, as under load (the promoter's settle and grace must cover it).
    tenancy.running.emulator.delay_seconds = 0.25
    moved: list[int] = []

    async def move() -> None:
        await asyncio.sleep(0.05)  # the loops first
        moved.append(await promote_workspace(_client(chroma_http), base, str(ws_big), **ONLINE))
        done.set()

    async with asyncio.TaskGroup() as tasks:
        for app in (0, 1):
            tasks.create_task(writer("big", app))
            tasks.create_task(reader("big", app))
        tasks.create_task(writer("small", 0))
        tasks.create_task(reader("small", 1))
        tasks.create_task(move())
    tenancy.running.emulator.delay_seconds = 0.0
    assert seen["reads_during"] >= 2
    assert seen["writes_during"] >= 2
    assert seen["reads_in_moving"] >= 1
    assert all("overlapped a promotion" in why for why in retried)
    assert seen["writes_in_moving"] >= 1
    found = {
        name: set((await apps[app].scoped(members[name].auth).get())["ids"])
        for name, app in (("big", 1), ("small", 0))
    }
    expected = {}
    for name in members:
        # Every acknowledged write and delete holds; a write refused with "nothing was
        # written" is absent; only a write or delete that failed half-way may go either way.
        must = (seeds[name] - deleted[name] - uncertain[name]) | acked[name]
        assert must <= found[name] <= must | uncertain[name]
        assert not (unwritten[name] & found[name])
        expected[name] = found[name]
    client = _client(chroma_http)
    shared, own = (
        client.get_collection(base),
        client.get_collection(dedicated_name(base, str(ws_big))),
    )
    assert _pids(shared, ws_big) == set()  # nothing left behind in the shared collection
    assert set(own.get(include=[])["ids"]) == _physical(ws_big, expected["big"])
    assert _pids(shared, ws_small) == _physical(ws_small, expected["small"])
    assert workspace_state_sync(client, base, str(ws_big)) == "promoted"
    assert workspace_state_sync(client, base, str(ws_small)) is None
    assert 0 < moved[0] <= n["big"] + len(acked["big"])
    # Idempotent: a second run moves nothing and waits for nothing.
    assert await promote_workspace(client, base, str(ws_big), **FAST) == 0


# -- crash anywhere, resume ------------------------------------------------------------


def _effects_until(client: Any, base: str, ws: str, stop: int | None) -> list[str]:
    """Run the promotion's first ``stop`` steps (all if ``None``), then drop it: a crash."""
    run = _promotion(client, base, ws, settle=0.06, grace=0.06, lease=0.03, page_size=4)
    names: list[str] = []
    answer: Any = None
    try:
        while stop is None or len(names) < stop:
            try:
                effect = run.send(answer)
            except StopIteration:
                break
            if isinstance(effect, Sleep):
                names.append("sleep")
                time.sleep(effect.seconds)
                answer = None
            else:
                names.append(effect.method)
                answer = getattr(effect.target, effect.method)(**effect.kwargs)
        return names
    finally:
        run.close()


def _late_sync_write(store: SyncTieredCollection, rid: str, ids: set[str]) -> None:
    """A blocking write while ``moving``: waits, then the retryable error, nothing written."""
    with pytest.raises(PlacementError, match="being moved"):
        store.upsert(ids=["late"], embeddings=[_vec(1)], metadatas=[{"resource_id": rid}])
    assert set(store.get()["ids"]) == ids


async def test_promotion_resumes_after_a_crash_between_any_two_steps(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """The promoter dies before each write and each pause of a run; after each crash the
    workspace reads exactly its records (never neither place), and a re-run finishes the
    move with nothing lost."""
    client = _client(chroma_http)
    places = ChromaPlaces(client, base, lease=0.05, write_wait=0.2, poll=0.02)
    other = tenancy.member("admin", tenancy.workspace())
    other_ids = await _seed(
        TieredCollection(places, other.auth, resource_type="document"), tenancy.resource(other), 3
    )

    async def fresh_workspace() -> tuple[Member, str, set[str]]:
        member = tenancy.member("admin", tenancy.workspace())
        rid = tenancy.resource(member)
        store = TieredCollection(places, member.auth, resource_type="document")
        return member, rid, await _seed(store, rid, 6)

    member, _, _ = await fresh_workspace()
    plan = await anyio.to_thread.run_sync(
        _effects_until, client, base, str(member.user.workspace_id), None
    )
    # Crash right before every step that changes something or waits.
    points = [i for i, name in enumerate(plan) if name in {"upsert", "delete", "sleep"}]
    points.append(len(plan) - 1)
    assert plan.count("sleep") == 2
    checked_wait = False
    for stop in points:
        member, rid, ids = await fresh_workspace()
        ws = str(member.user.workspace_id)
        await anyio.to_thread.run_sync(_effects_until, client, base, ws, stop)
        # A new process after the crash: reads see every record, exactly once.
        after = ChromaPlaces(client, base, lease=0.05, write_wait=0.2, poll=0.02)
        store = TieredCollection(after, member.auth, resource_type="document")
        assert set((await store.get())["ids"]) == ids, plan[:stop]
        assert len((await store.query(query_embeddings=[Q], n_results=10))["ids"][0]) == 6
        if await workspace_state(client, base, ws) == "moving" and not checked_wait:
            # Writes wait for the move; past write_wait, a typed retryable error and
            # nothing written.
            with pytest.raises(PlacementError, match="being moved"):
                await store.add(
                    ids=["late"], embeddings=[_vec(1)], metadatas=[{"resource_id": rid}]
                )
            assert "late" not in (await store.get())["ids"]
            # The blocking wrapper the same way (from a worker thread of this loop).
            blocking = SyncTieredCollection(after, member.auth, resource_type="document")

            await anyio.to_thread.run_sync(_late_sync_write, blocking, rid, ids)
            checked_wait = True
        resumed = await promote_workspace(client, base, ws, settle=0.06, grace=0.06, lease=0.03)
        assert resumed <= len(ids)
        assert await workspace_state(client, base, ws) == "promoted"
        assert set((await store.get())["ids"]) == ids
        assert _pids(client.get_collection(base), member.user.workspace_id) == set()
        own = client.get_collection(dedicated_name(base, ws))
        assert set(own.get(include=[])["ids"]) == _physical(member.user.workspace_id, ids)
        await store.add(ids=["after"], embeddings=[_vec(2)], metadatas=[{"resource_id": rid}])
        assert "after" in (await store.get())["ids"]
    assert checked_wait
    # The other workspace never moved and lost nothing.
    assert _pids(client.get_collection(base), other.user.workspace_id) == _physical(
        other.user.workspace_id, other_ids
    )


async def test_promotion_copies_content_and_configuration_and_is_idempotent(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """Ids, embeddings, documents, metadatas and uris move; the own collection has the
    shared one's space and metadata; a promoted or empty workspace moves 0."""
    client = _client(chroma_http)
    client.create_collection(
        base,
        embedding_function=None,
        metadata={"team": "x"},
        configuration={"hnsw": {"space": "ip"}},
    )
    member = tenancy.member("admin", tenancy.workspace())
    rid = tenancy.resource(member)
    store = sync_placed_collection(
        client, base, member.auth, placement=TIERED, resource_type="document", lease=0.05
    )

    def write() -> None:
        store.add(
            ids=["a", "b"],
            embeddings=[_vec(1), _vec(2)],
            metadatas=[{"resource_id": rid, "k": 1}, {"resource_id": rid, "k": 2}],
            documents=["doc a", "doc b"],
            uris=["s3://a", "s3://b"],
        )
        store.add(ids=["c"], embeddings=[_vec(3)], metadatas=[{"resource_id": rid}])

    await anyio.to_thread.run_sync(write)
    include = ["embeddings", "documents", "metadatas", "uris"]
    before = await anyio.to_thread.run_sync(lambda: store.get(include=include))
    ws = str(member.user.workspace_id)
    assert promote_workspace_sync(client, base, ws, **FAST) == 3
    after = await anyio.to_thread.run_sync(lambda: store.get(include=include))
    for column in ("ids", "documents", "metadatas", "uris"):
        assert after[column] == before[column], column
    assert [list(map(float, v)) for v in after["embeddings"]] == [
        list(map(float, v)) for v in before["embeddings"]
    ]
    own = client.get_collection(dedicated_name(base, ws))
    assert own.configuration_json["hnsw"]["space"] == "ip"
    assert own.metadata == {"team": "x"}
    assert promote_workspace_sync(client, base, ws, **FAST) == 0
    empty = str(tenancy.workspace())
    assert promote_workspace_sync(client, base, empty, **FAST) == 0
    assert workspace_state_sync(client, base, empty) == "promoted"
    # The async client: the same promotion, awaited.
    other = tenancy.member("admin", tenancy.workspace())
    other_store = placed_collection(
        client, base, other.auth, placement=TIERED, resource_type="document", lease=0.05
    )
    await _seed(other_store, tenancy.resource(other), 3)  # type: ignore[arg-type]
    aclient = await chromadb.AsyncHttpClient(host=chroma_http.host, port=chroma_http.port)
    other_ws = str(other.user.workspace_id)
    assert await promote_workspace(aclient, base, other_ws, **FAST) == 3
    assert await workspace_state(aclient, base, other_ws) == "promoted"
    assert len((await other_store.get())["ids"]) == 3
    assert _pids(client.get_collection(base), other.user.workspace_id) == set()


async def test_promotion_of_a_cosine_collection_verifies(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """Chroma normalizes embeddings written to a cosine collection; the copy of a
    normalized vector is normalized again and may differ in the last float32 bit. The
    verification must accept that (it did not: every cosine promotion failed after three
    rounds, the workspace left ``moving``)."""
    client = _client(chroma_http)
    client.create_collection(
        base, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    member = tenancy.member("admin", tenancy.workspace())
    rid = tenancy.resource(member)
    store = sync_placed_collection(
        client, base, member.auth, placement=TIERED, resource_type="document", lease=0.05
    )
    vectors = [[0.1 * i + 0.37, -0.73 * i, 1.3, 0.011 * i * i] for i in range(1, 41)]
    ids = [f"c{i}" for i in range(len(vectors))]
    await anyio.to_thread.run_sync(
        lambda: store.add(ids=ids, embeddings=vectors, metadatas=[{"resource_id": rid}] * 40)
    )
    ws = str(member.user.workspace_id)
    assert promote_workspace_sync(client, base, ws, **FAST) == 40
    assert workspace_state_sync(client, base, ws) == "promoted"
    got = await anyio.to_thread.run_sync(lambda: store.get(ids=ids[:3], include=["embeddings"]))
    assert got["ids"] == ids[:3]


# -- attacks: nothing a caller passes reaches the registry or another place --------------


@pytest.mark.invariant(1)
async def test_invariant_1_a_caller_cannot_name_the_registry_or_another_workspace_place(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    client = _client(chroma_http)
    ws_a, ws_b = tenancy.workspace(), tenancy.workspace()
    alice, bob = tenancy.member("admin", ws_a), tenancy.member("admin", ws_b)
    res_a, res_b = tenancy.resource(alice), tenancy.resource(bob)
    a = placed_collection(client, base, alice.auth, placement=TIERED, resource_type="document")
    b = placed_collection(client, base, bob.auth, placement=TIERED, resource_type="document")
    await a.add(ids=["x"], embeddings=[_vec(1)], metadatas=[{"resource_id": res_a}])
    await b.add(ids=["x"], embeddings=[_vec(1)], metadatas=[{"resource_id": res_b}])
    await promote_workspace(client, base, str(ws_a), **FAST)
    names = [
        registry_name(base),
        dedicated_name(base, str(ws_a)),
        dedicated_name(base, str(ws_b)),
        str(ws_a),
        str(ws_b),
        f"{ws_a}:x",
        f"{ws_b}:x",
        base,
    ]
    for store, mine in ((a, ws_a), (b, ws_b)):
        assert (await store.get(ids=names))["ids"] == []
        assert (await store.get())["ids"] == ["x"]
        hits = await store.query(query_embeddings=[Q], n_results=10, ids=names)
        assert hits["ids"] == [[]]
        for where in (
            {"workspace_id": str(ws_b if mine == ws_a else ws_a)},
            {"$or": [{"workspace_id": str(ws_a)}, {"state": "promoted"}]},
        ):
            with pytest.raises(ReservedKeyError):
                await store.get(where=where)
        assert (await store.get(where={"state": "promoted"}))["ids"] == []
        assert (await store.delete(ids=names))["deleted"] == 0
    assert workspace_state_sync(client, base, str(ws_a)) == "promoted"


@pytest.mark.invariant(4)
async def test_invariant_4_a_scope_cannot_flip_the_placement_state(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """Writes shaped like registry records (the workspace UUID as id, a ``state``
    metadata) land as the caller's own records; no registry record changes."""
    client = _client(chroma_http)
    ws_a, ws_b = tenancy.workspace(), tenancy.workspace()
    alice, bob = tenancy.member("admin", ws_a), tenancy.member("admin", ws_b)
    res_b = tenancy.resource(bob)
    b = placed_collection(client, base, bob.auth, placement=TIERED, resource_type="document")
    await promote_workspace(client, base, str(ws_a), **FAST)
    for target in (ws_a, ws_b):
        for op in (b.add, b.upsert):
            with contextlib.suppress(InvalidInputError):  # add of an existing id
                await op(
                    ids=[str(target)],
                    embeddings=[[1.0, 0.0, 0.0, 0.0]],
                    metadatas=[{"resource_id": res_b, "state": "moving"}],
                )
        await b.update(ids=[str(target)], metadatas=[{"state": "promoted"}])
        await b.delete(ids=[str(target)])
    await b.delete(where={"state": "promoted"})
    registry = client.get_collection(registry_name(base))
    assert set(registry.get()["ids"]) == {str(ws_a)}
    assert workspace_state_sync(client, base, str(ws_a)) == "promoted"
    assert workspace_state_sync(client, base, str(ws_b)) is None
    # Bob is still in the shared collection, writing there; Alice in her own.
    await b.add(ids=["y"], embeddings=[_vec(1)], metadatas=[{"resource_id": res_b}])
    assert _pids(client.get_collection(base), ws_b) == {f"{ws_b}:y"}
    a = placed_collection(client, base, alice.auth, placement=TIERED, resource_type="document")
    assert (await a.get())["ids"] == []


# -- typed errors for bad input -------------------------------------------------------------


async def test_bad_input_is_a_typed_error_and_changes_nothing(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    client = _client(chroma_http)
    ws = str(tenancy.workspace())
    with pytest.raises(InvalidInputError, match="does not exist"):
        await promote_workspace(client, base, ws, **FAST)
    client.create_collection(base, embedding_function=None)
    bad: list[tuple[str, dict[str, Any]]] = [
        ("not-a-uuid", FAST),
        (ws, {**FAST, "settle": 0.05}),  # no longer than the lease: unsafe
        (ws, {**FAST, "grace": 0.01}),
        (ws, {**FAST, "settle": float("nan")}),
        (ws, {**FAST, "lease": 0}),
        (ws, {**FAST, "page_size": 0}),
        (ws, {**FAST, "settle": True}),
    ]
    for workspace, options in bad:
        with pytest.raises(InvalidInputError):
            await promote_workspace(client, base, workspace, **options)
        with pytest.raises(InvalidInputError):
            promote_workspace_sync(client, base, workspace, **options)
    for name in (registry_name(base), dedicated_name(base, ws)):
        with pytest.raises(InvalidInputError):
            registry_name(name)
        with pytest.raises(InvalidInputError):
            await promote_workspace(client, name, ws, **FAST)
        with pytest.raises(InvalidInputError):
            ChromaPlaces(client, name)
    for options in ({"lease": 0}, {"write_wait": -1}, {"poll": float("inf")}, {"lease": "1"}):
        with pytest.raises(InvalidInputError):
            ChromaPlaces(client, base, **options)
    member = tenancy.member("admin", tenancy.workspace())
    with pytest.raises(InvalidInputError):
        TieredCollection(object(), member.auth, resource_type="document")  # type: ignore[arg-type]
    aclient = await chromadb.AsyncHttpClient(host=chroma_http.host, port=chroma_http.port)
    with pytest.raises(InvalidInputError, match="sync chromadb client"):
        ChromaPlaces(aclient, base)
    # Refused before anything was created: no registry, no own collection.
    assert [c.name for c in client.list_collections() if c.name.startswith(base)] == [base]


# -- the command line ------------------------------------------------------------------


async def test_cli_promote_chroma_moves_a_workspace_and_is_idempotent(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """``sentinel-vectors promote chroma://...``: the library call behind a command."""
    from typer.testing import CliRunner

    from sentinel_vectors_cli.app import app

    client = _client(chroma_http)
    member = tenancy.member("admin", tenancy.workspace())
    rid = tenancy.resource(member)
    store = placed_collection(client, base, member.auth, placement=TIERED, resource_type="document")
    ids = await _seed(store, rid, 5)  # type: ignore[arg-type]
    ws = str(member.user.workspace_id)
    url = f"chroma://{chroma_http.host}:{chroma_http.port}/{base}"
    waits = ["--settle", "0.1", "--grace", "0.1", "--lease", "0.05"]
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, ["promote", *args])

    first = await anyio.to_thread.run_sync(lambda: invoke(url, "-w", ws, *waits))
    assert first.exit_code == 0, first.output
    assert "5 records moved" in first.output
    again = await anyio.to_thread.run_sync(lambda: invoke(url, "-w", ws, *waits))
    assert again.exit_code == 0
    assert "0 records moved" in again.output
    assert set((await store.get())["ids"]) == ids
    assert _pids(client.get_collection(base), member.user.workspace_id) == set()
    # Bad input: exit 2 and nothing changes (waits not longer than the lease, a bad id,
    # a missing collection, Chroma's options on another store).
    for args in (
        (url, "-w", str(tenancy.workspace()), "--settle", "0.01", "--lease", "0.05"),
        (url, "-w", "not-a-uuid"),
        (f"chroma://{chroma_http.host}:{chroma_http.port}/{base}-missing", "-w", ws, *waits),
        ("postgresql+asyncpg://u:p@localhost/db/t", "-w", ws, "--settle", "1"),
    ):
        refused = await anyio.to_thread.run_sync(lambda a=args: invoke(*a))  # type: ignore[misc]
        assert refused.exit_code == 2, refused.output
    assert workspace_state_sync(client, base, ws) == "promoted"


async def test_an_operation_past_its_lease_stops_if_the_place_changed_meanwhile(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """A write that read "absent" and reaches Chroma after its lease, once the workspace
    is ``moving``, stops with the retryable PlacementError and writes nothing; a read
    whose place was promoted meanwhile stops too. With the state unchanged, an expired
    lease is renewed and the operation goes on."""
    client = _client(chroma_http)
    member = tenancy.member("admin", tenancy.workspace())
    rid = tenancy.resource(member)
    ws = str(member.user.workspace_id)
    places = ChromaPlaces(client, base, lease=0.05, write_wait=5.0, poll=0.02)
    await _seed(TieredCollection(places, member.auth, resource_type="document"), rid, 3)
    emulator = tenancy.running.emulator
    emulator.delay_seconds = 0.4  # each operation asks the permission service after its state read
    try:
        # Unchanged state: the lease runs out during the lookup and is renewed.
        store = TieredCollection(places, tenancy.fresh(member).auth, resource_type="document")
        assert len((await store.get())["ids"]) == 3

        async def flip(state: str) -> None:
            await asyncio.sleep(0.15)  # the operation is waiting for its permission lookup
            await asyncio.to_thread(
                places.registry.upsert, ids=[ws], embeddings=[[1.0]], metadatas=[{"state": state}]
            )

        store = TieredCollection(places, tenancy.fresh(member).auth, resource_type="document")
        flipping = asyncio.create_task(flip("moving"))
        with pytest.raises(PlacementError, match="nothing was written"):
            await store.add(ids=["late"], embeddings=[_vec(1)], metadatas=[{"resource_id": rid}])
        await flipping
        assert f"{ws}:late" not in client.get_collection(base).get(include=[])["ids"]
        store = TieredCollection(places, tenancy.fresh(member).auth, resource_type="document")
        flipping = asyncio.create_task(flip("promoted"))
        with pytest.raises(PlacementError, match="overlapped a promotion"):
            await store.get()
        await flipping
    finally:
        emulator.delay_seconds = 0.0


@pytest.mark.invariant(1)
async def test_invariant_1_placed_backend_places_each_caller_in_every_mode(
    chroma_http: ChromaServer, tenancy: Tenancy, base: str
) -> None:
    """``PlacedChromaBackend``: shared -> the base, per_tenant -> the own collection,
    tiered -> a registry-placed wrapper; a statically promoted workspace is its own."""
    client = _client(chroma_http)
    member = tenancy.member("admin", tenancy.workspace())
    ws = str(member.user.workspace_id)
    rid = tenancy.resource(member)
    own = dedicated_name(base, ws)
    expected = {
        Placement("shared"): base,
        Placement("per_tenant"): own,
        Placement("tiered", frozenset({ws})): own,
    }
    for placement, name in expected.items():
        store = PlacedChromaBackend(
            client, base, placement=placement, resource_type="document"
        ).scoped(member.auth)
        assert not isinstance(store, TieredCollection)
        assert store.name == name
    tiered = PlacedChromaBackend(client, base, placement=TIERED, resource_type="document")
    store = tiered.scoped(member.auth)
    assert isinstance(store, TieredCollection)
    await store.add(ids=["a"], embeddings=[_vec(1)], metadatas=[{"resource_id": rid}])
    assert _pids(client.get_collection(base), member.user.workspace_id) == {f"{ws}:a"}
    assert len(await tiered.index(member.auth).search([1.0, 0.0, 0.0, 0.0], k=3)) == 1
    assert repr(tiered).startswith("PlacedChromaBackend(base=")
    assert await tiered.check() == []
