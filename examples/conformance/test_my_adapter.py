"""The conformance suite against one backend binding: here Chroma in-process, in a temp dir.

Run it with ``pytest examples/conformance`` (needs ``sentinel-vectors[testing]``,
``pytest-asyncio`` and the binding's store client). For your own adapter, replace the
binding (``ChromaBackend``) and the native reader (``records``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import chromadb
import pytest

from sentinel_vectors.testing.conformance import (
    BackendFactory,
    ConformanceSuite,
    ConformanceTarget,
)
from sentinel_vectors_chroma import ChromaBackend


class TestMyAdapter(ConformanceSuite):
    """Every rule of the suite, on a fresh collection per test."""

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))

        @asynccontextmanager
        async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
            # A new, empty collection for `dimension`-vectors (Chroma learns the dimension).
            name = f"conformance-{uuid.uuid4().hex[:12]}"
            collection = client.create_collection(name, embedding_function=None)

            async def records(key: str, value: str) -> list[Mapping[str, Any]]:
                # The native client, no scope: every record whose metadata `key` is `value`.
                got = collection.get(where={key: value}, include=["metadatas"])
                return [dict(m or {}) for m in got["metadatas"] or []]

            yield ConformanceTarget(ChromaBackend(collection, resource_type="document"), records)
            client.delete_collection(name)

        return factory
