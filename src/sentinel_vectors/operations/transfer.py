"""Moving one workspace's records: export to JSON lines, import, and a verified migrate.

The export format is one JSON object per line::

    {"id": "<caller id>", "document": "..." | null,
     "metadata": {"workspace_id": ..., "owner_id": ..., "resource_id": ..., ...},
     "embedding": [0.1, ...]}          # with embeddings=True only

The caller's id (not the stored, namespaced one) is exported, so the records can be
imported into any backend, which stores each under its own namespaced key. Stamps
travel in the metadata and are checked on import: every line must be stamped with the
workspace being imported (a file cannot write into another workspace), and, given a
:class:`~sentinel_vectors.operations.ResourceDirectory`, every resource must be
registered in it (invariant 8). A bad line is an error before anything is written.

:func:`migrate_workspace` copies directly between two stores and verifies the copy:
the counts on both sides, and a sample of nearest-neighbour queries (records' own
embeddings) that must return the same record first on both sides; the agreement of
their ``k`` nearest ids is reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.directory import ResourceDirectory
from sentinel_vectors.operations.purge import ids_digest
from sentinel_vectors.operations.stamps import read_stamp
from sentinel_vectors.operations.store import RawStore, StoredRecord

__all__ = [
    "ExportResult",
    "ImportResult",
    "MigrateResult",
    "export_workspace",
    "import_records",
    "migrate_workspace",
    "parse_export_line",
]

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportResult:
    """How many records were exported, and a digest of their ids."""

    workspace_id: str
    records: int
    ids_digest: str
    embeddings: bool


async def export_workspace(
    store: RawStore,
    workspace_id: str,
    out: IO[str],
    *,
    embeddings: bool = True,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> ExportResult:
    """Write every record stamped with ``workspace_id`` to ``out`` as JSON lines."""
    ws = canonical_uuid(workspace_id, what="workspace_id")
    ids: list[str] = []
    async for batch in store.scan(workspace_id=ws, batch_size=batch_size, embeddings=embeddings):
        for r in batch:
            line: dict[str, Any] = {
                "id": r.id,
                "document": r.document,
                "metadata": dict(r.metadata),
            }
            if embeddings:
                line["embedding"] = list(r.embedding or ())
            out.write(json.dumps(line, sort_keys=True, default=str) + "\n")
            ids.append(str(r.id))
        if progress is not None:
            progress(len(batch))
    return ExportResult(ws, len(ids), ids_digest(ids), embeddings)


def parse_export_line(line: str, number: int, workspace_id: str, resource_key: str) -> StoredRecord:
    """One export line as a record (key not yet assigned); :class:`InvalidInputError` if bad."""
    where = f"line {number}"
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise InvalidInputError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: not a JSON object")
    rid, meta, doc, emb = (data.get(k) for k in ("id", "metadata", "document", "embedding"))
    if isinstance(rid, bool) or not isinstance(rid, str | int) or rid == "":
        raise InvalidInputError(f"{where}: 'id' must be a non-empty string or an integer")
    if not isinstance(meta, dict):
        raise InvalidInputError(f"{where}: 'metadata' must be an object")
    if doc is not None and not isinstance(doc, str):
        raise InvalidInputError(f"{where}: 'document' must be a string or null")
    if emb is None:
        raise InvalidInputError(
            f"{where}: no 'embedding'; a store needs vectors: export with embeddings"
        )
    if (
        not isinstance(emb, list)
        or not emb
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in emb)
    ):
        raise InvalidInputError(f"{where}: 'embedding' must be a non-empty list of numbers")
    state, stamp = read_stamp(meta, resource_key)
    if stamp is None:
        raise InvalidInputError(f"{where}: the record's stamp is {state}")
    if stamp.workspace_id != workspace_id:
        raise InvalidInputError(
            f"{where}: the record is stamped with another workspace than {workspace_id}; "
            f"nothing was imported"
        )
    return StoredRecord(
        key="", id=rid, document=doc, metadata=meta, embedding=tuple(float(x) for x in emb)
    )


@dataclass(frozen=True)
class ImportResult:
    """How many records were written, and how many of the workspace the target holds."""

    workspace_id: str
    written: int
    target_count: int
    ids_digest: str


async def _check_registered(
    records: Sequence[StoredRecord], resource_key: str, directory: ResourceDirectory
) -> None:
    pairs = {(str(r.metadata["workspace_id"]), str(r.metadata[resource_key])) for r in records}
    known = await directory.known(pairs)
    unknown = sorted(pairs - known)
    if unknown:
        raise InvalidInputError(
            f"{len(unknown)} resource(s) are not registered with the identity service in "
            f"their workspace (e.g. {unknown[0][1]}); nothing was written (invariant 8: "
            f"nothing searchable that Sentinel does not know)"
        )


def _renamed(record: StoredRecord, old: str, new: str) -> StoredRecord:
    """``record`` with its resource stamp under ``new`` (stores may name it differently)."""
    if old == new:
        return record
    metadata = {k: v for k, v in record.metadata.items() if k != old}
    metadata[new] = record.metadata[old]
    return StoredRecord(record.key, record.id, record.document, metadata, record.embedding)


def _keyed(store: RawStore, records: Iterable[StoredRecord], ws: str) -> list[StoredRecord]:
    out = []
    for r in records:
        key = store.physical_key(ws, r.id)
        out.append(StoredRecord(key, r.id, r.document, dict(r.metadata), r.embedding))
    return out


async def import_records(
    store: RawStore,
    records: Sequence[StoredRecord],
    workspace_id: str,
    *,
    directory: ResourceDirectory | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> ImportResult:
    """Write ``records`` (of ``workspace_id``, from :func:`parse_export_line`) to ``store``.

    Every record is keyed for ``store`` and checked before the first write.
    """
    ws = canonical_uuid(workspace_id, what="workspace_id")
    for r in records:
        if r.metadata.get("workspace_id") != ws:
            raise InvalidInputError(f"record {r.id!r} is not stamped with workspace {ws}")
    keyed = _keyed(store, records, ws)
    if directory is not None:
        await _check_registered(keyed, store.resource_key, directory)
    for start in range(0, len(keyed), batch_size):
        chunk = keyed[start : start + batch_size]
        await store.write(chunk)
        if progress is not None:
            progress(len(chunk))
    return ImportResult(ws, len(keyed), await store.count(ws), ids_digest(str(r.id) for r in keyed))


@dataclass
class MigrateResult:
    """What a migrate copied and how it was verified."""

    workspace_id: str
    source: str
    target: str
    source_count: int = 0
    copied: int = 0
    target_count: int = 0
    skipped: list[str] = field(default_factory=list)
    sampled: int = 0
    found_first: int = 0
    matched: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """Counts equal, nothing skipped, and every sampled record's own embedding finds that
        record first on both sides.

        Whether all ``k`` nearest ids agree is reported (:attr:`matched`), not required:
        two approximate indexes may order near-ties differently.
        """
        return (
            self.source_count == self.target_count == self.copied
            and not self.skipped
            and self.found_first == self.sampled
        )

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "verified": self.verified}


async def migrate_workspace(
    source: RawStore,
    target: RawStore,
    workspace_id: str,
    *,
    directory: ResourceDirectory | None = None,
    batch_size: int = 500,
    sample: int = 10,
    k: int = 5,
    progress: Progress | None = None,
) -> MigrateResult:
    """Copy every record of ``workspace_id`` from ``source`` to ``target``, then verify.

    Ids, documents, metadata (stamps included) and embeddings are kept; each record is
    stored under ``target``'s namespaced key. A record whose stamp is missing or
    malformed is skipped and listed (stamp it with ``backfill`` first). With a
    ``directory``, each batch's resources must be registered in the workspace.
    Verification: the workspace's counts on both sides, and ``sample`` records'
    embeddings as queries, which must find that same record first on both sides; how
    many of them return the same ``k`` nearest ids on both sides is reported.
    """
    ws = canonical_uuid(workspace_id, what="workspace_id")
    result = MigrateResult(ws, f"{source.backend}:{source.name}", f"{target.backend}:{target.name}")
    result.source_count = await source.count(ws)
    # A first pass without vectors: every id must be storable in the target before the
    # first write (a Qdrant target takes integers, UUIDs and chunk ids only).
    async for batch in source.scan(workspace_id=ws, batch_size=max(batch_size, 500)):
        for r in batch:
            if read_stamp(r.metadata, source.resource_key)[1] is not None:
                target.physical_key(ws, r.id)
    step = max(result.source_count // max(sample, 1), 1)
    probes: list[tuple[str, tuple[float, ...]]] = []
    seen = 0
    async for batch in source.scan(workspace_id=ws, batch_size=batch_size, embeddings=True):
        good = []
        for r in batch:
            _state, stamp = read_stamp(r.metadata, source.resource_key)
            if stamp is None:
                result.skipped.append(r.key)
                continue
            if seen % step == 0 and len(probes) < sample and r.embedding:
                probes.append((str(r.id), r.embedding))
            seen += 1
            good.append(_renamed(r, source.resource_key, target.resource_key))
        keyed = _keyed(target, good, ws)
        if directory is not None and keyed:
            await _check_registered(keyed, target.resource_key, directory)
        await target.write(keyed)
        result.copied += len(keyed)
        if progress is not None:
            progress(len(batch))
    result.target_count = await target.count(ws)
    for own, probe in probes:
        left = [str(i) for i in await source.nearest(probe, k, workspace_id=ws)]
        right = [str(i) for i in await target.nearest(probe, k, workspace_id=ws)]
        result.sampled += 1
        if left[:1] == right[:1] == [own]:
            result.found_first += 1
        if set(left) == set(right):
            result.matched += 1
        else:
            result.mismatches.append({"query": own, "source": left, "target": right})
    return result
