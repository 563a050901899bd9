"""Scoped RAG, offline: each user's answer cites only what Sentinel lets them see.

Two companies (``examples/data``) keep documents on the same topics (refunds, security
incidents, salaries, plans) in one vector collection. For each question of the corpus
this script ingests each document through its owner's LangChain ``SentinelVectorStore``,
retrieves through the LangChain ``ScopedRetriever`` of the asking user,
assembles a prompt with numbered citations, answers it, and prints next to it what an
unscoped retriever (the same collection queried natively) would have put into the
prompt: other workspaces' documents and private ones nobody shared.

Everything runs here and offline: Chroma's ``PersistentClient`` in a temp dir, the test
kit's Sentinel permission-service emulator on a local port (real RS256 tokens, the SDK's
real ``PermissionClient`` and ``RequestAuth``), and a 64-dimensional embedding model
shipped inside a package (``sentinel-vectors[rag]``). The generation step is pluggable
and defaults to a deterministic extractive answer, so no LLM is needed.

    python examples/rag_pipeline.py [--k 3] [--threshold 0.3] [--show-prompt]
                                    [--member bob --question "..."]
                                    [--generator my_module:generate]

A generator is ``generate(question, prompt, documents) -> str``; plug an LLM in there.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from sentinel_auth import PermissionClient, RequestAuth
from sentinel_auth.types import AuthenticatedUser

from sentinel_vectors import request_auth
from sentinel_vectors.embedders import Embeddings, StaticModelEmbedder
from sentinel_vectors.index import CHUNK_INDEX_KEY, CHUNK_OF_KEY, chunk_id
from sentinel_vectors.lifecycle import SentinelRegistry
from sentinel_vectors.records import RecordBackend
from sentinel_vectors.testing import RunningEmulator, make_user, run_emulator
from sentinel_vectors_langchain import ScopedRetriever, SentinelVectorStore

DATA = Path(__file__).resolve().parent / "data"
RESOURCE_TYPE = "document"
SERVICE = "docs-service"
# Ids derive from names, so every run (and every test) sees the same ids.
_IDS = uuid.UUID("6f1d2b8e-3c4a-4e5f-9a7b-0c1d2e3f4a5b")

Generator = Callable[[str, str, Sequence[Document]], str]
"""``generate(question, prompt, documents) -> answer``: the pluggable generation step."""


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Member:
    """A user of the docs service."""

    name: str
    workspace: str
    role: str

    @property
    def user_id(self) -> uuid.UUID:
        return uuid.uuid5(_IDS, f"user:{self.name}")


@dataclass(frozen=True)
class SourceDocument:
    """A document of the corpus; its paragraphs are its chunks."""

    key: str
    title: str
    owner: str
    visibility: str
    shared_with: tuple[str, ...]
    text: str

    @property
    def workspace(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def resource_id(self) -> str:
        return str(uuid.uuid5(_IDS, f"document:{self.key}"))

    def paragraphs(self) -> list[str]:
        return [p.strip() for p in re.split(r"\n\s*\n", self.text) if p.strip()]


@dataclass(frozen=True)
class Corpus:
    """Workspaces, members, documents and the questions the demo asks."""

    workspaces: dict[str, str]
    members: dict[str, Member]
    documents: tuple[SourceDocument, ...]
    questions: tuple[tuple[str, str], ...]

    def workspace_id(self, slug: str) -> uuid.UUID:
        return uuid.uuid5(_IDS, f"workspace:{slug}")

    def workspace_of(self, workspace_id: str) -> str:
        """The display name of a workspace id (or the id, if unknown)."""
        for slug, name in self.workspaces.items():
            if str(self.workspace_id(slug)) == workspace_id:
                return name
        return workspace_id

    def document(self, resource_id: str) -> SourceDocument | None:
        return next((d for d in self.documents if d.resource_id == resource_id), None)


def load_corpus(root: Path = DATA) -> Corpus:
    """Read ``corpus.json`` and the document texts next to it."""
    spec = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
    members = {m["name"]: Member(m["name"], m["workspace"], m["role"]) for m in spec["members"]}
    documents = tuple(
        SourceDocument(
            key=d["key"],
            title=d["title"],
            owner=d["owner"],
            visibility=d["visibility"],
            shared_with=tuple(d.get("shared_with", ())),
            text=(root / f"{d['key']}.md").read_text(encoding="utf-8"),
        )
        for d in spec["documents"]
    )
    questions = tuple((q["member"], q["question"]) for q in spec["questions"])
    return Corpus(dict(spec["workspaces"]), members, documents, questions)


# --------------------------------------------------------------------------- sign-in, ingest


def credentials(
    corpus: Corpus, name: str, running: RunningEmulator
) -> tuple[AuthenticatedUser, str]:
    """``name``'s identity and access token (RS256, signed by the emulator's keys)."""
    member = corpus.members[name]
    return make_user(
        running.keys,
        workspace_id=corpus.workspace_id(member.workspace),
        role=member.role,
        user_id=member.user_id,
        name=member.name,
        email=f"{member.name}@{member.workspace}.example",
        workspace_slug=member.workspace,
    )


def sign_in(
    corpus: Corpus, name: str, running: RunningEmulator, permissions: PermissionClient
) -> RequestAuth:
    """A fresh ``RequestAuth`` for ``name``, as one request of theirs would have."""
    user, token = credentials(corpus, name, running)
    return request_auth(user, token, permissions)


async def ingest(
    corpus: Corpus,
    backend: RecordBackend,
    embeddings: Embeddings,
    running: RunningEmulator,
    permissions: PermissionClient,
) -> int:
    """Index every document as its owner through the owner's LangChain vector store.

    Each document is registered with Sentinel first (so the store lets its owner write
    it), then its paragraphs go in as LangChain ``Document`` objects through
    :class:`SentinelVectorStore` (ids ``"<document id>:<n>"``, the document's id in the
    metadata). Shares are made on the emulator, as a user would in the identity
    service's UI. Returns how many chunks were written.
    """
    written = 0
    for doc in corpus.documents:
        owner = sign_in(corpus, doc.owner, running, permissions)
        store = SentinelVectorStore.from_backend(backend, owner, embeddings=embeddings)
        await SentinelRegistry(permissions, store.records.scope).register(
            doc.resource_id, doc.visibility
        )
        texts = doc.paragraphs()
        ids = await store.aadd_documents(
            [
                Document(
                    page_content=text,
                    metadata={
                        "resource_id": doc.resource_id,
                        "title": doc.title,
                        CHUNK_OF_KEY: doc.resource_id,
                        CHUNK_INDEX_KEY: i,
                    },
                )
                for i, text in enumerate(texts)
            ],
            ids=[chunk_id(doc.resource_id, i) for i in range(len(texts))],
        )
        written += len(ids)
        for grantee in doc.shared_with:
            running.emulator.share(
                RESOURCE_TYPE,
                uuid.UUID(doc.resource_id),
                "user",
                corpus.members[grantee].user_id,
                "view",
            )
    return written


# --------------------------------------------------------------------------- prompt, answer


_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = (
    "a an and are as at be by do does for from has have how in is it many much of on or our "
    "the their them this to was were what when which who why will with you your"
)
_STOP = frozenset(_STOPWORDS.split())


def words(text: str) -> set[str]:
    """Lower-case content words, plural ``s`` dropped (``prices`` matches ``price``)."""
    found = (w for w in _WORD.findall(text.lower()) if w not in _STOP)
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in found}


def citation(n: int, doc: Document, *, short: bool = False) -> str:
    """``[n] Title (document <resource id>, chunk <chunk id>, score 0.83)``."""
    meta = doc.metadata
    rid, cid = str(meta["resource_id"]), str(meta["chunk_id"])
    if short:
        rid, cid = rid[:8], cid[:8]
    return (
        f"[{n}] {meta.get('title', '?')} (document {rid}, chunk {cid}, score {meta['score']:.2f})"
    )


def build_prompt(question: str, docs: Sequence[Document]) -> str:
    """The prompt an LLM would get: numbered sources with citations, then the question."""
    sources = "\n\n".join(
        f"{citation(n, doc)}\n{doc.page_content}" for n, doc in enumerate(docs, 1)
    )
    return (
        "Answer the question using only the sources below, and cite them as [n]. "
        "If they do not answer it, say so.\n\n"
        f"Sources:\n{sources or '(none)'}\n\n"
        f"Question: {question}\nAnswer:"
    )


def extractive_answer(question: str, prompt: str, docs: Sequence[Document]) -> str:
    """The default generator: deterministic, offline, and faithful by construction.

    Picks the sentence of the retrieved sources that shares the most content words with
    the question (ties go to the better-ranked source) and cites it. It can only repeat
    what was retrieved, so it shows exactly what the retriever let into the prompt.
    """
    wanted = words(question)
    best: tuple[int, int, str] | None = None  # (overlap, -rank, sentence)
    for n, doc in enumerate(docs, 1):
        for sentence in re.split(r"(?<=[.!?])\s+", doc.page_content):
            overlap = len(wanted & words(sentence))
            if overlap and (best is None or (overlap, -n) > best[:2]):
                best = (overlap, -n, f"{sentence.strip()} [{n}]")
    if best is None:
        return "None of the documents you can access answers this."
    return best[2]


@dataclass(frozen=True)
class Answer:
    """A generated answer with the prompt it came from and its sources."""

    question: str
    prompt: str
    text: str
    sources: tuple[Document, ...]

    @property
    def cited(self) -> list[Document]:
        """The sources the answer's ``[n]`` markers point at."""
        marks = {int(m) for m in re.findall(r"\[(\d+)\]", self.text)}
        return [doc for n, doc in enumerate(self.sources, 1) if n in marks]


def rag_chain(
    retriever: ScopedRetriever, generate: Generator = extractive_answer
) -> Runnable[str, Answer]:
    """The LCEL chain: question -> {documents, question} -> prompt -> answer."""

    def respond(inputs: dict[str, Any]) -> Answer:
        question: str = inputs["question"]
        docs: list[Document] = inputs["docs"]
        prompt = build_prompt(question, docs)
        return Answer(question, prompt, generate(question, prompt, docs), tuple(docs))

    return {"docs": retriever, "question": RunnablePassthrough()} | RunnableLambda(respond)


# --------------------------------------------------------------------------- the baseline


@dataclass(frozen=True)
class BaselineHit:
    """A chunk an unscoped query returned, and whether the asking user may see it."""

    title: str
    resource_id: str
    workspace: str
    verdict: str  # "ok", "other workspace", "not shared with you"

    @property
    def leaked(self) -> bool:
        return self.verdict != "ok"


async def unscoped_baseline(
    collection: Any,
    vector: list[float],
    k: int,
    auth: RequestAuth,
    corpus: Corpus,
) -> list[BaselineHit]:
    """The same question on the bare Chroma collection (what a naive RAG app does),
    each hit judged against the user's workspace and ``accessible()``."""
    found = await asyncio.to_thread(
        collection.query, query_embeddings=[vector], n_results=k, include=["metadatas"]
    )
    ids, full = await auth.accessible(RESOURCE_TYPE, "view")
    allowed = {str(i) for i in ids}
    hits = []
    for meta in found["metadatas"][0]:
        rid, ws = str(meta["resource_id"]), str(meta["workspace_id"])
        if ws != str(auth.workspace_id):
            verdict = "other workspace"
        elif full or rid in allowed:
            verdict = "ok"
        else:
            verdict = "not shared with you"
        hits.append(BaselineHit(str(meta.get("title", "?")), rid, corpus.workspace_of(ws), verdict))
    return hits


# --------------------------------------------------------------------------- the demo


def load_generator(spec: str) -> Generator:
    """``module:function`` to a generator."""
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"--generator must look like module:function, got {spec!r}")
    fn: Generator = getattr(importlib.import_module(module), name)
    return fn


async def run(
    questions: Sequence[tuple[str, str]] | None = None,
    *,
    k: int = 3,
    threshold: float | None = 0.3,
    show_prompt: bool = False,
    generate: Generator = extractive_answer,
    out: Callable[[str], None] = print,
) -> int:
    """Ingest the corpus, then answer each ``(member, question)``; returns the number of
    baseline hits that crossed a boundary (printed, never put in a scoped prompt)."""
    corpus = load_corpus()
    embeddings = StaticModelEmbedder()
    crossed = 0
    with run_emulator(service_name=SERVICE) as running, tempfile.TemporaryDirectory() as tmp:
        import chromadb

        from sentinel_vectors_chroma import ChromaBackend

        collection = chromadb.PersistentClient(path=tmp).create_collection(
            "documents", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        backend = ChromaBackend(collection, resource_type=RESOURCE_TYPE)
        permissions = running.permission_client()
        try:
            n = await ingest(corpus, backend, embeddings, running, permissions)
            out(
                f"Indexed {len(corpus.documents)} documents ({n} chunks) of "
                f"{len(corpus.workspaces)} workspaces into one Chroma collection.\n"
            )
            for name, question in questions or corpus.questions:
                member = corpus.members[name]
                auth = sign_in(corpus, name, running, permissions)
                retriever = ScopedRetriever.from_backend(
                    backend, auth, embeddings=embeddings, k=k, score_threshold=threshold
                )
                answer: Answer = await rag_chain(retriever, generate).ainvoke(question)
                baseline = await unscoped_baseline(
                    collection, embeddings.embed_query(question), k, auth, corpus
                )
                crossed += sum(hit.leaked for hit in baseline)
                out(f"== {name} ({member.role}, {corpus.workspaces[member.workspace]}): {question}")
                out("   scoped retriever (sentinel-vectors):")
                for i, doc in enumerate(answer.sources, 1):
                    out(f"     {citation(i, doc, short=True)}")
                if not answer.sources:
                    out("     (nothing above the score threshold)")
                out(f"   answer: {answer.text}")
                out("   unscoped baseline (same collection, queried natively):")
                for hit in baseline:
                    mark = "ok  " if not hit.leaked else "LEAK"
                    note = "" if not hit.leaked else f"  <- {hit.verdict} ({hit.workspace})"
                    out(f"     {mark} {hit.title}{note}")
                if show_prompt:
                    out(
                        "   prompt:\n"
                        + "\n".join(f"     | {line}" for line in answer.prompt.split("\n"))
                    )
                out("")
        finally:
            await permissions.close()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
    out(
        f"The unscoped baseline put {crossed} chunk(s) from other workspaces or unshared "
        f"documents into prompts; the scoped retriever put none."
    )
    return crossed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=3, help="chunks per question (default 3)")
    parser.add_argument(
        "--threshold", type=float, default=0.3, help="minimum score (cosine similarity)"
    )
    parser.add_argument("--show-prompt", action="store_true", help="print each prompt")
    parser.add_argument("--member", help="ask as this member (with --question)")
    parser.add_argument("--question", help="ask this instead of the corpus's questions")
    parser.add_argument("--generator", help="module:function generating the answer")
    args = parser.parse_args(argv)
    questions = None
    if args.question or args.member:
        if not (args.question and args.member):
            parser.error("--member and --question go together")
        questions = [(args.member, args.question)]
    generate = load_generator(args.generator) if args.generator else extractive_answer
    asyncio.run(
        run(
            questions,
            k=args.k,
            threshold=args.threshold,
            show_prompt=args.show_prompt,
            generate=generate,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
