"""``export-workspace``, ``import-workspace``, ``migrate``: ids, stamps and resources kept."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import chromadb
import pytest

from sentinel_vectors.testing.server import RunningEmulator
from tests.cli.conftest import Row, new_id


def _world(emulator: RunningEmulator, n: int = 12) -> tuple[str, list[Row], list[Row]]:
    ws, owner = new_id(), new_id()
    resources = [new_id() for _ in range(3)]
    for rid in resources:
        emulator.emulator.register("document", uuid.UUID(rid), uuid.UUID(ws), uuid.UUID(owner))
    mine = [
        Row(
            id=new_id(),
            workspace_id=ws,
            owner_id=owner,
            resource_id=resources[i % 3],
            document=f"chunk {i}",
            meta={"topic": f"t{i % 2}", "n": i},
            seed=i,
        )
        for i in range(n)
    ]
    other = [Row(id=new_id(), workspace_id=new_id(), owner_id=owner, resource_id=new_id(), seed=99)]
    return ws, mine, other


def _records(snapshot: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: snapshot[k] for k in keys}


def _close(a: list[float], b: list[float]) -> bool:
    return all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True))


def test_migrate_round_trip_across_all_three_backends_keeps_everything(
    make_side: Any,
    cli: Any,
    chroma_http: Any,
    tmp_path: Path,
    sentinel_emulator: RunningEmulator,
    sentinel_env: dict[str, str],
) -> None:
    chroma = make_side("chroma")
    pg = make_side("pgvector")
    ws, mine, other = _world(sentinel_emulator)
    chroma.put(mine + other)
    original = chroma.snapshot()

    hop1 = cli("migrate", chroma.url, pg.url, "-w", ws, "--json", env=sentinel_env)
    assert hop1.exit_code == 0, hop1.stderr
    report = json.loads(hop1.stdout)
    assert report["verified"] is True
    assert (report["source_count"], report["copied"], report["target_count"]) == (12, 12, 12)
    assert report["sampled"] == report["found_first"] == report["matched"] > 0
    assert len(pg.snapshot()) == 12  # the other workspace stayed behind

    qdrant = f"qdrant+local://{tmp_path}/q/docs"
    hop2 = cli("migrate", pg.url, qdrant, "-w", ws, "--create")
    assert hop2.exit_code == 0, hop2.stderr
    name = f"back-{uuid.uuid4().hex[:8]}"
    back_url = f"chroma://{chroma_http.host}:{chroma_http.port}/{name}"
    hop3 = cli("migrate", qdrant, back_url, "-w", ws, "--create")
    assert hop3.exit_code == 0, hop3.stderr

    client = chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    try:
        got = client.get_collection(name).get(include=["documents", "metadatas", "embeddings"])
    finally:
        client.delete_collection(name)
    keys = [chroma.key(r) for r in mine]
    assert sorted(got["ids"]) == sorted(keys)  # the same namespaced ids, nothing else
    want = _records(original, keys)
    for key, doc, meta, emb in zip(
        got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
    ):
        w_doc, w_meta, w_emb = want[key]
        assert doc == w_doc
        assert json.dumps(meta, sort_keys=True) == w_meta  # stamps and resources included
        assert _close([float(x) for x in emb], w_emb)


def test_export_then_import_into_another_backend(
    make_side: Any,
    cli: Any,
    tmp_path: Path,
    sentinel_emulator: RunningEmulator,
    sentinel_env: dict[str, str],
) -> None:
    chroma, pg = make_side("chroma"), make_side("pgvector")
    ws, mine, other = _world(sentinel_emulator, n=5)
    chroma.put(mine + other)
    out = tmp_path / "ws.jsonl"
    exported = cli("export-workspace", chroma.url, "-w", ws, "-o", str(out))
    assert exported.exit_code == 0, exported.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["id"] for x in lines) == sorted(r.id for r in mine)
    assert all(x["metadata"]["workspace_id"] == ws and len(x["embedding"]) == 4 for x in lines)

    imported = cli("import-workspace", pg.url, "-w", ws, "-i", str(out), env=sentinel_env)
    assert imported.exit_code == 0, imported.stderr
    rows = pg.snapshot()
    assert sorted(rows) == sorted(f"{ws}:{r.id}" for r in mine)
    by_id = {r.id: r for r in mine}
    for key, (owner, resource, doc, meta, _) in rows.items():
        row = by_id[key.split(":", 1)[1]]
        assert (owner, resource, doc) == (row.owner_id, row.resource_id, row.document)
        assert json.loads(meta) == row.meta

    no_vectors = tmp_path / "bare.jsonl"
    assert (
        cli(
            "export-workspace", chroma.url, "-w", ws, "-o", str(no_vectors), "--no-embeddings"
        ).exit_code
        == 0
    )
    assert "embedding" not in no_vectors.read_text()


@pytest.mark.invariant(2)
def test_invariant_2_import_refuses_a_file_that_writes_elsewhere_and_writes_nothing(
    make_side: Any,
    cli: Any,
    tmp_path: Path,
    sentinel_emulator: RunningEmulator,
    sentinel_env: dict[str, str],
) -> None:
    pg = make_side("pgvector")
    ws, mine, _ = _world(sentinel_emulator, n=3)
    line = {
        "id": "x",
        "document": None,
        "embedding": [0.1, 0.2, 0.3, 0.4],
        "metadata": {
            "workspace_id": ws,
            "owner_id": mine[0].owner_id,
            "resource_id": mine[0].resource_id,
        },
    }
    foreign = {**line, "id": "y", "metadata": {**line["metadata"], "workspace_id": new_id()}}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(line) + "\n" + json.dumps(foreign) + "\n")
    result = cli("import-workspace", pg.url, "-w", ws, "-i", str(bad))
    assert result.exit_code == 2
    assert "line 2" in result.stderr
    assert "another workspace" in result.stderr
    assert pg.snapshot() == {}

    # A resource the identity service does not know in the workspace: refused (invariant 8).
    unknown = {**line, "metadata": {**line["metadata"], "resource_id": new_id()}}
    bad.write_text(json.dumps(line) + "\n" + json.dumps(unknown) + "\n")
    result = cli("import-workspace", pg.url, "-w", ws, "-i", str(bad), env=sentinel_env)
    assert result.exit_code == 2
    assert "not registered" in result.stderr
    assert pg.snapshot() == {}


def test_migrate_refuses_ids_the_target_cannot_store_before_writing_anything(
    make_side: Any, cli: Any, tmp_path: Path
) -> None:
    chroma, qdrant = make_side("chroma"), make_side("qdrant")
    ws, owner, rid = new_id(), new_id(), new_id()
    chroma.put(
        [
            Row(id=new_id(), workspace_id=ws, owner_id=owner, resource_id=rid, seed=1),
            Row(id="doc-1", workspace_id=ws, owner_id=owner, resource_id=rid, seed=2),
        ]
    )
    result = cli("migrate", chroma.url, qdrant.url, "-w", ws)
    assert result.exit_code == 2
    assert "doc-1" in result.stderr
    assert qdrant.snapshot() == {}
