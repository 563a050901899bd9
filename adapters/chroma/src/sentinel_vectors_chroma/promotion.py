"""Online promotion of a workspace from the shared Chroma collection to its own.

Chroma has no transaction and no lock, so the move is a protocol between the promoter
(:func:`promote_workspace`) and every tiered wrapper
(:class:`~sentinel_vectors_chroma.tiered.TieredCollection`), kept in a **placement
registry**: one collection per base, ``<base>__placement`` (:func:`registry_name`),
holding one record per workspace in motion or promoted, id = the canonical workspace
UUID, metadata ``{"state": "moving" | "promoted"}``:

============  ===================================  ====================================
state         reads                                writes
============  ===================================  ====================================
absent        the shared collection                the shared collection
``moving``    the shared collection                wait for ``promoted`` (bounded:
                                                   ``PlacementError``, 503, retryable)
``promoted``  the own ``<base>__ws_<hex>``         the own collection
============  ===================================  ====================================

**Leases.** A wrapper reads the state at the start of each operation and holds it for
at most ``lease`` seconds: every native call of the operation is issued inside that
window, or the state is read again first (still valid: the window restarts; changed: the
operation stops with :class:`~sentinel_vectors.errors.PlacementError`). The promoter's
waits are longer than any lease, which is what makes the timing safe:

1. create the own collection with the shared one's configuration and metadata;
2. set ``moving``;
3. wait ``settle`` (> lease): a write that read "absent" before step 2 has issued its
   last call by then;
4. copy the workspace's records (ids, embeddings, documents, metadatas, uris) page by
   page (upserts: a repeated copy converges);
5. verify ids and content in both collections (repairing a difference, a few rounds);
6. set ``promoted``: reads and writes go to the own collection from here;
7. wait ``grace`` (> lease): a read that planned against the shared collection before
   step 6 has issued its last call by then;
8. delete the workspace's records from the shared collection.

Every step is idempotent and a re-run resumes where a crash left off (it sleeps the
settle or grace again: it cannot know how long ago the crashed run set the state). At
no point is the workspace readable in neither collection: until step 6 every record is
in the shared one, from step 5 every record is in the own one. The registry's name is
derived from the base and a base ending in ``__placement`` or ``__ws_<hex>`` is
refused, so no caller argument and no other base can name it; record ids of tenants are
always ``"<workspace>:<id>"``, never a bare UUID, so a tenant record is never a registry
record.

The promotion is written once as a generator of native calls and pauses, run by
:func:`promote_workspace` (async; a sync or an async client) and
:func:`promote_workspace_sync`.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sentinel_vectors.access import WORKSPACE_KEY, canonical_uuid
from sentinel_vectors.engine import Native
from sentinel_vectors.errors import InvalidInputError, PlacementError, StoreUnavailableError
from sentinel_vectors.placement import dedicated_name, is_dedicated_name
from sentinel_vectors_chroma.native import ID_BATCH

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_LEASE",
    "DEFAULT_SETTLE",
    "MOVING",
    "PROMOTED",
    "REGISTRY_SUFFIX",
    "PlacementState",
    "promote_workspace",
    "promote_workspace_sync",
    "registry_name",
    "workspace_state",
    "workspace_state_sync",
]

REGISTRY_SUFFIX = "__placement"
"""What follows the base name in its placement registry's name."""

MOVING: Literal["moving"] = "moving"
"""Registry state: the promoter is copying; reads from shared, writes wait."""

PROMOTED: Literal["promoted"] = "promoted"
"""Registry state: the workspace lives in its own collection."""

PlacementState = Literal["moving", "promoted"] | None
"""A workspace's registry state (``None``: absent, the shared collection)."""

DEFAULT_LEASE = 5.0
"""Seconds a wrapper's operation may run on one reading of the registry state."""

DEFAULT_SETTLE = 15.0
"""Seconds the promoter waits after ``moving`` before copying (must exceed the lease)."""

DEFAULT_GRACE = 15.0
"""Seconds the promoter waits after ``promoted`` before deleting from the shared collection."""

PAGE = 500
"""Records per page of the copy and the verification."""

_COLUMNS = ["embeddings", "documents", "metadatas", "uris"]
_ROUNDS = 3  # verification rounds (a repair, then a check) before giving up


def registry_name(base: str) -> str:
    """The placement registry of ``base``: ``<base>__placement``.

    A base that is itself a registry or a workspace's own collection is refused, so no
    two bases share a registry and a registry is never a tenant collection.
    """
    if not isinstance(base, str) or not base:
        raise InvalidInputError("a placement base name must be a non-empty string")
    if base.endswith(REGISTRY_SUFFIX) or is_dedicated_name(base):
        raise InvalidInputError(
            f"{base!r} is a placement registry or a workspace's own collection, not a base"
        )
    return base + REGISTRY_SUFFIX


def state_of(raw: Mapping[str, Any]) -> PlacementState:
    """The state in a registry ``get`` answer (one id); an unknown state fails closed."""
    metas = raw.get("metadatas") or []
    if not raw.get("ids"):
        return None
    state = (metas[0] or {}).get("state")
    if state not in (MOVING, PROMOTED):
        raise PlacementError(
            f"the placement registry holds an unknown state {state!r} for this workspace",
            store="chroma",
        )
    return state  # type: ignore[no-any-return]


def state_record(workspace_id: str, state: Literal["moving", "promoted"]) -> dict[str, Any]:
    """Native ``upsert`` arguments setting one workspace's state in the registry."""
    return {"ids": [workspace_id], "embeddings": [[1.0]], "metadatas": [{"state": state}]}


REGISTRY_METADATA = {"sentinel_vectors": "placement registry"}
"""The registry collection's metadata (says what it is to someone listing collections)."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """A pause of the promotion (the settle and the grace)."""

    seconds: float


Effect = Native | Sleep
Promotion = Generator[Effect, Any, int]


def _call(target: Any, method: str, **kwargs: Any) -> Native:
    return Native(method, kwargs=kwargs, target=target)


def _check_wait(value: object, what: str, lease: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a number of seconds")
    if value <= lease:
        raise InvalidInputError(
            f"{what} ({value} s) must exceed the wrappers' lease ({lease} s): shorter, an "
            f"operation that read the state before the change could still be running"
        )
    return float(value)


def _promotion(
    client: Any,
    base: str,
    workspace_id: str,
    *,
    settle: float,
    grace: float,
    lease: float,
    page_size: int,
) -> Promotion:
    """The promotion of one workspace, as native calls and pauses (see the module)."""
    ws = canonical_uuid(workspace_id, what="workspace_id")
    own_name = dedicated_name(base, ws)
    registry_of = registry_name(base)
    if isinstance(lease, bool) or not isinstance(lease, int | float) or lease <= 0:
        raise InvalidInputError("lease must be a positive number of seconds")
    settle, grace = _check_wait(settle, "settle", lease), _check_wait(grace, "grace", lease)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise InvalidInputError("page_size must be a positive int")
    page_size = min(page_size, ID_BATCH)
    try:
        shared = yield _call(client, "get_collection", name=base, embedding_function=None)
    except Exception as exc:
        if "does not exist" in str(exc) or "NotFound" in type(exc).__name__:
            raise InvalidInputError(f"Chroma collection {base!r} does not exist") from exc
        raise
    registry = yield _call(
        client,
        "get_or_create_collection",
        name=registry_of,
        embedding_function=None,
        metadata=REGISTRY_METADATA,
    )
    state = state_of((yield _call(registry, "get", ids=[ws], include=["metadatas"])))
    mine = {WORKSPACE_KEY: {"$eq": ws}}
    moved = 0
    if state != PROMOTED:
        own = yield _call(
            client,
            "get_or_create_collection",
            name=own_name,
            configuration=shared.configuration,
            metadata=shared.metadata,
            embedding_function=None,
        )
        if state is None:
            yield _call(registry, "upsert", **state_record(ws, MOVING))
        # Also on a resume: the crashed run's settle may not have passed.
        yield Sleep(settle)
        for _ in range(_ROUNDS):
            copied, clean = yield from _sync_pages(shared, own, mine, page_size)
            moved = max(moved, copied)
            if clean:
                break
            # Another promoter may have finished meanwhile: never repair against it.
            now = state_of((yield _call(registry, "get", ids=[ws], include=["metadatas"])))
            if now == PROMOTED:
                return 0
        else:
            raise PlacementError(
                f"the copy of workspace {ws} did not verify after {_ROUNDS} rounds; it "
                f"stays in the shared collection (state 'moving': its writes wait). Re-run "
                f"the promotion; if it fails again, another writer ignores the registry",
                store="chroma",
            )
        yield _call(registry, "upsert", **state_record(ws, PROMOTED))
    left = yield _call(shared, "get", where=mine, limit=1, include=[])
    if not left["ids"]:
        return moved
    yield Sleep(grace)
    while True:
        batch = yield _call(shared, "get", where=mine, limit=ID_BATCH, include=[])
        if not batch["ids"]:
            return moved
        yield _call(shared, "delete", ids=list(batch["ids"]))


def _sync_pages(
    shared: Any, own: Any, where: Mapping[str, Any], page_size: int
) -> Generator[Effect, Any, tuple[int, bool]]:
    """Copy the workspace's records page by page, fixing what differs; ``(n, clean)``.

    ``clean``: nothing had to be written or removed (the own collection already held
    exactly the shared records, content included), so the copy is verified.
    """
    seen: set[str] = set()
    clean = True
    offset = 0
    while True:
        page = yield _call(
            shared, "get", where=where, limit=page_size, offset=offset, include=_COLUMNS
        )
        rows = _rows(page)
        if not rows:
            break
        offset += len(rows)
        ids = [r["id"] for r in rows]
        seen.update(ids)
        held = {r["id"]: r for r in _rows((yield _call(own, "get", ids=ids, include=_COLUMNS)))}
        stale = [r for r in rows if not _same(held.get(r["id"]), r)]
        if stale:
            clean = False
            for columns in _upserts(stale):
                yield _call(own, "upsert", **columns)
    # Records in the own collection that the shared one does not hold (none, unless a
    # writer ignored the registry): removed, so the two agree exactly.
    offset = 0
    extra: list[str] = []
    while True:
        page = yield _call(own, "get", limit=ID_BATCH, offset=offset, include=[])
        if not page["ids"]:
            break
        offset += len(page["ids"])
        extra += [i for i in page["ids"] if i not in seen]
    if extra:
        clean = False
        for start in range(0, len(extra), ID_BATCH):
            yield _call(own, "delete", ids=extra[start : start + ID_BATCH])
    return len(seen), clean


# How far a copied embedding may be from the original and still verify. Chroma
# normalizes the vectors of a cosine collection on write; copying a normalized vector
# normalizes it again, which can change the last bit of a float32 component (~6e-8
# relative). Far below any change a write could make that would matter to a search.
_EMBEDDING_TOLERANCE = 1e-6


def _same(held: dict[str, Any] | None, row: dict[str, Any]) -> bool:
    """Whether the own collection's copy ``held`` matches the shared ``row``: every
    column equal, the embedding within float32 rounding of a re-normalization."""
    if held is None:
        return False
    if any(held[c] != row[c] for c in row if c != "embeddings"):
        return False
    a, b = held["embeddings"], row["embeddings"]
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=_EMBEDDING_TOLERANCE, abs_tol=_EMBEDDING_TOLERANCE)
        for x, y in zip(a, b, strict=True)
    )


def _plain(value: Any) -> Any:
    """A numpy vector as a list of floats (comparable), anything else as it is."""
    if value is None or isinstance(value, str | dict):
        return value
    return [float(x) for x in value]


def _rows(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A ``get`` answer as one dict per record (missing columns as ``None``)."""
    ids = list(raw.get("ids") or [])
    out: list[dict[str, Any]] = []
    for i, pid in enumerate(ids):
        row: dict[str, Any] = {"id": pid}
        for column in _COLUMNS:
            values = raw.get(column)
            value = None if values is None else values[i]
            row[column] = _plain(value) if column == "embeddings" else value
        out.append(row)
    return out


def _upserts(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Native ``upsert`` arguments for rows: one call per set of columns present."""
    groups: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["documents"] is not None, row["uris"] is not None), []).append(row)
    calls = []
    for (docs, uris), group in groups.items():
        call: dict[str, Any] = {
            "ids": [r["id"] for r in group],
            "embeddings": [r["embeddings"] for r in group],
            "metadatas": [r["metadatas"] for r in group],
        }
        if docs:
            call["documents"] = [r["documents"] for r in group]
        if uris:
            call["uris"] = [r["uris"] for r in group]
        calls.append(call)
    return calls


def _translate(exc: Exception, effect: Native) -> BaseException:
    from sentinel_vectors.errors import is_store_outage

    if is_store_outage(exc):
        return StoreUnavailableError(
            f"Chroma could not be reached during the promotion's {effect.method}() "
            f"({type(exc).__name__}: {exc}); re-run it to resume",
            store="chroma",
        )
    return exc


def promote_workspace_sync(
    client: Any,
    base: str,
    workspace_id: str,
    *,
    settle: float = DEFAULT_SETTLE,
    grace: float = DEFAULT_GRACE,
    lease: float = DEFAULT_LEASE,
    page_size: int = PAGE,
) -> int:
    """Move ``workspace_id`` from the collection ``base`` into ``<base>__ws_<hex>``, online.

    ``client`` is a sync ``chromadb`` client (``HttpClient``, ``PersistentClient``).
    Reads of the workspace go on throughout (the shared collection until the switch,
    its own after: never both, never neither); its writes wait from the start of the
    copy to the switch (``write_wait`` of the wrappers, then a retryable
    :class:`~sentinel_vectors.errors.PlacementError`). ``settle`` and ``grace`` must
    exceed the wrappers' ``lease`` (the same defaults); see the module for the protocol.
    Idempotent, and resumes a crashed run. Returns how many records the call copied
    (0 when the workspace was already promoted).
    """
    run = _promotion(
        client, base, workspace_id, settle=settle, grace=grace, lease=lease, page_size=page_size
    )
    answer: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                effect = run.send(answer) if error is None else run.throw(error)
            except StopIteration as done:
                return int(done.value)
            answer, error = None, None
            if isinstance(effect, Sleep):
                time.sleep(effect.seconds)
                continue
            try:
                answer = getattr(effect.target, effect.method)(*effect.args, **effect.kwargs)
            except Exception as exc:
                error = _translate(exc, effect)
    finally:
        run.close()


async def promote_workspace(
    client: Any,
    base: str,
    workspace_id: str,
    *,
    settle: float = DEFAULT_SETTLE,
    grace: float = DEFAULT_GRACE,
    lease: float = DEFAULT_LEASE,
    page_size: int = PAGE,
) -> int:
    """The async form of :func:`promote_workspace_sync`.

    ``client`` is a ``chromadb.AsyncHttpClient`` (awaited) or a sync client (its calls
    run in a worker thread); the pauses are ``asyncio.sleep``.
    """
    run = _promotion(
        client, base, workspace_id, settle=settle, grace=grace, lease=lease, page_size=page_size
    )
    answer: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                effect = run.send(answer) if error is None else run.throw(error)
            except StopIteration as done:
                return int(done.value)
            answer, error = None, None
            if isinstance(effect, Sleep):
                await asyncio.sleep(effect.seconds)
                continue
            try:
                fn = getattr(effect.target, effect.method)
                if inspect.iscoroutinefunction(fn):
                    answer = await fn(*effect.args, **effect.kwargs)
                else:
                    answer = await asyncio.to_thread(fn, *effect.args, **effect.kwargs)
            except Exception as exc:
                error = _translate(exc, effect)
    finally:
        run.close()


def workspace_state_sync(client: Any, base: str, workspace_id: str) -> PlacementState:
    """The registry state of ``workspace_id`` under ``base`` (``None``: shared)."""
    ws = canonical_uuid(workspace_id, what="workspace_id")
    registry = client.get_or_create_collection(
        registry_name(base), embedding_function=None, metadata=REGISTRY_METADATA
    )
    return state_of(registry.get(ids=[ws], include=["metadatas"]))


async def workspace_state(client: Any, base: str, workspace_id: str) -> PlacementState:
    """The async form of :func:`workspace_state_sync` (an async or a sync client)."""
    if not inspect.iscoroutinefunction(client.get_or_create_collection):
        return await asyncio.to_thread(workspace_state_sync, client, base, workspace_id)
    ws = canonical_uuid(workspace_id, what="workspace_id")
    registry = await client.get_or_create_collection(
        registry_name(base), embedding_function=None, metadata=REGISTRY_METADATA
    )
    return state_of(await registry.get(ids=[ws], include=["metadatas"]))
