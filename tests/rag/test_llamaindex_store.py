"""The scoped LlamaIndex vector store inside ``VectorStoreIndex``, a query engine and an
``IngestionPipeline``, on the Chroma server, Qdrant's local mode and PostgreSQL + pgvector.

The store is real on every backend; the embedding model is LangChain's
``DeterministicFakeEmbedding`` (the standard tests' model, 6 dimensions, seen through a
LlamaIndex ``BaseEmbedding``) and the LLM is LlamaIndex's ``MockLLM``, which answers with
its own prompt: so the answer shows exactly the context the store let through.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from sentinel_vectors.errors import (
    AccessDeniedError,
    FilterError,
    InvalidInputError,
    MissingResourceError,
    ReservedKeyError,
)
from sentinel_vectors_llamaindex import SentinelVectorStore
from tests.rag.conftest import Team

_FAKE = VectorStoreIntegrationTests.get_embeddings()


class FakeEmbedding(BaseEmbedding):
    """LangChain's deterministic fake embedding as a LlamaIndex model (6 dimensions)."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return _FAKE.embed_query(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return _FAKE.embed_query(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return _FAKE.embed_query(query)


MODEL = FakeEmbedding(model_name="fake")


def li_store(team: Team, name: str, **options: Any) -> SentinelVectorStore:
    """``name``'s scoped LlamaIndex store."""
    return SentinelVectorStore.from_backend(team.backend, team.auth(name), **options)


def _document(text: str, resource: uuid.UUID, **meta: Any) -> Document:
    return Document(text=text, metadata={"resource_id": str(resource), **meta})


async def _alice_ingests(team: Team) -> tuple[Document, Document]:
    private = _document("Alice's salary bands are secret.", team.private, topic="hr")
    shared = _document("Refunds take fourteen days.", team.shared, topic="billing")
    index = VectorStoreIndex.from_vector_store(li_store(team, "alice"), embed_model=MODEL)
    for doc in (private, shared):
        await index.ainsert(doc)
    return private, shared


@pytest.mark.invariant(1)
async def test_invariant_1_query_engine_answers_from_viewable_nodes_only(team: Team) -> None:
    """Bob's query engine over the shared collection cites and quotes only what he may view."""
    private, shared = await _alice_ingests(team)
    index = VectorStoreIndex.from_vector_store(li_store(team, "bob"), embed_model=MODEL)
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=5)
    response = await engine.aquery("What do the documents say?")
    assert {n.node.ref_doc_id for n in response.source_nodes} == {shared.doc_id}
    assert "salary" not in str(response)
    assert "fourteen days" in str(response)
    # Alice's own engine finds both (the fake model's order is arbitrary: its vectors are
    # seeded by a hash of the text), best score first.
    mine = VectorStoreIndex.from_vector_store(li_store(team, "alice"), embed_model=MODEL)
    hits = await mine.as_retriever(similarity_top_k=5).aretrieve(private.text)
    assert {h.node.ref_doc_id for h in hits} == {private.doc_id, shared.doc_id}
    assert hits[0].score is not None
    assert hits[1].score is not None
    assert hits[0].score >= hits[1].score


async def test_ingestion_pipeline_writes_through_the_store(team: Team) -> None:
    """An IngestionPipeline splits, embeds and writes through the scope; a document
    without a resource is refused before anything is written."""
    store = li_store(team, "alice")
    pipeline = IngestionPipeline(
        # Paragraphs shorter than a chunk: the splitter never needs nltk's sentence model.
        transformations=[
            SentenceSplitter(chunk_size=64, chunk_overlap=0, paragraph_separator="\n\n"),
            MODEL,
        ],
        vector_store=store,
    )
    long_text = "\n\n".join(f"Paragraph number {i} is about refunds." for i in range(12))
    nodes = await pipeline.arun(documents=[_document(long_text, team.private)])
    assert len(nodes) > 1
    stored = await store.aget_nodes(node_ids=[n.node_id for n in nodes])
    assert sorted(n.node_id for n in stored) == sorted(n.node_id for n in nodes)
    assert all("workspace_id" not in n.metadata for n in stored)
    with pytest.raises(MissingResourceError):
        await pipeline.arun(documents=[Document(text="orphan", id_="orphan")])
    assert await store.aget_nodes(filters=_eq("ref_doc_id", "orphan")) == []
    # Bob sees none of it, by id or by filter.
    bob = li_store(team, "bob")
    assert await bob.aget_nodes(node_ids=[n.node_id for n in nodes]) == []
    assert await bob.aget_nodes(filters=_eq("ref_doc_id", nodes[0].ref_doc_id or "")) == []


def _eq(key: str, value: Any) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key=key, value=value)])


@pytest.mark.invariant(4)
async def test_invariant_4_delete_by_ref_doc_reaches_only_editable_nodes(team: Team) -> None:
    """Bob cannot delete alice's private document (absent to him); carol (viewer) deletes
    nothing of the shared one; alice deletes hers completely; named nodes are all or
    nothing."""
    private, shared = await _alice_ingests(team)
    alice = li_store(team, "alice")
    await li_store(team, "bob").adelete(private.doc_id)
    await li_store(team, "bob").adelete_nodes(filters=_eq("topic", "hr"))
    assert len(await alice.aget_nodes(filters=_eq("ref_doc_id", private.doc_id))) == 1
    carol = li_store(team, "carol")
    await carol.adelete(shared.doc_id)
    await carol.adelete_nodes(filters=_eq("topic", "billing"))
    (node,) = await alice.aget_nodes(filters=_eq("ref_doc_id", shared.doc_id))
    with pytest.raises(AccessDeniedError):
        await carol.adelete_nodes(node_ids=[node.node_id])
    assert len(await alice.aget_nodes(node_ids=[node.node_id])) == 1
    await alice.adelete(private.doc_id)
    assert await alice.aget_nodes(filters=_eq("ref_doc_id", private.doc_id)) == []
    await alice.adelete_nodes(node_ids=[node.node_id])
    assert await alice.aget_nodes(node_ids=[node.node_id]) == []


@pytest.mark.invariant(4)
async def test_invariant_4_a_lookalike_ref_doc_neither_blocks_nor_widens_a_delete(
    team: Team,
) -> None:
    """Bob tags a node of his with carol's document id (ref_doc_id is ordinary metadata):
    carol's delete of her document removes her nodes, leaves his, and is not refused."""
    carol = li_store(team, "carol")
    theirs = _document("Carol's notes.", team.carols)
    index = VectorStoreIndex.from_vector_store(carol, embed_model=MODEL)
    await index.ainsert(theirs)
    lookalike = TextNode(
        text="Bob's lookalike.",
        embedding=MODEL.get_text_embedding("x"),
        metadata={"resource_id": str(team.bobs_open)},
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=theirs.doc_id)},
    )
    await li_store(team, "bob").async_add([lookalike])
    assert len(await carol.aget_nodes(filters=_eq("ref_doc_id", theirs.doc_id))) == 2
    await carol.adelete(theirs.doc_id)
    left = await carol.aget_nodes(filters=_eq("ref_doc_id", theirs.doc_id))
    assert [n.node_id for n in left] == [lookalike.node_id]


async def test_filters_mmr_and_refusals(team: Team) -> None:
    """MetadataFilters narrow (tenancy keys refused), MMR mode works, clear() is refused."""
    await _alice_ingests(team)
    alice = li_store(team, "alice")
    q = MODEL.get_query_embedding("refunds")
    billing = MetadataFilters(
        filters=[MetadataFilter(key="topic", value="billing"), MetadataFilter(key="x", value=1)],
        condition=FilterCondition.OR,
    )
    res = await alice.aquery(
        VectorStoreQuery(query_embedding=q, similarity_top_k=5, filters=billing)
    )
    assert [n.get_content() for n in res.nodes] == ["Refunds take fourteen days."]
    mmr = await alice.aquery(
        VectorStoreQuery(query_embedding=q, similarity_top_k=2, mode=VectorStoreQueryMode.MMR)
    )
    assert len(mmr.nodes) == 2
    for bad in ("workspace_id", "owner_id", "resource_id"):
        with pytest.raises(ReservedKeyError):
            await alice.aquery(
                VectorStoreQuery(query_embedding=q, similarity_top_k=1, filters=_eq(bad, "x"))
            )
        with pytest.raises(ReservedKeyError):
            await alice.aget_nodes(node_ids=["any"], filters=_eq(bad, "x"))
    with pytest.raises(FilterError):
        await alice.aquery(
            VectorStoreQuery(
                query_embedding=q,
                similarity_top_k=1,
                filters=MetadataFilters(
                    filters=[MetadataFilter(key="topic", value="re", operator="text_match")]
                ),
            )
        )
    with pytest.raises(InvalidInputError, match="refused"):
        await alice.aclear()
    assert len(await alice.aget_nodes(filters=_eq("topic", "billing"))) == 1


def test_sync_methods_run_on_the_permission_clients_loop(
    team: Team, request: pytest.FixtureRequest
) -> None:
    """add / query / get_nodes / delete from sync code, through a blocking portal."""
    from sentinel_vectors import request_auth

    backend = team.backend
    if type(backend).__name__ == "PgvectorBackend":  # its engine must live on the portal
        backend = request.getfixturevalue("pg_backends")[1]
    user, token = team.users["alice"]
    auth = request_auth(user, token, team.clients.sync)
    store = SentinelVectorStore.from_backend(backend, auth, portal=team.clients.portal)
    index = VectorStoreIndex.from_vector_store(store, embed_model=MODEL)
    index.insert(_document("Refunds take fourteen days.", team.private))
    response = index.as_query_engine(llm=MockLLM()).query("What about refunds?")
    assert "fourteen days" in str(response)
    (node,) = store.get_nodes()
    store.delete(node.ref_doc_id or "")
    assert store.get_nodes(node_ids=[node.node_id]) == []
