"""``python examples/rag_pipeline.py`` (the README's command) runs offline and shows the
scoped retriever next to the unscoped baseline; its generation step is pluggable."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from langchain_core.documents import Document

from examples.rag_pipeline import extractive_answer, load_corpus, run

ROOT = Path(__file__).resolve().parents[2]


def sections(output: str) -> dict[str, str]:
    """``"name: question"`` -> the lines printed for it."""
    found = {}
    for block in output.split("\n== ")[1:]:
        head, _, body = block.partition("\n")
        name = head.split(" ", 1)[0]
        question = head.split("): ", 1)[1]
        found[f"{name}: {question}"] = body
    return found


def test_the_readme_command_runs_and_the_scoped_side_never_crosses() -> None:
    done = subprocess.run(
        [sys.executable, "examples/rag_pipeline.py", "--show-prompt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    corpus = load_corpus()
    by_question = sections(out)
    assert len(by_question) == len(corpus.questions)
    leaks = 0
    for key, body in by_question.items():
        name = key.split(":", 1)[0]
        member = corpus.members[name]
        scoped, _, rest = body.partition("unscoped baseline")
        baseline, _, prompt = rest.partition("prompt:")
        for doc in corpus.documents:
            visible = doc.workspace == member.workspace and (
                member.role == "admin"
                or doc.visibility == "workspace"
                or doc.owner == name
                or name in doc.shared_with
            )
            if not visible:
                assert doc.title not in scoped, (key, doc.title)
                assert doc.title not in prompt, (key, doc.title)
                assert doc.resource_id not in prompt, (key, doc.title)
        leaks += baseline.count("LEAK")
        assert re.search(r"answer: .+", scoped)
    assert leaks > 0, "the corpus should make the unscoped baseline cross boundaries"
    assert f"The unscoped baseline put {leaks} chunk(s)" in out
    assert "the scoped retriever put none" in out


async def test_the_generation_step_is_pluggable() -> None:
    seen: list[tuple[str, int]] = []

    def generate(question: str, prompt: str, docs: Sequence[Document]) -> str:
        seen.append((question, len(docs)))
        assert prompt.startswith("Answer the question using only the sources below")
        return "GENERATED " + extractive_answer(question, prompt, docs)

    lines: list[str] = []
    question = "Which company does Globex plan to acquire?"
    await run([("erin", question), ("dave", question)], k=2, generate=generate, out=lines.append)
    assert seen == [(question, 2), (question, 2)]
    answers = [line for line in lines if "answer: GENERATED" in line]
    assert len(answers) == 2
    assert all("Initech" in line for line in answers)
