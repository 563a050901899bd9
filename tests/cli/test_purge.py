"""``purge-workspace``: one workspace's records go, every other record stays byte-identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sentinel_vectors.operations import ids_digest
from tests.cli.conftest import BACKENDS, Row, new_id


def _rows(ws: str, owner: str, resource: str, ids: list[str], seed: int) -> list[Row]:
    return [
        Row(
            id=i,
            workspace_id=ws,
            owner_id=owner,
            resource_id=resource,
            document=f"d {i}",
            meta={"n": n},
            seed=seed + n,
        )
        for n, i in enumerate(ids)
    ]


@pytest.mark.invariant(8)
@pytest.mark.parametrize("backend", BACKENDS)
def test_invariant_8_purge_workspace_deletes_it_all_and_nothing_else(
    backend: str, make_side: Any, cli: Any, tmp_path: Path
) -> None:
    side = make_side(backend)
    gone, kept = new_id(), new_id()
    # The same caller ids in both workspaces: the purge must not reach the other's.
    ids = [new_id() for _ in range(7)]
    side.put(_rows(gone, new_id(), new_id(), ids, 0) + _rows(kept, new_id(), new_id(), ids, 50))
    before = side.snapshot()
    others = {k: v for k, v in before.items() if k not in _keys(side, gone, ids)}
    assert len(others) == 7

    refused = cli("purge-workspace", side.url, "--workspace", gone)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert side.snapshot() == before

    receipt = tmp_path / "receipt.json"
    done = cli("purge-workspace", side.url, "-w", gone, "--yes", "--receipt", str(receipt))
    assert done.exit_code == 0, done.stderr
    assert side.snapshot() == others  # byte-identical: keys, documents, metadata, vectors
    doc = json.loads(receipt.read_text())
    (store,) = doc["stores"]
    assert doc["workspace_id"] == gone
    assert (store["total_before"], store["deleted"], store["total_after"]) == (14, 7, 7)
    assert (store["workspace_before"], store["workspace_after"]) == (7, 0)
    assert store["complete"] is True
    assert store["deleted_ids_digest"] == ids_digest(_keys(side, gone, ids))
    assert store["started_at"] <= store["finished_at"]

    again = cli("purge-workspace", side.url, "-w", gone, "--yes", "--receipt", str(receipt))
    assert again.exit_code == 0, again.stderr
    (store,) = json.loads(receipt.read_text())["stores"]
    assert (store["deleted"], store["total_after"]) == (0, 7)
    assert store["deleted_ids_digest"] == ids_digest([])
    assert side.snapshot() == others


def _keys(side: Any, ws: str, ids: list[str]) -> list[str]:
    if side.backend == "pgvector":
        return [f"{ws}:{i}" for i in ids]
    return [side.key(Row(id=i, workspace_id=ws)) for i in ids]


def test_purge_refuses_a_workspace_that_is_not_a_uuid(cli: Any) -> None:
    result = cli("purge-workspace", "chroma://localhost:1/x", "-w", "acme", "--yes")
    assert result.exit_code == 2
    assert "UUID" in result.stderr
