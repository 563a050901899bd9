"""The LlamaIndex retriever in a query engine, on real stores, with real embeddings and auth.

The engine is LlamaIndex's own ``RetrieverQueryEngine`` (compact response synthesis)
with a deterministic offline LLM that answers with the prompt it was given, so the
answer shows exactly what the retriever let into the prompt. No member's answer may
name, quote or cite a document outside what Sentinel's ``accessible()`` allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import PrivateAttr

from sentinel_vectors.embedders import StaticModelEmbedder
from sentinel_vectors.errors import InvalidInputError, ReservedKeyError
from sentinel_vectors_llamaindex import ScopedRetriever
from tests.rag.conftest import World

REFUND = "How many days do customers have to request a refund?"
SALARY = "What are the salary bands for engineers?"


class PromptEcho(CustomLLM):
    """An offline LLM whose answer is its prompt (context and question)."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=100_000, num_output=256, model_name="prompt-echo")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=prompt)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> Iterator[CompletionResponse]:
        yield CompletionResponse(text=prompt, delta=prompt)


class StaticModel(BaseEmbedding):
    """The offline model as a LlamaIndex ``BaseEmbedding`` (as a LlamaIndex user has one)."""

    _model: StaticModelEmbedder = PrivateAttr(default_factory=StaticModelEmbedder)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.embed_query(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.embed_query(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._model.embed_query(query)


def retriever(world: World, name: str, embedder: Any, **kw: Any) -> ScopedRetriever:
    return ScopedRetriever.from_backend(
        world.store.backend, world.auth(name), embeddings=embedder, **kw
    )


def engine(world: World, name: str, embedder: Any, **kw: Any) -> RetrieverQueryEngine:
    return RetrieverQueryEngine.from_args(retriever(world, name, embedder, **kw), llm=PromptEcho())


def questions(world: World) -> list[str]:
    return sorted({q for _, q in world.corpus.questions} | {REFUND, SALARY})


async def test_query_engine_answers_only_from_accessible_documents(
    corpus_world: World, embedder: StaticModelEmbedder
) -> None:
    world = corpus_world
    docs = {d.resource_id: d for d in world.corpus.documents}
    for name in world.corpus.members:
        allowed = world.may_view(name)
        query_engine = engine(world, name, embedder, k=4)
        for question in questions(world):
            response = await query_engine.aquery(question)
            nodes = response.source_nodes
            assert len(nodes) == 4
            cited = {n.node.ref_doc_id for n in nodes}
            assert cited <= allowed, f"{name} got {cited - allowed} for {question!r}"
            text = str(response)
            # The prompt cites each source by resource and chunk id...
            for n in nodes:
                assert n.node.metadata["resource_id"] in text
                assert n.node.node_id in text
            # ...and never names, quotes or cites anything else.
            for rid, doc in docs.items():
                if rid not in allowed:
                    assert rid not in text
                    assert doc.title not in text
                    assert doc.paragraphs()[0][:60] not in text
            # Tenancy bookkeeping stays out of the LLM's view.
            assert "workspace_id" not in text
            assert "owner_id" not in text


async def test_nodes_carry_resource_chunk_and_score(
    corpus_world: World, embedder: StaticModelEmbedder
) -> None:
    nodes = await retriever(corpus_world, "carol", embedder, k=5).aretrieve(REFUND)
    assert len(nodes) == 5
    scores = [n.score for n in nodes]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    for n in nodes:
        meta = n.node.metadata
        assert n.node.node_id == meta["chunk_id"]
        assert n.node.ref_doc_id == meta["resource_id"]
        assert meta["resource_id"] in corpus_world.may_view("carol")
        assert n.score == pytest.approx(meta["score"])
        assert n.score == pytest.approx(1.0 - meta["distance"])
        assert meta["title"] in n.node.get_content(metadata_mode=MetadataMode.LLM)


async def test_k_threshold_and_filter(chroma_world: World, embedder: StaticModelEmbedder) -> None:
    world = chroma_world
    nodes = await retriever(world, "carol", embedder, k=6).aretrieve(REFUND)
    assert len(nodes) == 6
    cut = (nodes[1].get_score() + nodes[2].get_score()) / 2
    above = await retriever(world, "carol", embedder, k=6, score_threshold=cut).aretrieve(REFUND)
    assert [n.node_id for n in above] == [n.node_id for n in nodes[:2]]
    title = "Acme incident report: leaked API key"
    narrowed = await retriever(world, "carol", embedder, k=6, filter={"title": title}).aretrieve(
        REFUND
    )
    assert narrowed
    assert {n.node.metadata["title"] for n in narrowed} == {title}
    with pytest.raises(ReservedKeyError):
        await retriever(world, "carol", embedder, filter={"owner_id": "x"}).aretrieve(REFUND)


async def test_a_llamaindex_embedding_model_is_accepted(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    direct = await retriever(chroma_world, "erin", embedder).aretrieve(REFUND)
    wrapped = await retriever(chroma_world, "erin", StaticModel()).aretrieve(REFUND)
    assert [n.node_id for n in wrapped] == [n.node_id for n in direct]
    # Several embedding strings are averaged (LlamaIndex's rule); one is the query itself.
    bundle = QueryBundle(query_str="ignored", custom_embedding_strs=[REFUND])
    again = await retriever(chroma_world, "erin", embedder).aretrieve(bundle)
    assert [n.node_id for n in again] == [n.node_id for n in direct]


async def test_sync_query_rules(chroma_world: World, embedder: StaticModelEmbedder) -> None:
    query_engine = engine(chroma_world, "bob", embedder)
    with pytest.raises(InvalidInputError, match="aquery"):
        query_engine.query(REFUND)
    want = [n.node_id for n in (await query_engine.aquery(REFUND)).source_nodes]
    response = await anyio.to_thread.run_sync(query_engine.query, REFUND)
    got: list[NodeWithScore] = response.source_nodes
    assert [n.node_id for n in got] == want
