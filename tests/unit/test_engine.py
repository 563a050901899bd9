"""The engine's workflows and its two drivers, without a store.

What is checked here is the plumbing (which effects a workflow yields, in which order,
and that the async and the blocking driver answer them alike); every adapter suite
proves the same workflows on a real server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio.from_thread
import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.drive import call_blocking, run_async, run_sync
from sentinel_vectors.engine import AskAccess, AskRegistered, Native, Row, Step, listing, put, top_k
from sentinel_vectors.engine.reads import ReadSettings
from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
    ReservedKeyError,
    StoreUnavailableError,
)
from sentinel_vectors.policy import ExistingRecord, TenancyPolicy
from sentinel_vectors.scope import WORKSPACE_KEY, Access, Scope
from tests.unit.test_policy import WS, StaticAuth

R1, R2 = str(uuid.uuid4()), str(uuid.uuid4())


class Rows:
    """A list of rows with the native methods the sources below call."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.calls: list[str] = []

    def nearest(self, fetch: int) -> list[Row]:
        self.calls.append(f"nearest({fetch})")
        return sorted(self.rows, key=lambda r: r.distance)[:fetch]

    async def anearest(self, fetch: int) -> list[Row]:
        return self.nearest(fetch)

    def fail(self) -> None:
        raise ConnectionError("store down")


class Search:
    def __init__(self, store: Rows, method: str = "nearest") -> None:
        self.store, self.method = store, method

    def search(
        self, flt: F.Filter, fetch: int, which: Sequence[int], ids: Access | None
    ) -> Step[list[list[Row]]]:
        found = yield Native(self.method, (fetch,), target=self.store)
        return [list(found) for _ in which]

    def fetch(
        self, flt: F.Filter, ids: Access | None, *, limit: int | None, offset: int | None
    ) -> Step[list[Row]]:
        yield Native("fail", target=self.store)
        return []


def row(pid: str, rid: str, d: float, ws: str = WS) -> Row:
    return Row(pid, {WORKSPACE_KEY: ws, "resource_id": rid}, d)


def scope(answer: object) -> Scope:
    return Scope.of(StaticAuth(answer=answer), resource_type="document")


def world() -> Rows:
    return Rows([row("a", R1, 0.1), row("b", R2, 0.2), row("c", R1, 0.3, ws=str(uuid.uuid4()))])


async def test_async_and_sync_drivers_run_the_same_top_k() -> None:
    sc = scope(([uuid.UUID(R1)], False))
    policy = TenancyPolicy(sc)
    settings = ReadSettings()
    got_async = await run_async(
        top_k(
            policy, Search(world(), "anearest"), k=5, n_queries=1, caller=None, settings=settings
        ),
        sc,
    )
    with anyio.from_thread.start_blocking_portal() as portal:

        def blocking(fn: Any) -> Any:
            return call_blocking(fn, portal=portal)

        got_sync = await asyncio.to_thread(
            run_sync,
            top_k(policy, Search(world()), k=5, n_queries=1, caller=None, settings=settings),
            sc,
            blocking=blocking,
        )
    # Only R1 in the caller's workspace: "b" is another resource, "c" another workspace.
    assert [r.pid for r in got_async.hits[0]] == [r.pid for r in got_sync.hits[0]] == ["a"]
    assert policy.violations == 4  # b and c, each re-checked out by both runs


async def test_a_native_error_is_translated_and_thrown_into_the_workflow() -> None:
    sc = scope(([uuid.UUID(R1)], False))

    def translate(exc: Exception, effect: Native) -> BaseException | None:
        return StoreUnavailableError(f"{effect.method}: {exc}", store="test")

    step = listing(TenancyPolicy(sc), Search(world()), caller=None, settings=ReadSettings())
    with pytest.raises(StoreUnavailableError) as caught:
        await run_async(step, sc, translate=translate)
    assert isinstance(caught.value.__cause__, ConnectionError)


async def test_the_store_connection_opens_after_every_identity_question() -> None:
    """Writes ask Sentinel first, so no transaction waits on the permission service."""
    events: list[str] = []
    sc = scope(([uuid.UUID(R1)], False))

    class Target:
        def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
            yield Native("noop")
            return {}

        def put(self, op: Any, stamped: Any, stored: Any, condition: Any) -> Step[None]:
            yield Native("noop")

    class Conn:
        def noop(self) -> None:
            events.append("native")

    @contextmanager
    def connect() -> Iterator[Conn]:
        events.append("open")
        yield Conn()
        events.append("close")

    def blocking(fn: Any) -> Any:
        events.append("identity")
        return asyncio.run(fn())

    step = put(
        TenancyPolicy(sc), Target(), "add", ids=["x"], pids=["p"], metadatas=[{"resource_id": R1}]
    )
    await asyncio.to_thread(run_sync, step, sc, blocking=blocking, connect=connect)
    assert events == ["identity", "open", "native", "native", "close"]


def test_put_asks_whether_resources_are_registered_for_full_access_only() -> None:
    sc = scope(([], True))
    step = put(
        TenancyPolicy(sc),
        object(),
        "add",
        ids=["x"],
        pids=["p"],
        metadatas=[{"resource_id": R1}],  # type: ignore[arg-type]
    )
    assert step.send(None) == AskAccess("edit")
    assert step.send(Access("edit", True, frozenset())) == AskRegistered((R1,))
    # Not registered in the workspace: refused before the store is touched.
    with pytest.raises(AccessDeniedError):
        step.send(set())


def test_the_sync_driver_refuses_an_async_client() -> None:
    sc = scope(([uuid.UUID(R1)], False))
    step = top_k(
        TenancyPolicy(sc),
        Search(world(), "anearest"),
        k=1,
        n_queries=1,
        caller=None,
        settings=ReadSettings(),
    )
    with pytest.raises(InvalidInputError, match="async client"):
        run_sync(step, sc, blocking=lambda fn: asyncio.run(fn()))


def test_put_refuses_a_forged_workspace_before_asking_anything() -> None:
    """Bad tenancy keys are bad input: no identity question, whatever the caller may do."""
    sc = scope(([], True))
    step = put(
        TenancyPolicy(sc),
        object(),  # type: ignore[arg-type]
        "add",
        ids=["x", "y"],
        pids=["p", "q"],
        metadatas=[{"resource_id": R1}, {"resource_id": R1, WORKSPACE_KEY: str(uuid.uuid4())}],
    )
    with pytest.raises(ReservedKeyError, match="workspace"):
        step.send(None)


def test_view_first_asks_every_identity_question_before_the_probe() -> None:
    """A store whose probe locks rows (pgvector) holds no lock across a Sentinel call."""
    from sentinel_vectors.engine import reach

    class Target:
        def probe(self, pids: Sequence[str]) -> Step[dict[str, ExistingRecord]]:
            yield Native("probe")
            return {"p": ExistingRecord(WS, R2, None)}

    sc = scope(([uuid.UUID(R1)], False))
    step = reach(TenancyPolicy(sc), Target(), ids=["x"], pids=["p"], view_first=True)
    asked = [step.send(None)]
    asked.append(step.send(Access("edit", False, frozenset({R1}))))
    asked.append(step.send(Access("view", False, frozenset({R1}))))
    assert asked == [AskAccess("edit"), AskAccess("view"), Native("probe")]
    # R2 is neither editable nor visible: the record is an absent id.
    with pytest.raises(StopIteration) as done:
        step.send(None)
    assert done.value.value.positions == []
