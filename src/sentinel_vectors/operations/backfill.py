"""``backfill``: stamp the records of an existing, unscoped collection.

For every record that is not yet a properly stamped record of the target (stamp
missing or malformed, or stored outside its workspace's namespace), the mapping gives
its stamp; the stamped copy is written under the target's namespaced key, **read back
and compared**, and only then is the original removed (in place; with a separate
target the source is left as it is). Nothing is lost:

- a record the mapping cannot stamp, whose resource the identity service does not know
  (without ``register``), or whose resource is registered in another workspace, is
  left untouched and counted;
- a copy that would replace a different record already stored under its key is not
  written (a collision), and the original stays;
- a batch whose read-back differs stops the run before any original of it is removed.

Resumable: keys are processed in sorted order, and after each batch a checkpoint file
records the last key done and the counters. An interrupted run resumes after that key;
a batch that was written but not finished is redone (writes are upserts of the same
copies, originals are removed once), so nothing is lost or duplicated. A second run
over a finished collection finds nothing to do (idempotent).

Resources: with ``register`` set to a visibility (``"private"`` / ``"workspace"``),
unknown resources are registered with the service key, owned by the stamp's owner, in
the stamp's workspace, before any of their chunks is written (invariant 8).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sentinel_vectors.errors import InvalidInputError, WriteConflictError
from sentinel_vectors.operations.directory import ResourceDirectory
from sentinel_vectors.operations.errors import MappingError
from sentinel_vectors.operations.mapping import Mapper, as_stamp
from sentinel_vectors.operations.purge import utc_now
from sentinel_vectors.operations.stamps import Stamp, read_stamp, stamped
from sentinel_vectors.operations.store import RawStore, StoredRecord

__all__ = ["BackfillResult", "backfill", "needs_backfill"]

CHECKPOINT_VERSION = 1


@dataclass
class BackfillResult:
    """Counters of a backfill (cumulative over resumed runs) and the counts around it."""

    source: str
    target: str
    mapping: str
    dry_run: bool = False
    source_before: int = 0
    target_before: int = 0
    source_after: int = 0
    target_after: int = 0
    todo: int = 0
    stamped: int = 0
    removed_originals: int = 0
    unmapped: int = 0
    unknown_resource: int = 0
    foreign_resource: int = 0
    collisions: int = 0
    registered: int = 0
    batches: int = 0
    resumed_after: str | None = None
    last_key: str | None = None
    finished: bool = False
    started_at: str = field(default_factory=utc_now)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def left_behind(self) -> int:
        """Records the run could not stamp (they are still stored as they were)."""
        return self.unmapped + self.unknown_resource + self.foreign_resource + self.collisions

    def note(self, kind: str, key: str) -> None:
        """Count one record left behind, keeping a few example keys."""
        setattr(self, kind, getattr(self, kind) + 1)
        keys = self.examples.setdefault(kind, [])
        if len(keys) < 5:
            keys.append(key)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "left_behind": self.left_behind}


def needs_backfill(store: RawStore, record: StoredRecord) -> bool:
    """Whether ``record`` is not (yet) a stamped record stored under its namespaced key."""
    _, stamp = read_stamp(record.metadata, store.resource_key)
    if stamp is None:
        return True
    try:
        return store.physical_key(stamp.workspace_id, record.id) != record.key
    except InvalidInputError:
        return True


def _load_checkpoint(path: Path, result: BackfillResult) -> None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"checkpoint {path} is not readable JSON ({exc})") from exc
    if data.get("version") != CHECKPOINT_VERSION or any(
        data.get(k) != getattr(result, k) for k in ("source", "target", "mapping", "dry_run")
    ):
        raise InvalidInputError(
            f"checkpoint {path} belongs to another backfill (source, target, mapping or dry "
            f"run differ); remove it or pass another --checkpoint"
        )
    if data.get("finished"):
        return  # a finished run: start again (idempotent: finds nothing done twice)
    for name in (
        "source_before",
        "target_before",
        "stamped",
        "removed_originals",
        "unmapped",
        "unknown_resource",
        "foreign_resource",
        "collisions",
        "registered",
        "batches",
        "started_at",
        "examples",
    ):
        if name in data:
            setattr(result, name, data[name])
    result.resumed_after = data.get("last_key")
    result.last_key = result.resumed_after


def _save_checkpoint(path: Path, result: BackfillResult) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"version": CHECKPOINT_VERSION, **result.as_json()}, indent=2))
    os.replace(tmp, path)  # atomic: a crash leaves the old checkpoint or the new one


def _same(a: StoredRecord, b: StoredRecord) -> bool:
    """Whether two records hold the same document, metadata and (close) embedding."""
    if a.document != b.document or dict(a.metadata) != dict(b.metadata):
        return False
    if a.embedding is None or b.embedding is None:
        return a.embedding is b.embedding
    if len(a.embedding) != len(b.embedding):
        return False
    # Qdrant stores cosine collections' vectors normalised: the direction is what must
    # survive (float32 rounding aside), and for the other stores the values themselves.
    na, nb = math.hypot(*a.embedding), math.hypot(*b.embedding)
    if na == 0 or nb == 0:
        return na == nb
    cosine = sum(x * y for x, y in zip(a.embedding, b.embedding, strict=True)) / (na * nb)
    return cosine > 1 - 1e-6


async def backfill(
    source: RawStore,
    mapper: Mapper,
    *,
    mapping: str,
    directory: ResourceDirectory | None,
    target: RawStore | None = None,
    register: str | None = None,
    dry_run: bool = False,
    batch_size: int = 200,
    checkpoint: Path | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Stamp ``source``'s legacy records (in place, or into ``target``); see the module doc.

    ``mapping`` describes ``mapper`` (kept in the checkpoint: a resumed run must use the
    same one). ``directory`` is required unless ``dry_run`` (fail closed: no chunk of a
    resource the identity service does not know is written). ``on_start(n)`` is told how
    many records are to do, ``progress(n)`` after each batch.
    """
    dest = target if target is not None else source
    in_place = target is None or target is source
    if directory is None and not dry_run:
        raise InvalidInputError(
            "backfill needs Sentinel settings to check (or --register) each resource; only a "
            "dry run can go without"
        )
    result = BackfillResult(
        f"{source.backend}:{source.name}", f"{dest.backend}:{dest.name}", mapping, dry_run
    )
    if checkpoint is not None and checkpoint.exists():  # noqa: ASYNC240 - a small local file
        _load_checkpoint(checkpoint, result)
    if result.resumed_after is None:
        result.source_before = await source.count()
        result.target_before = result.source_before if in_place else await dest.count()
        result.stamped = result.removed_originals = result.batches = result.registered = 0
    todo: list[str] = []
    async for batch in source.scan(batch_size=max(batch_size, 500)):
        for r in batch:
            if (not in_place or needs_backfill(source, r)) and (
                result.resumed_after is None or r.key > result.resumed_after
            ):
                todo.append(r.key)
    todo.sort()
    result.todo = len(todo)
    if on_start is not None:
        on_start(len(todo))
    for start in range(0, len(todo), batch_size):
        keys = todo[start : start + batch_size]
        await _one_batch(source, dest, in_place, mapper, directory, register, dry_run, keys, result)
        result.batches += 1
        result.last_key = keys[-1]
        if checkpoint is not None and not dry_run:
            _save_checkpoint(checkpoint, result)
        if progress is not None:
            progress(len(keys))
    result.source_after = await source.count()
    result.target_after = result.source_after if in_place else await dest.count()
    result.finished = True
    if checkpoint is not None and not dry_run:
        _save_checkpoint(checkpoint, result)
    return result


async def _resources_ok(
    pending: list[tuple[StoredRecord, Stamp]],
    directory: ResourceDirectory | None,
    register: str | None,
    dry_run: bool,
    result: BackfillResult,
) -> list[tuple[StoredRecord, Stamp]]:
    if directory is None:
        return pending  # dry run without Sentinel: resources are not checked
    pairs = {(s.workspace_id, s.resource_id): s for _, s in pending}
    known = await directory.known(pairs)
    foreign: set[tuple[str, str]] = set()
    unknown: set[tuple[str, str]] = set()
    missing = sorted(pair for pair in pairs if pair not in known)
    records = await asyncio.gather(*(directory.lookup(rid) for _, rid in missing))
    to_register = []
    for pair, existing in zip(missing, records, strict=True):
        if existing is not None:
            foreign.add(pair)  # registered, but in another workspace: never claim it
        elif register is None or dry_run:
            unknown.add(pair)
        else:
            to_register.append(pair)
    if register is not None and to_register:
        answers = await asyncio.gather(
            *(directory.register(pairs[pair], register) for pair in to_register)
        )
        for pair, answer in zip(to_register, answers, strict=True):
            if answer.workspace_id != pair[0]:
                foreign.add(pair)
            else:
                result.registered += 1
    ok = []
    for record, stamp in pending:
        pair = (stamp.workspace_id, stamp.resource_id)
        if pair in foreign:
            result.note("foreign_resource", record.key)
        elif pair in unknown and not (dry_run and register is not None):
            result.note("unknown_resource", record.key)
        else:
            ok.append((record, stamp))
    return ok


async def _one_batch(
    source: RawStore,
    dest: RawStore,
    in_place: bool,
    mapper: Mapper,
    directory: ResourceDirectory | None,
    register: str | None,
    dry_run: bool,
    keys: Sequence[str],
    result: BackfillResult,
) -> None:
    originals = await source.fetch(keys, embeddings=True)
    pending: list[tuple[StoredRecord, Stamp]] = []
    for record in originals:
        # A valid stamp is kept (the record is only re-keyed); the mapping is for the rest.
        _, stamp = read_stamp(record.metadata, source.resource_key)
        if stamp is None:
            try:
                stamp = as_stamp(mapper(record))
            except (MappingError, ValueError):
                stamp = None
        if stamp is None:
            result.note("unmapped", record.key)
        else:
            pending.append((record, stamp))
    pending = await _resources_ok(pending, directory, register, dry_run, result)
    copies: dict[str, tuple[StoredRecord, StoredRecord]] = {}
    for record, stamp in pending:
        try:
            key = dest.physical_key(stamp.workspace_id, record.id)
        except InvalidInputError:
            result.note("unmapped", record.key)
            continue
        copy = stamped(record, stamp, key=key, record_id=record.id, resource_key=dest.resource_key)
        if key in copies:
            result.note("collisions", record.key)
            continue
        copies[key] = (record, copy)
    stored = {r.key: r for r in await dest.fetch(list(copies), embeddings=True)}
    for key, (record, copy) in list(copies.items()):
        there = stored.get(key)
        # Another record already lives under the copy's key: never overwrite it.
        if there is not None and not (in_place and key == record.key) and not _same(there, copy):
            result.note("collisions", record.key)
            del copies[key]
    if dry_run:
        result.stamped += len(copies)
        return
    written = [copy for _, copy in copies.values()]
    await dest.write(written)
    back = {r.key: r for r in await dest.fetch(list(copies), embeddings=True)}
    bad = [c.key for c in written if c.key not in back or not _same(back[c.key], c)]
    if bad:
        raise WriteConflictError(
            f"the stamped copies of {len(bad)} record(s) did not read back as written (e.g. "
            f"{bad[0]!r}); no original of this batch was removed. Resume from the checkpoint."
        )
    result.stamped += len(written)
    if in_place:
        stale = [record.key for key, (record, _) in copies.items() if record.key != key]
        await source.delete(stale)
        result.removed_originals += len(stale)
