"""``check``: each misconfiguration and each kind of bad record is caught, exit 1."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors_qdrant.rawstore import config_findings
from tests.cli.conftest import Row, new_id


def _codes(result: Any) -> dict[str, int]:
    doc = json.loads(result.stdout)
    return {f["code"]: f["count"] for s in doc["stores"] for f in s["findings"]}


def _registered(emulator: RunningEmulator, ws: str, owner: str) -> str:
    rid = new_id()
    emulator.emulator.register("document", uuid.UUID(rid), uuid.UUID(ws), uuid.UUID(owner))
    return rid


@pytest.mark.invariant(8)
@pytest.mark.parametrize("backend", ["chroma", "qdrant"])
def test_check_finds_legacy_malformed_misplaced_and_orphaned_records(
    backend: str,
    make_side: Any,
    cli: Any,
    sentinel_emulator: RunningEmulator,
    sentinel_env: dict[str, str],
) -> None:
    side = make_side(backend)
    ws, owner = new_id(), new_id()
    known = _registered(sentinel_emulator, ws, owner)
    good = Row(id=new_id(), workspace_id=ws, owner_id=owner, resource_id=known, seed=1)
    side.put([good])
    clean = cli("check", side.url, "--json", env=sentinel_env)
    assert clean.exit_code == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["ok"] is True

    other_ws = new_id()
    side.put(
        [
            # Written before the wrappers: no stamp at all, or part of one.
            Row(id=new_id(), meta={"tenant": "acme"}, seed=2),
            Row(id=new_id(), workspace_id=ws, resource_id=known, seed=3, key=new_id()),
            # Malformed: an upper-case (non-canonical) workspace id.
            Row(
                id=new_id(),
                workspace_id=ws.upper(),
                owner_id=owner,
                resource_id=known,
                seed=4,
                key=new_id(),
            ),
            # Stamped, stored under another workspace's namespaced id.
            Row(
                id=good.id,
                workspace_id=ws,
                owner_id=owner,
                resource_id=known,
                seed=5,
                key=side.key(Row(id=good.id, workspace_id=other_ws)),
            ),
            # A resource Sentinel does not know; and one known in another workspace only.
            Row(id=new_id(), workspace_id=ws, owner_id=owner, resource_id=new_id(), seed=6),
            Row(id=new_id(), workspace_id=other_ws, owner_id=owner, resource_id=known, seed=7),
        ]
    )
    result = cli("check", side.url, "--json", env=sentinel_env)
    assert result.exit_code == 1
    codes = _codes(result)
    assert codes["data.missing_stamp"] == 2
    assert codes["data.malformed_stamp"] == 1
    assert codes["data.id_outside_namespace"] == 1
    assert codes["data.unknown_resource"] == 2

    human = cli("check", side.url, env=sentinel_env)
    assert human.exit_code == 1
    assert "data.unknown_resource" in human.stderr

    # Without Sentinel settings the resources are reported as not checked.
    unchecked = _codes(cli("check", side.url, "--json"))
    assert "data.resources_not_checked" in unchecked
    assert "data.unknown_resource" not in unchecked


def test_check_chroma_embedding_function(make_side: Any, cli: Any) -> None:
    side = make_side("chroma", embedding_function=True)
    result = cli("check", side.url, "--json")
    assert result.exit_code == 1
    assert "chroma.embedding_function" in _codes(result)
    fine = make_side("chroma")
    result = cli("check", fine.url)
    assert result.exit_code == 0, result.stderr
    assert "cosine" in result.stderr


def test_check_pgvector_configuration(
    make_side: Any, cli: Any, sentinel_emulator: RunningEmulator, sentinel_env: dict[str, str]
) -> None:
    bare = make_side("pgvector", hnsw=False, rls=False)
    result = cli("check", bare.url, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    severity = {f["code"]: f["severity"] for f in doc["stores"][0]["findings"]}
    assert severity["pgvector.hnsw_index"] == "error"
    assert severity["pgvector.rls"] == "warning"

    fit = make_side("pgvector")
    ws, owner = new_id(), new_id()
    known = _registered(sentinel_emulator, ws, owner)
    fit.put([Row(id="a", workspace_id=ws, owner_id=owner, resource_id=known)])
    result = cli("check", fit.url, "--json", "--strict", env=sentinel_env)
    assert result.exit_code == 0, result.stdout
    fit.put([Row(id="b", workspace_id=ws, owner_id=owner, resource_id=new_id())])
    result = cli("check", fit.url, "--json", env=sentinel_env)
    assert result.exit_code == 1
    assert _codes(result)["data.unknown_resource"] == 1


def test_check_pgvector_rls_enabled_but_not_forced_fails_strict(make_side: Any, cli: Any) -> None:
    side = make_side("pgvector", rls=False)
    with side.engine.begin() as conn:
        conn.exec_driver_sql(f'ALTER TABLE "{side.name}" ENABLE ROW LEVEL SECURITY')
    assert cli("check", side.url).exit_code == 0
    result = cli("check", side.url, "--strict", "--json")
    assert result.exit_code == 1
    assert "enabled but not forced" in result.stdout


def test_qdrant_configuration_findings_on_a_server_collection() -> None:
    """The server checks, over real ``CollectionInfo`` values (local mode has no indexes)."""
    client = QdrantClient(":memory:")
    client.create_collection(
        "c", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
    )
    info = client.get_collection("c")
    assert [f.code for f in config_findings(info, "c", "resource_id", local=True)] == [
        "qdrant.local_mode"
    ]
    codes = {f.code for f in config_findings(info, "c", "resource_id", local=False)}
    assert codes == {"qdrant.tenant_index", "qdrant.resource_index", "qdrant.payload_m"}
    keyword = models.PayloadIndexInfo(
        data_type=models.PayloadSchemaType.KEYWORD, params=None, points=0
    )
    tenant = models.PayloadIndexInfo(
        data_type=models.PayloadSchemaType.KEYWORD,
        params=models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
        points=0,
    )
    not_tenant = info.model_copy(
        update={"payload_schema": {"workspace_id": keyword, "resource_id": keyword}}
    )
    codes = {f.code for f in config_findings(not_tenant, "c", "resource_id", local=False)}
    assert codes == {"qdrant.is_tenant", "qdrant.payload_m"}
    hnsw = info.config.hnsw_config.model_copy(update={"payload_m": 16, "m": 0})
    fit = info.model_copy(
        update={
            "payload_schema": {"workspace_id": tenant, "resource_id": keyword},
            "config": info.config.model_copy(update={"hnsw_config": hnsw}),
        }
    )
    assert config_findings(fit, "c", "resource_id", local=False) == []
