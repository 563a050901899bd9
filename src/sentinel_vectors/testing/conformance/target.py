"""What a backend hands the conformance suite: its binding and a native reader."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sentinel_vectors.backends import StoreBackend

__all__ = ["BackendFactory", "ConformanceTarget", "RecordReader"]

RecordReader = Callable[[str, str], Awaitable[list[Mapping[str, Any]]]]
"""``records(key, value)``: the metadata of every stored record whose ``key`` is ``value``."""


@dataclass(frozen=True)
class ConformanceTarget:
    """One fresh, empty collection of the backend under test.

    Attributes:
        backend: the binding (:class:`~sentinel_vectors.backends.StoreBackend`) over that
            collection. Its ``resource_type`` is the Sentinel resource type the suite
            registers; its ``index(auth)`` is what every test calls.
        records: ``await records(key, value)`` returns the metadata of every record of the
            collection whose metadata ``key`` equals ``value`` (a string), read with the
            native client and no scope at all, with the tenancy keys
            (``workspace_id``, ``owner_id``, the resource key) as strings. The suite
            uses it only to look: that nothing was written, that every record of a
            deleted resource is gone, what a write stamped. Never through the wrapper.
    """

    backend: StoreBackend[Any]
    records: RecordReader


BackendFactory = Callable[[int], AbstractAsyncContextManager[ConformanceTarget]]
"""``factory(dimension)``: an async context manager yielding a :class:`ConformanceTarget`
over a new, empty collection of ``dimension``-dimensional vectors (cosine distance), and
dropping it on exit. Called once per test."""
