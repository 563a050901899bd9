"""Splitting a document into chunks of words."""

from __future__ import annotations


def chunk_text(text: str, *, words: int = 80, overlap: int = 10) -> list[str]:
    """Windows of ``words`` words, consecutive windows sharing ``overlap`` words."""
    tokens = text.split()
    if not tokens:
        return []
    step = max(1, words - overlap)
    out = []
    for start in range(0, len(tokens), step):
        out.append(" ".join(tokens[start : start + words]))
        if start + words >= len(tokens):
            break
    return out
