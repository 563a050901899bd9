"""The scoped LangChain ``VectorStore``: the indexing API's cleanup, writes, filters, MMR.

On the session's Chroma server, Qdrant's local mode and PostgreSQL + pgvector (one
collection per backend for the module; each test builds its own workspace), with real
tokens and a real ``PermissionClient`` against the emulator.

The attack on the indexing API: ``langchain_core.indexing.aindex`` deletes whatever ids
its ``RecordManager`` lists for the namespace (``cleanup="full"``) or the source
(``"incremental"``). A record manager is the caller's to choose and to fill, so it can
list ids of records someone else wrote; the store's delete must reach none of them that
the caller may not edit (invariant 4), and tell nothing about the ones it may not see
(invariant 9).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.indexing import InMemoryRecordManager, aindex
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
    MissingResourceError,
    ReservedKeyError,
)
from sentinel_vectors_langchain import SentinelVectorStore
from tests.rag.conftest import Team


def lc_store(team: Team, name: str, **options: Any) -> SentinelVectorStore:
    """``name``'s scoped LangChain store (async methods)."""
    embeddings = VectorStoreIntegrationTests.get_embeddings()
    return SentinelVectorStore.from_backend(
        team.backend, team.auth(name), embeddings=embeddings, **options
    )


def _doc(text: str, resource: uuid.UUID, source: str, **meta: Any) -> Document:
    return Document(
        page_content=text, metadata={"resource_id": str(resource), "source": source, **meta}
    )


async def _alices_records(team: Team, manager: InMemoryRecordManager) -> list[str]:
    """Alice indexes one private and one shared document through ``manager``."""
    docs = [
        _doc("alice private", team.private, "a.txt"),
        _doc("alice shared", team.shared, "s.txt"),
    ]
    result = await aindex(
        docs, manager, lc_store(team, "alice"), cleanup="full", source_id_key="source"
    )
    assert result["num_added"] == 2
    return await manager.alist_keys()


@pytest.mark.invariant(4)
async def test_invariant_4_index_full_cleanup_never_deletes_hidden_records(team: Team) -> None:
    """Bob runs a full cleanup over a record manager listing alice's private record."""
    manager = InMemoryRecordManager("shared-namespace")
    await manager.acreate_schema()
    # Only the private one: bob may edit alice's shared document, so it is his to delete.
    alices = await _alices_records(team, manager)
    private_ids = [
        d.id
        for d in await lc_store(team, "alice").aget_by_ids(alices)
        if d.metadata["resource_id"] == str(team.private)
    ]
    await manager.adelete_keys([k for k in alices if k not in private_ids])

    await aindex(
        [_doc("bob's", team.bobs, "b.txt")],
        manager,
        lc_store(team, "bob"),
        cleanup="full",
        source_id_key="source",
    )
    left = await lc_store(team, "alice").aget_by_ids(private_ids)
    assert [d.page_content for d in left] == ["alice private"]


@pytest.mark.invariant(4)
async def test_invariant_4_index_incremental_cleanup_never_deletes_hidden_records(
    team: Team,
) -> None:
    """Bob re-indexes alice's source id incrementally: her records of it must survive."""
    manager = InMemoryRecordManager("shared-namespace")
    await manager.acreate_schema()
    docs = [_doc("alice private", team.private, "a.txt")]
    await aindex(
        docs, manager, lc_store(team, "alice"), cleanup="incremental", source_id_key="source"
    )
    before = await manager.alist_keys(group_ids=["a.txt"])
    assert len(before) == 1

    await aindex(
        [_doc("bob rewrites a.txt", team.bobs, "a.txt")],
        manager,
        lc_store(team, "bob"),
        cleanup="incremental",
        source_id_key="source",
    )
    left = await lc_store(team, "alice").aget_by_ids(before)
    assert [d.page_content for d in left] == ["alice private"]


@pytest.mark.invariant(4)
async def test_invariant_4_index_cleanup_of_viewable_records_is_refused(team: Team) -> None:
    """Carol (viewer) may see alice's shared record but not delete it: refused, all kept."""
    manager = InMemoryRecordManager("shared-namespace")
    await manager.acreate_schema()
    alices = await _alices_records(team, manager)
    with pytest.raises(AccessDeniedError):
        await aindex([], manager, lc_store(team, "carol"), cleanup="full")
    assert len(await lc_store(team, "alice").aget_by_ids(alices)) == 2


@pytest.mark.invariant(3)
async def test_invariant_3_index_cleanup_from_another_workspace_reaches_nothing(
    team: Team,
) -> None:
    """An admin of another workspace with the same record manager deletes nothing here."""
    manager = InMemoryRecordManager("shared-namespace")
    await manager.acreate_schema()
    alices = await _alices_records(team, manager)
    await aindex([], manager, lc_store(team, "outsider"), cleanup="full")
    assert len(await lc_store(team, "alice").aget_by_ids(alices)) == 2


@pytest.mark.invariant(9)
async def test_invariant_9_hidden_records_are_absent_to_reads_and_deletes(team: Team) -> None:
    """Bob cannot find, get, MMR-select or delete alice's private record, and cannot tell."""
    alice = lc_store(team, "alice")
    (rid,) = await alice.aadd_documents([_doc("salary bands 2026", team.private, "p")])
    bob = lc_store(team, "bob")
    assert await bob.aget_by_ids([rid]) == []
    assert await bob.asimilarity_search("salary bands 2026", k=5) == []
    assert await bob.amax_marginal_relevance_search("salary bands 2026", k=2) == []
    assert await bob.adelete([rid]) is True  # as for an id that does not exist
    assert len(await alice.aget_by_ids([rid])) == 1


@pytest.mark.invariant(8)
async def test_invariant_8_missing_resource_is_refused_nothing_written(team: Team) -> None:
    """A document without a resource id is a MissingResourceError; nothing is written."""
    alice = lc_store(team, "alice")
    docs = [_doc("ok", team.private, "x"), Document(page_content="orphan", id="orphan")]
    with pytest.raises(MissingResourceError, match="resource_id"):
        await alice.aadd_documents(docs, ids=["kept-out", "orphan"])
    assert await alice.aget_by_ids(["kept-out", "orphan"]) == []


@pytest.mark.invariant(4)
async def test_invariant_4_squatting_another_users_id_is_refused(team: Team) -> None:
    """Bob writing under the id of alice's hidden record changes nothing of it."""
    (rid,) = await lc_store(team, "alice").aadd_documents([_doc("mine", team.private, "p")])
    with pytest.raises((AccessDeniedError, InvalidInputError)):
        await lc_store(team, "bob").aadd_documents([_doc("yours now", team.bobs, "b")], ids=[rid])
    (doc,) = await lc_store(team, "alice").aget_by_ids([rid])
    assert doc.page_content == "mine"


@pytest.mark.parametrize(
    "flt",
    [
        {"workspace_id": str(uuid.uuid4())},
        {"owner_id": str(uuid.uuid4())},
        {"resource_id": str(uuid.uuid4())},
        {"$or": [{"source": "p"}, {"workspace_id": str(uuid.uuid4())}]},
    ],
)
async def test_filters_on_tenancy_keys_are_refused(team: Team, flt: dict[str, Any]) -> None:
    """LangChain filter dicts may not name a tenancy key, even inside $or."""
    store = lc_store(team, "alice")
    with pytest.raises(ReservedKeyError):
        await store.asimilarity_search("x", k=1, filter=flt)
    with pytest.raises(ReservedKeyError):
        await store.amax_marginal_relevance_search("x", k=1, filter=flt)


async def test_filter_mmr_scores_and_retriever(team: Team) -> None:
    """Filters narrow within the scope; MMR, relevance scores and as_retriever work."""
    alice = lc_store(team, "alice")
    await alice.aadd_documents(
        [
            _doc("refund policy", team.private, "p", topic="billing"),
            _doc("refund window", team.shared, "s", topic="billing"),
            _doc("office plants", team.shared, "s", topic="office"),
        ]
    )
    bob = lc_store(team, "bob")  # sees only the shared document (and his own, none yet)
    got = await bob.asimilarity_search("refund", k=5, filter={"topic": "billing"})
    assert [d.page_content for d in got] == ["refund window"]
    got = await alice.asimilarity_search("refund", k=5, filter={"topic": {"$in": ["billing"]}})
    assert sorted(d.page_content for d in got) == ["refund policy", "refund window"]
    mmr = await alice.amax_marginal_relevance_search("refund", k=2, fetch_k=3)
    assert len(mmr) == 2
    assert len({d.id for d in mmr}) == 2
    scored = await alice.asimilarity_search_with_relevance_scores("office plants", k=1)
    assert scored[0][0].page_content == "office plants"
    assert scored[0][1] == pytest.approx(1.0, abs=1e-4)  # the same text: cosine 1
    retriever = bob.as_retriever(search_kwargs={"k": 5, "filter": {"topic": "office"}})
    assert [d.page_content for d in await retriever.ainvoke("plants")] == ["office plants"]
    mmr_retriever = bob.as_retriever(search_type="mmr", search_kwargs={"k": 3})
    assert {d.page_content for d in await mmr_retriever.ainvoke("x")} == {
        "refund window",
        "office plants",
    }
    for doc in got:  # stamped tenancy keys are not shown, the caller's metadata is
        assert "workspace_id" not in doc.metadata
        assert "owner_id" not in doc.metadata
        assert doc.metadata["resource_id"] in (str(team.private), str(team.shared))


async def test_delete_without_ids_and_unknown_options_are_refused(team: Team) -> None:
    """A scoped store deletes what it names; unknown search options are errors."""
    store = lc_store(team, "alice")
    with pytest.raises(InvalidInputError, match="needs ids"):
        await store.adelete()
    with pytest.raises(InvalidInputError, match="unsupported"):
        await store.asimilarity_search("x", k=1, where={"a": 1})
