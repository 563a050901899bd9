"""Run the Python blocks of a Markdown file in order, in one namespace, as a reader would.

Blocks are found by ``pytest_examples.find_examples`` (fenced ```` ```python ```` blocks).
A block runs as a module body that may use top-level ``await`` (the docs show route and
worker code as coroutines); a block that awaits is run on the file's event loop, any
other block runs synchronously, with no loop running (so ``asyncio.run`` in a block works).
Tracebacks point at the Markdown file's own line numbers.

A block is skipped only when the line before its fence is ``<!-- docs-test: skip REASON -->``
(the reason is required). The list of skipped blocks is asserted in ``test_docs_run.py``.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_examples import find_examples

SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(?P<reason>\S.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One Python block of a Markdown file."""

    path: Path
    fence_line: int  # 1-based line of the opening fence
    source: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        """``file:line`` of the fence."""
        return f"{self.path}:{self.fence_line}"


def blocks_of(path: Path) -> list[Block]:
    """The Python blocks of ``path``, in order, with their skip markers."""
    lines = path.read_text().splitlines()
    out = []
    for example in find_examples(path):
        before = lines[example.start_line - 2] if example.start_line >= 2 else ""
        match = SKIP.search(before)
        out.append(
            Block(path, example.start_line, example.source, match["reason"] if match else None)
        )
    return out


def run_block(block: Block, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    """Execute ``block`` in ``namespace``; top-level awaits run on ``loop``."""
    padded = "\n" * block.fence_line + block.source  # line numbers of the Markdown file
    code = compile(padded, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # a coroutine iff the block awaits at top level
    if inspect.iscoroutine(result):
        loop.run_until_complete(result)
