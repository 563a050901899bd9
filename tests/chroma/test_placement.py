"""Chroma placement on the real server: a collection per workspace, chosen by the scope."""

from __future__ import annotations

import contextlib
import uuid

import chromadb
import pytest

from sentinel_vectors.errors import ReservedKeyError
from sentinel_vectors.placement import Placement, dedicated_name
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors_chroma.placement import placed_collection


@pytest.mark.invariant(1)
async def test_invariant_1_per_tenant_collections_are_chosen_by_the_scope(
    chroma_http: ChromaServer, tenancy: Tenancy
) -> None:
    client = chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    base = f"pl-{uuid.uuid4().hex[:8]}"
    ws_a, ws_b = tenancy.workspace(), tenancy.workspace()
    alice, bob = tenancy.member("admin", ws_a), tenancy.member("admin", ws_b)
    res_a, res_b = tenancy.resource(alice), tenancy.resource(bob)
    per_tenant, tiered = Placement("per_tenant"), Placement("tiered", frozenset({str(ws_a)}))
    try:
        a = placed_collection(
            client, base, alice.auth, placement=per_tenant, resource_type="document"
        )
        b = placed_collection(
            client, base, bob.auth, placement=per_tenant, resource_type="document"
        )
        await a.add(ids=["x"], embeddings=[[1.0, 0.0]], metadatas=[{"resource_id": res_a}])
        await b.add(ids=["x"], embeddings=[[1.0, 0.0]], metadatas=[{"resource_id": res_b}])
        own_a = client.get_collection(dedicated_name(base, str(ws_a)))
        own_b = client.get_collection(dedicated_name(base, str(ws_b)))
        assert own_a.get()["ids"] == [f"{ws_a}:x"]  # each in its own collection
        assert own_b.get()["ids"] == [f"{ws_b}:x"]
        # Nothing a caller passes names the other collection or workspace.
        for where in ({"workspace_id": str(ws_b)}, {"$or": [{"workspace_id": str(ws_b)}]}):
            with pytest.raises(ReservedKeyError):
                await a.get(where=where)
        got = await a.get(ids=["x", f"{ws_b}:x", dedicated_name(base, str(ws_b))])
        assert got["ids"] == ["x"]
        assert (await a.query(query_embeddings=[[1.0, 0.0]], n_results=5))["ids"] == [["x"]]
        # Tiered: the promoted workspace in its own collection, the other in the shared one.
        ta = placed_collection(client, base, alice.auth, placement=tiered, resource_type="document")
        tb = placed_collection(client, base, bob.auth, placement=tiered, resource_type="document")
        assert (await ta.get())["ids"] == ["x"]
        assert (await tb.get())["ids"] == []  # bob's chunk is in his own, not the shared one
        await tb.add(ids=["y"], embeddings=[[0.0, 1.0]], metadatas=[{"resource_id": res_b}])
        assert client.get_collection(base).get()["ids"] == [f"{ws_b}:y"]
        assert own_a.count() == 1
    finally:
        for name in (base, dedicated_name(base, str(ws_a)), dedicated_name(base, str(ws_b))):
            with contextlib.suppress(Exception):  # cleanup of what may not exist
                client.delete_collection(name)
