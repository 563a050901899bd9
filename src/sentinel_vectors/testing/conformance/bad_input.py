"""Bad input: a clear typed error from :mod:`sentinel_vectors.errors`, nothing half-written."""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sentinel_vectors.errors import DimensionMismatchError, InvalidInputError
from sentinel_vectors.index import Chunk
from sentinel_vectors.testing.conformance.world import DIM, NEAR, World, vec

__all__ = ["BadInputRules"]

BAD_CHUNKS: dict[str, Any] = {
    "no chunks": [],
    "a string": "text",
    "not a Chunk": [{"text": "t", "embedding": NEAR}],
    "text not a string": [Chunk(b"bytes", NEAR)],  # type: ignore[arg-type]
    "metadata not a dict": [Chunk("t", NEAR, ["topic"])],  # type: ignore[arg-type]
    "NaN in the vector": [Chunk("t", vec(math.nan))],
    "infinity in the vector": [Chunk("t", vec(math.inf))],
    "empty vector": [Chunk("t", [])],
    "vector of strings": [Chunk("t", ["1", "0", "0", "0"])],  # type: ignore[list-item]
    "mixed dimensions": [Chunk("a", NEAR), Chunk("b", [*NEAR, 0.0])],
    "a second bad chunk": [Chunk("a", NEAR), Chunk("b", vec(math.nan))],
}

BAD_QUERIES: dict[str, tuple[Any, Any, type[Exception]]] = {
    "k = 0": (NEAR, 0, InvalidInputError),
    "k < 0": (NEAR, -1, InvalidInputError),
    "k a bool": (NEAR, True, InvalidInputError),
    "k a float": (NEAR, 2.5, InvalidInputError),
    "NaN in the query": (vec(math.nan), 3, InvalidInputError),
    "empty query": ([], 3, InvalidInputError),
    "query of the wrong dimension": ([1.0] * (DIM * 2), 3, DimensionMismatchError),
}


class BadInputRules:
    """Every entry point refuses bad input with a typed error before any write."""

    @pytest.mark.parametrize("case", list(BAD_CHUNKS))
    async def test_bad_chunks_are_refused_before_anything_is_registered_or_written(
        self, conformance_loaded: World, case: str
    ) -> None:
        w = conformance_loaded
        before = await w.snapshot()
        new = str(uuid.uuid4())
        with pytest.raises(InvalidInputError):
            await w.lifecycle(w.owner).index_resource(new, BAD_CHUNKS[case])
        with pytest.raises(InvalidInputError):
            await w.lifecycle(w.owner).index_resource(w.private, BAD_CHUNKS[case])
        with pytest.raises(InvalidInputError):
            await w.index(w.owner).put_chunks(w.private, BAD_CHUNKS[case])
        assert not w.t.registered(new)
        assert await w.snapshot() == before

    @pytest.mark.parametrize("rid", ["not-a-uuid", "", 42, None])
    async def test_a_bad_resource_id_is_refused_everywhere(
        self, conformance_loaded: World, rid: Any
    ) -> None:
        w = conformance_loaded
        before = await w.snapshot()
        index = w.index(w.admin)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: w.lifecycle(w.owner).index_resource(rid, [Chunk("t", NEAR)]),
            lambda: w.lifecycle(w.admin).delete_resource(rid),
            lambda: index.put_chunks(rid, [Chunk("t", NEAR)]),
            lambda: index.remove_chunks(rid),
            lambda: index.count_chunks(rid),
        ]
        for call in calls:
            with pytest.raises(InvalidInputError):
                await call()
        assert await w.snapshot() == before

    async def test_an_unknown_visibility_is_refused(self, conformance_world: World) -> None:
        w = conformance_world
        new = str(uuid.uuid4())
        with pytest.raises(InvalidInputError):
            await w.lifecycle(w.owner).index_resource(new, [Chunk("t", NEAR)], visibility="public")
        assert not w.t.registered(new)
        assert await w.records(new) == []

    @pytest.mark.parametrize("case", list(BAD_QUERIES))
    async def test_a_bad_search_is_a_typed_error(
        self, conformance_loaded: World, case: str
    ) -> None:
        w = conformance_loaded
        query, k, error = BAD_QUERIES[case]
        with pytest.raises(error):
            await w.index(w.viewer).search(query, k)

    async def test_a_chunk_of_the_wrong_dimension_is_refused_and_nothing_changes(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        before = await w.snapshot()
        with pytest.raises(DimensionMismatchError):
            await w.index(w.owner).put_chunks(w.private, [Chunk("t", NEAR), Chunk("u", [1.0] * 8)])
        with pytest.raises(DimensionMismatchError):
            await w.index(w.owner).put_chunks(w.private, [Chunk("t", [1.0] * (DIM * 2))])
        assert await w.snapshot() == before
