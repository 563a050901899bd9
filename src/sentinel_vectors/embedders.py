"""Embedders: the protocol the suite's helpers call, and two offline ones.

:class:`Embeddings` is the shape of LangChain's ``Embeddings`` (``embed_documents`` and
``embed_query``, with optional ``aembed_documents`` / ``aembed_query``), so any LangChain
embedder, or a ten-line wrapper around another model, plugs in. :func:`aembed_query`
and :func:`aembed_documents` call the async variants when an embedder has them and run
the sync ones in a worker thread otherwise, so an event loop is never blocked.

Offline embedders (no download at run time, ever):

- :class:`StaticModelEmbedder`: a real, small semantic model (64 dimensions, static
  token embeddings in the Model2Vec style) whose weights ship inside the
  ``tokenlearn-static-model`` wheel. Install with ``pip install 'sentinel-vectors[rag]'``;
  without it, constructing one raises ``ImportError`` saying so (there is no silent
  fallback to another embedder).
- :class:`HashingEmbedder`: deterministic and dependency-free, a hashed bag of words.
  Good enough where "shares a word" is a fine notion of "similar"; not a semantic model.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "RAG_EXTRA_HINT",
    "Embeddings",
    "HashingEmbedder",
    "StaticModelEmbedder",
    "aembed_documents",
    "aembed_query",
]

RAG_EXTRA_HINT = "pip install 'sentinel-vectors[rag]'"
"""How to install the offline model :class:`StaticModelEmbedder` needs."""

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

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """:meth:`embed_documents` (cheap enough to run on the loop)."""
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """:meth:`embed_query` (cheap enough to run on the loop)."""
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


class StaticModelEmbedder:
    """The offline default: a 64-dimensional static embedding model shipped in a wheel.

    Uses ``tokenlearn-static-model`` (a Rust encoder whose int8 weights, 10k-token
    vocabulary and tokenizer are package data, about 7 MB; no torch, no download).
    Vectors are L2-normalised, so use a cosine (or inner product) collection. The model
    loads on first use (under a second) and stays loaded for the process.

    Raises:
        ImportError: the ``rag`` extra is not installed (``pip install
            'sentinel-vectors[rag]'``). The wheel is built for x86-64 Linux only; elsewhere
            pass any other :class:`Embeddings` (a LangChain embedder, for instance).
    """

    dimension = 64
    """The length of every vector."""

    def __init__(self) -> None:
        try:
            from static_model import get_embeddings
        except ImportError as exc:
            raise ImportError(
                "StaticModelEmbedder needs the offline model package tokenlearn-static-model "
                f"({RAG_EXTRA_HINT}); it is not installed. sentinel-vectors never downloads "
                "a model at run time: install the extra, or pass another Embeddings object."
            ) from exc
        self._encode: Callable[[list[str]], Any] = get_embeddings

    def __repr__(self) -> str:
        return "StaticModelEmbedder(tokenlearn-static-model, dimension=64)"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text (the empty text is the zero vector)."""
        items = _check_texts(texts)
        if not items:
            return []
        vectors = self._encode(items)
        return [[float(x) for x in v] for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        """The vector of ``text`` (queries and documents share one space)."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """:meth:`embed_documents` in a worker thread (the first call loads the model)."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """:meth:`embed_query` in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed_documents() takes a list of strings, not one string")
    items = list(texts)
    for text in items:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
    return items


async def aembed_query(embeddings: Embeddings, text: str) -> list[float]:
    """``embeddings.aembed_query(text)`` if it has one, else ``embed_query`` in a thread."""
    method = getattr(embeddings, "aembed_query", None)
    if callable(method):
        vector = await method(text)
    else:
        vector = await asyncio.to_thread(embeddings.embed_query, text)
    return [float(x) for x in vector]


async def aembed_documents(embeddings: Embeddings, texts: list[str]) -> list[list[float]]:
    """``embeddings.aembed_documents(texts)`` if it has one, else the sync one in a thread."""
    method = getattr(embeddings, "aembed_documents", None)
    if callable(method):
        vectors = await method(texts)
    else:
        vectors = await asyncio.to_thread(embeddings.embed_documents, texts)
    return [[float(x) for x in v] for v in vectors]
