"""``backfill``: legacy records stamped, nothing lost or duplicated, resumable, idempotent."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sentinel_vectors.testing.server import RunningEmulator
from tests.cli import mappings
from tests.cli.conftest import Row, new_id

FIELDS = ("--workspace-field", "tenant", "--owner-field", "author", "--resource-field", "doc")


def _legacy(n: int, workspaces: list[str], owner: str, resources: list[str]) -> list[Row]:
    return [
        Row(
            id=str(uuid.UUID(int=1000 + i)),  # a UUID: valid on every backend
            document=f"legacy {i}",
            meta={
                "tenant": workspaces[i % len(workspaces)],
                "author": owner,
                "doc": resources[i % len(resources)],
                "page": i,
            },
            seed=i,
        )
        for i in range(n)
    ]


def _members(emulator: RunningEmulator, workspaces: list[str], owner: str) -> None:
    for ws in workspaces:  # registration over HTTP needs the workspace and the owner
        emulator.emulator.add_member(uuid.UUID(ws), uuid.UUID(owner), "editor")


@pytest.mark.invariant(8)
@pytest.mark.parametrize("backend", ["chroma", "qdrant"])
def test_backfill_interrupted_mid_run_resumes_with_nothing_lost_or_duplicated(
    backend: str,
    make_side: Any,
    cli: Any,
    tmp_path: Path,
    sentinel_emulator: RunningEmulator,
    sentinel_env: dict[str, str],
) -> None:
    side = make_side(backend)
    workspaces, owner = [new_id(), new_id()], new_id()
    resources = [new_id() for _ in range(4)]
    _members(sentinel_emulator, workspaces, owner)
    legacy = _legacy(23, workspaces, owner, resources)
    side.put(legacy)
    before = side.snapshot()
    checkpoint = tmp_path / "backfill.json"
    args = (
        "backfill",
        side.url,
        "--mapping",
        "tests.cli.mappings:stamp_or_crash",
        "--register",
        "workspace",
        "--batch-size",
        "5",
        "--checkpoint",
        str(checkpoint),
    )

    dry = cli(*args[:-2], "--dry-run", "--json", env=sentinel_env)
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["stamped"] == 23
    assert side.snapshot() == before

    mappings.CRASH.update(at=13, seen=0)  # dies in the third batch
    try:
        crashed = cli(*args, env=sentinel_env)
    finally:
        mappings.CRASH.update(at=None, seen=0)
    assert crashed.exit_code == 3, crashed.stderr
    assert "power cut" in crashed.stderr
    assert "resume" in crashed.stderr
    saved = json.loads(checkpoint.read_text())
    assert (saved["batches"], saved["stamped"], saved["finished"]) == (2, 10, False)
    assert len(side.snapshot()) == 23  # nothing lost: 10 stamped copies, 13 originals

    resumed = cli(*args, "--json", env=sentinel_env)
    assert resumed.exit_code == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_after"] == saved["last_key"]
    assert (summary["stamped"], summary["removed_originals"]) == (23, 23)
    assert (summary["source_before"], summary["source_after"]) == (23, 23)
    assert summary["registered"] == 4 * 2 - 4  # each resource registered in its one workspace

    after = side.snapshot()
    expected = {side.key(Row(id=r.id, workspace_id=r.meta["tenant"])): r for r in legacy}
    assert sorted(after) == sorted(expected)  # every record once, under its namespaced id
    by_old = {r.id: before[side.key(r)] for r in legacy}
    for key, row in expected.items():
        if backend == "chroma":
            doc, meta, emb = after[key]
            assert doc == row.document
            assert emb == pytest.approx(by_old[row.id][2], abs=1e-6)
        else:
            meta, emb = after[key]
            assert emb == pytest.approx(by_old[row.id][1], abs=1e-6)
        stamp = json.loads(meta)
        assert (stamp["workspace_id"], stamp["owner_id"], stamp["resource_id"]) == (
            row.meta["tenant"],
            owner,
            row.meta["doc"],
        )
        assert stamp["page"] == row.meta["page"]
    for ws in workspaces:  # Sentinel knows every resource, in the stamped workspace
        for r in {row.meta["doc"] for row in legacy if row.meta["tenant"] == ws}:
            record = sentinel_emulator.emulator.get("document", uuid.UUID(r))
            assert record is not None
    check = cli("check", side.url, "--json", env=sentinel_env)
    assert check.exit_code == 0, check.stdout

    again = cli(*args, "--json", env=sentinel_env)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["todo"] == 0
    assert side.snapshot() == after


def test_backfill_leaves_what_it_cannot_stamp(
    make_side: Any, cli: Any, sentinel_emulator: RunningEmulator, sentinel_env: dict[str, str]
) -> None:
    side = make_side("chroma")
    ws, owner, other_ws = new_id(), new_id(), new_id()
    known, unknown, foreign = new_id(), new_id(), new_id()
    sentinel_emulator.emulator.register(
        "document", uuid.UUID(known), uuid.UUID(ws), uuid.UUID(owner)
    )
    sentinel_emulator.emulator.register(
        "document", uuid.UUID(foreign), uuid.UUID(other_ws), uuid.UUID(owner)
    )
    side.put(
        [
            Row(id="ok", meta={"tenant": ws, "author": owner, "doc": known}, seed=1),
            Row(id="no-fields", meta={"x": 1}, seed=2),
            Row(id="not-uuid", meta={"tenant": "acme", "author": owner, "doc": known}, seed=3),
            Row(id="unknown", meta={"tenant": ws, "author": owner, "doc": unknown}, seed=4),
            Row(id="foreign", meta={"tenant": ws, "author": owner, "doc": foreign}, seed=5),
        ]
    )
    result = cli("backfill", side.url, *FIELDS, "--json", env=sentinel_env)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["stamped"], summary["unmapped"]) == (1, 2)
    assert (summary["unknown_resource"], summary["foreign_resource"]) == (1, 1)
    keys = set(side.snapshot())
    assert keys == {f"{ws}:ok", "no-fields", "not-uuid", "unknown", "foreign"}
    assert sentinel_emulator.emulator.get("document", uuid.UUID(unknown)) is None
    foreign_record = sentinel_emulator.emulator.get("document", uuid.UUID(foreign))
    assert foreign_record is not None
    assert str(foreign_record.workspace_id) == other_ws


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mapping", "no_such_module_xyz:f"), "cannot be imported"),
        (("--mapping", "tests.cli.mappings"), "module:function"),
        (("--mapping", "tests.cli.mappings:nope"), "has no"),
        (("--mapping", "tests.cli.mappings:not_callable"), "not callable"),
        (("--workspace-field", "tenant", "--owner-field", "a"), "--resource-field"),
        (("--mapping", "tests.cli.mappings:stamp_or_crash", "--owner-field", "a"), "combined"),
    ],
)
def test_bad_mappings_get_a_clear_error(cli: Any, args: tuple[str, ...], message: str) -> None:
    result = cli("backfill", "chroma://localhost:1/none", *args, "--dry-run")
    assert result.exit_code == 2
    assert message in result.stderr


def test_backfill_without_sentinel_settings_is_refused(cli: Any) -> None:
    result = cli("backfill", "chroma://localhost:1/none", *FIELDS)
    assert result.exit_code == 2
    assert "SENTINEL_URL" in result.stderr


def test_backfill_into_a_pgvector_chunk_table_keeps_the_source(
    make_side: Any, cli: Any, sentinel_emulator: RunningEmulator, sentinel_env: dict[str, str]
) -> None:
    chroma, pg = make_side("chroma"), make_side("pgvector")
    ws, owner = new_id(), new_id()
    _members(sentinel_emulator, [ws], owner)
    legacy = _legacy(6, [ws], owner, [new_id(), new_id()])
    chroma.put(legacy)
    before = chroma.snapshot()
    result = cli(
        "backfill",
        chroma.url,
        "--into",
        pg.url,
        "--workspace-id",
        ws,
        "--owner-field",
        "author",
        "--resource-field",
        "doc",
        "--register",
        "private",
        "--json",
        env=sentinel_env,
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["stamped"], summary["removed_originals"]) == (6, 0)
    assert (summary["target_before"], summary["target_after"]) == (0, 6)
    assert chroma.snapshot() == before  # the source is kept
    rows = pg.snapshot()
    assert sorted(rows) == sorted(f"{ws}:{r.id}" for r in legacy)
    record = sentinel_emulator.emulator.get("document", uuid.UUID(legacy[0].meta["doc"]))
    assert record is not None
    assert record.visibility == "private"


class _DiesOnFirstDelete:
    """A real raw store whose first delete fails, as a crash between write and delete."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete(self, keys: Any) -> None:
        if self.armed:
            self.armed = False
            raise RuntimeError("power cut between write and delete")
        await self.inner.delete(keys)


def test_backfill_redoes_a_batch_written_but_not_finished(
    make_side: Any, tmp_path: Path, sentinel_emulator: RunningEmulator
) -> None:
    from sentinel_vectors.operations import ResourceDirectory
    from sentinel_vectors.operations.backfill import backfill
    from sentinel_vectors.operations.mapping import FieldMapping, FieldSource
    from sentinel_vectors_chroma.rawstore import ChromaRawStore

    side = make_side("chroma")
    ws, owner = new_id(), new_id()
    _members(sentinel_emulator, [ws], owner)
    legacy = _legacy(12, [ws], owner, [new_id()])
    side.put(legacy)
    mapper = FieldMapping(FieldSource("tenant"), FieldSource("author"), FieldSource("doc"))
    checkpoint = tmp_path / "cp.json"

    async def run(store: Any) -> Any:
        client = sentinel_emulator.permission_client()
        try:
            return await backfill(
                store,
                mapper,
                mapping=mapper.describe(),
                register="workspace",
                directory=ResourceDirectory(client, "document"),
                batch_size=5,
                checkpoint=checkpoint,
            )
        finally:
            await client.close()

    real = ChromaRawStore(side.collection)
    with pytest.raises(RuntimeError, match="power cut"):
        asyncio.run(run(_DiesOnFirstDelete(real)))
    assert len(side.snapshot()) == 17  # 12 originals + the first batch's 5 copies
    result = asyncio.run(run(real))
    assert (result.stamped, result.removed_originals, result.collisions) == (12, 12, 0)
    after = side.snapshot()
    assert sorted(after) == sorted(f"{ws}:{r.id}" for r in legacy)  # no duplicate, no loss
