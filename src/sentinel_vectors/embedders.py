"""Embedders: the protocol the suite's helpers call, and a tiny offline one for examples.

:class:`Embeddings` is the shape of LangChain's ``Embeddings`` (``embed_documents`` and
``embed_query``), so any LangChain embedder, or a ten-line wrapper around another
model, plugs in. :class:`HashingEmbedder` is deterministic, offline and dependency-free:
a hashed bag of words. It is good enough for examples and tests, where "shares a word"
is a fine notion of "similar"; it is not a semantic model.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Embeddings", "HashingEmbedder"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@runtime_checkable
class Embeddings(Protocol):
    """Turns texts into vectors (the LangChain ``Embeddings`` interface, synchronous part)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query."""
        ...


class HashingEmbedder:
    """Hashed bag-of-words vectors of ``dimension`` floats, L2-normalised.

    Each lower-cased word is hashed (BLAKE2b, so the result is the same in every process
    and on every machine) to a bucket and a sign; the vector is the signed bucket counts,
    normalised to unit length. Texts that share words are close; the empty text is the
    zero vector. ``embed_query`` equals ``embed_documents([text])[0]``.
    """

    def __init__(self, dimension: int = 64) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 2:
            raise ValueError(f"dimension must be an integer >= 2, got {dimension!r}")
        self.dimension = dimension

    def __repr__(self) -> str:
        return f"HashingEmbedder(dimension={self.dimension})"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """The vector of ``text`` (queries and documents share one space)."""
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
        vector = [0.0] * self.dimension
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "big")
            bucket = value % self.dimension
            vector[bucket] += 1.0 if (value >> 63) & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0.0:
            return vector
        return [x / norm for x in vector]
