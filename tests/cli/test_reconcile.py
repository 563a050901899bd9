"""``reconcile``: orphans found and purged on confirmation; registered resources without chunks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sentinel_vectors.testing.server import RunningEmulator
from tests.cli.conftest import BACKENDS, Row, new_id


@pytest.mark.invariant(8)
@pytest.mark.parametrize("backend", BACKENDS)
def test_invariant_8_reconcile_finds_and_purges_orphans_only(
    backend: str,
    make_side: Any,
    cli: Any,
    tmp_path: Path,
    sentinel_emulator: RunningEmulator,
    sentinel_env: dict[str, str],
) -> None:
    side = make_side(backend)
    ws, owner = new_id(), new_id()
    live, gone, empty = new_id(), new_id(), new_id()
    for rid in (live, gone, empty):
        sentinel_emulator.emulator.register(
            "document", uuid.UUID(rid), uuid.UUID(ws), uuid.UUID(owner)
        )
    rows = [
        Row(id=new_id(), workspace_id=ws, owner_id=owner, resource_id=rid, seed=i)
        for i, rid in enumerate([live, live, gone, gone, gone])
    ]
    side.put(rows)
    sentinel_emulator.emulator.deregister("document", uuid.UUID(gone))
    expected = tmp_path / "ids.txt"
    expected.write_text(f"{live}\n{empty}\n{new_id()}\n")

    found = cli("reconcile", side.url, "--expected", str(expected), "--json", env=sentinel_env)
    assert found.exit_code == 1
    report = json.loads(found.stdout)
    assert report["orphan_chunks"] == 3
    assert report["orphan_resources"] == {f"{ws}/{gone}": 3}
    assert report["registered_without_chunks"] == [empty]
    assert len(side.snapshot()) == 5

    declined = cli("reconcile", side.url, "--purge-orphans", env=sentinel_env, input="n\n")
    assert declined.exit_code == 2
    assert len(side.snapshot()) == 5

    purged = cli("reconcile", side.url, "--purge-orphans", env=sentinel_env, input="y\n")
    assert purged.exit_code == 0, purged.stderr
    assert "3 purged" in purged.stderr
    left = side.snapshot()
    assert sorted(left) == sorted(_key(side, r) for r in rows[:2])

    assert cli("reconcile", side.url, env=sentinel_env).exit_code == 0


def _key(side: Any, row: Row) -> str:
    return f"{row.workspace_id}:{row.id}" if side.backend == "pgvector" else side.key(row)
