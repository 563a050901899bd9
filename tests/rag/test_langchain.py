"""The LangChain retriever in an LCEL chain, on real stores, with real embeddings and auth.

The chain is the example's (``examples.rag_pipeline.rag_chain``): retriever -> prompt
with numbered citations -> extractive answer. Every member asks every question; no
source, citation or prompt line may name a document outside what Sentinel's
``accessible()`` allows (checked against the corpus's own rules and the emulator's
answer). The corpus puts other workspaces' documents on the same topics nearest to the
questions, which the unscoped baseline shows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest
from langchain_core.documents import Document

from examples.rag_pipeline import rag_chain, unscoped_baseline
from sentinel_vectors import filters as F
from sentinel_vectors import request_auth
from sentinel_vectors.embedders import StaticModelEmbedder
from sentinel_vectors.errors import InvalidInputError, ReservedKeyError
from sentinel_vectors_langchain import ScopedRetriever
from tests.rag.conftest import World

REFUND = "How many days do customers have to request a refund?"
SALARY = "What are the salary bands for engineers?"


def retriever(world: World, name: str, embedder: StaticModelEmbedder, **kw: Any) -> ScopedRetriever:
    return ScopedRetriever.from_backend(
        world.store.backend, world.auth(name), embeddings=embedder, **kw
    )


def questions(world: World) -> list[str]:
    return sorted({q for _, q in world.corpus.questions} | {REFUND, SALARY})


async def test_every_answer_cites_only_what_accessible_allows(
    corpus_world: World, embedder: StaticModelEmbedder
) -> None:
    world = corpus_world
    titles = {d.resource_id: d.title for d in world.corpus.documents}
    for name in world.corpus.members:
        allowed = world.may_view(name)
        ids, full = await world.auth(name).accessible("document", "view")
        # The oracle agrees with the permission service (admins: the whole workspace).
        assert full == (world.corpus.members[name].role == "admin")
        if not full:
            assert {str(i) for i in ids} == allowed
        chain = rag_chain(retriever(world, name, embedder, k=4))
        forbidden = [rid for rid in titles if rid not in allowed]
        for question in questions(world):
            answer = await chain.ainvoke(question)
            assert len(answer.sources) == 4
            sources = {d.metadata["resource_id"] for d in answer.sources}
            assert sources <= allowed, f"{name} got {sources - allowed} for {question!r}"
            assert {d.metadata["resource_id"] for d in answer.cited} <= allowed
            for rid in forbidden:
                assert rid not in answer.prompt
                assert titles[rid] not in answer.prompt, f"{name} saw {titles[rid]!r}"


async def test_answers_find_what_the_user_may_see(
    corpus_world: World, embedder: StaticModelEmbedder
) -> None:
    def top(name: str) -> Callable[[str], Any]:
        chain = rag_chain(retriever(corpus_world, name, embedder, k=3))
        return chain.ainvoke

    bob = await top("bob")(REFUND)
    assert "30 days" in bob.text
    assert bob.cited[0].metadata["title"] == "Acme refund policy"
    erin = await top("erin")(REFUND)
    assert "14 days" in erin.text
    assert erin.cited[0].metadata["title"] == "Globex refund policy"
    # Shared with erin, private otherwise.
    memo = await top("erin")("Which company does Globex plan to acquire?")
    assert "Initech" in memo.text
    # Private to alice: her admin sees it, bob does not.
    carol = await top("carol")(SALARY)
    assert carol.sources[0].metadata["title"] == "Acme engineering salary bands"
    bob_salary = await top("bob")(SALARY)
    assert "salary" not in " ".join(d.page_content for d in bob_salary.sources).lower()


async def test_the_unscoped_baseline_does_cross_workspaces(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    """The control: the same question on the bare collection leaks, so the tests above
    would fail if the retriever were not scoped."""
    world = chroma_world
    leaked = []
    for name, question in world.corpus.questions:
        hits = await unscoped_baseline(
            world.store.native, embedder.embed_query(question), 3, world.auth(name), world.corpus
        )
        leaked += [h for h in hits if h.leaked]
    assert any(h.verdict == "other workspace" for h in leaked)
    assert any(h.verdict == "not shared with you" for h in leaked)


async def test_documents_carry_resource_chunk_and_score(
    corpus_world: World, embedder: StaticModelEmbedder
) -> None:
    docs = await retriever(corpus_world, "carol", embedder, k=5).ainvoke(REFUND)
    query = embedder.embed_query(REFUND)
    assert len(docs) == 5
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    for doc in docs:
        meta = doc.metadata
        assert doc.id == meta["chunk_id"]
        assert meta["resource_id"] in corpus_world.may_view("carol")
        assert meta["chunk_id"].startswith(f"{meta['resource_id']}:")  # reserved to it
        assert meta["score"] == pytest.approx(1.0 - meta["distance"])
        # The score is the cosine similarity of the real embeddings.
        vector = embedder.embed_documents([doc.page_content])[0]
        cosine = sum(a * b for a, b in zip(query, vector, strict=True))
        assert meta["score"] == pytest.approx(cosine, abs=2e-3)
        assert meta["title"]


async def test_k_threshold_and_filter(corpus_world: World, embedder: StaticModelEmbedder) -> None:
    all_docs = await retriever(corpus_world, "carol", embedder, k=8).ainvoke(REFUND)
    assert len(all_docs) == 8
    one = await retriever(corpus_world, "carol", embedder, k=1).ainvoke(REFUND)
    assert [d.id for d in one] == [all_docs[0].id]
    cut = (all_docs[2].metadata["score"] + all_docs[3].metadata["score"]) / 2
    above = await retriever(corpus_world, "carol", embedder, k=8, score_threshold=cut).ainvoke(
        REFUND
    )
    assert [d.id for d in above] == [d.id for d in all_docs[:3]]
    assert (
        await retriever(corpus_world, "carol", embedder, score_threshold=0.999).ainvoke(REFUND)
        == []
    )
    title = "Acme pricing change for 2026"
    for flt in (F.eq("title", title), {"title": title}):
        narrowed = await retriever(corpus_world, "carol", embedder, k=8, filter=flt).ainvoke(REFUND)
        assert narrowed
        assert {d.metadata["title"] for d in narrowed} == {title}
    # A filter naming another workspace's document finds nothing; one naming a tenancy
    # key is refused.
    other = {"title": "Globex refund policy"}
    assert await retriever(corpus_world, "carol", embedder, filter=other).ainvoke(REFUND) == []
    wide = {"workspace_id": str(corpus_world.corpus.workspace_id("globex"))}
    with pytest.raises(ReservedKeyError):
        await retriever(corpus_world, "carol", embedder, filter=wide).ainvoke(REFUND)


async def test_bad_settings_are_refused_at_construction(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    for bad in ({"k": 0}, {"k": -1}, {"score_threshold": math.inf}, {"filter": "title"}):
        with pytest.raises(InvalidInputError):
            retriever(chroma_world, "bob", embedder, **bad)
    with pytest.raises(InvalidInputError):
        ScopedRetriever(index=object(), embeddings=embedder)
    with pytest.raises(InvalidInputError):
        ScopedRetriever(
            index=chroma_world.store.backend.index(chroma_world.auth("bob")), embeddings=object()
        )


async def test_an_empty_query_returns_nothing(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    assert await retriever(chroma_world, "carol", embedder).ainvoke("") == []


# --------------------------------------------------------------------------- sync invoke


def ids(docs: Sequence[Document]) -> list[str | None]:
    return [d.id for d in docs]


async def test_sync_invoke_on_the_loop_thread_is_refused(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    with pytest.raises(InvalidInputError, match="ainvoke"):
        retriever(chroma_world, "bob", embedder).invoke(REFUND)


async def test_sync_invoke_from_a_worker_thread_of_the_loop(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    r = retriever(chroma_world, "bob", embedder)
    want = ids(await r.ainvoke(REFUND))
    assert ids(await anyio.to_thread.run_sync(r.invoke, REFUND)) == want


async def test_sync_chain_branches_reach_the_loop_with_a_token(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    """A sync LCEL chain runs the ``{"docs": retriever, ...}`` branches in LangChain's own
    thread pool: outside the loop's worker threads, so it needs ``loop_token``."""
    r = retriever(chroma_world, "bob", embedder)
    want = ids((await rag_chain(r).ainvoke(REFUND)).sources)
    with pytest.raises(InvalidInputError, match="loop_token"):
        await anyio.to_thread.run_sync(rag_chain(r).invoke, REFUND)
    r.loop_token = anyio.lowlevel.current_token()
    answer = await anyio.to_thread.run_sync(rag_chain(r).invoke, REFUND)
    assert ids(answer.sources) == want
    # A plain thread (no loop of its own) reaches the loop the same way.
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(r.invoke(REFUND)))
    thread.start()
    await anyio.to_thread.run_sync(thread.join)
    assert ids(got[0]) == want


async def test_sync_invoke_in_a_script_through_a_portal(
    chroma_world: World, embedder: StaticModelEmbedder
) -> None:
    """A script without a loop: a blocking portal runs the retriever and owns the client."""
    world = chroma_world
    user, token = world.credentials("erin")
    want = ids(await retriever(world, "erin", embedder).ainvoke(REFUND))

    def script() -> list[Document]:
        with anyio.from_thread.start_blocking_portal() as portal:
            permissions = world.running.permission_client()
            try:
                r = ScopedRetriever.from_backend(
                    world.store.backend,
                    request_auth(user, token, permissions),
                    embeddings=embedder,
                    portal=portal,
                )
                return r.invoke(REFUND)
            finally:
                portal.call(permissions.close)

    got = await anyio.to_thread.run_sync(script)
    assert ids(got) == want
    assert {d.metadata["resource_id"] for d in got} <= world.may_view("erin")
