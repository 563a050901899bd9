"""The arguments of a scoped pgvector store's calls, checked before any lookup.

Bad input raises a typed error from :mod:`sentinel_vectors.errors` before the permission
service or the database is asked anything, so nothing is half-written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.errors import InvalidInputError, ReservedKeyError
from sentinel_vectors.scope import Scope
from sentinel_vectors.validation import (
    as_embeddings,
    as_id_list,
    as_metadata_list,
    check_lengths,
)

__all__ = ["Batch", "check_offset", "query_vector", "write_batch"]


@dataclass(frozen=True, slots=True)
class Batch:
    """Validated write arguments, one entry per id."""

    ids: list[str]
    embeddings: list[list[float]] | None
    metadatas: list[Mapping[str, Any]] | None
    documents: list[str | None] | None


def write_batch(
    op: str,
    ids: str | Sequence[str],
    embeddings: Any,
    metadatas: Any,
    documents: Any,
    *,
    full: bool,
    scope: Scope,
    dim: int,
) -> Batch:
    """Check a write's arguments; ``full`` writes (add, upsert) need embeddings and
    metadatas naming each record's resource."""
    id_list = as_id_list(ids)
    n = len(id_list)
    metas = as_metadata_list(metadatas, n, required=full)
    if metas is not None:
        key = scope.resource_key
        for i, meta in enumerate(metas):
            _check_metadata(meta, i, scope.reserved_keys)
            if full and key not in meta:
                raise ReservedKeyError(
                    f"metadatas[{i}] must name its resource under {key!r} "
                    f"(the Sentinel resource id this chunk belongs to)"
                )
            if key in meta:
                canonical_uuid(meta[key], what=f"metadatas[{i}][{key!r}]")
    if embeddings is None and full:
        raise InvalidInputError(f"{op}() needs embeddings: this store never embeds text")
    embs = None if embeddings is None else as_embeddings(embeddings, n=n, dimension=dim)
    docs = _documents(documents, n)
    return Batch(id_list, embs, metas, docs)


def query_vector(embedding: Any, dim: int) -> list[float]:
    """One query vector of the table's dimension."""
    vectors = as_embeddings(embedding, n=None, dimension=dim, what="embedding")
    if len(vectors) != 1:
        raise InvalidInputError("query() takes one embedding; call it once per vector")
    return vectors[0]


def check_offset(offset: object) -> int | None:
    """``None`` or a non-negative ``int``."""
    if offset is None:
        return None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"offset must be a non-negative integer, got {offset!r}")
    return offset


def _check_metadata(meta: Mapping[str, Any], i: int, reserved: frozenset[str]) -> None:
    for key, value in meta.items():
        if key in reserved:
            continue  # the policy checks and stamps these
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"metadatas[{i}][{key!r}] is {value!r}; use finite numbers")
        if not isinstance(value, str | int | float | bool):
            raise InvalidInputError(
                f"metadatas[{i}][{key!r}] must be str, int, float or bool, "
                f"got {type(value).__name__}"
            )
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise InvalidInputError(f"metadatas[{i}][{key!r}] contains a NUL character")


def _documents(documents: Any, n: int) -> list[str | None] | None:
    if documents is None:
        return None
    if isinstance(documents, str):
        documents = [documents]
    if not isinstance(documents, Sequence):
        raise InvalidInputError("documents must be a string or a list of strings")
    out: list[str | None] = []
    for item in documents:
        if item is not None and not isinstance(item, str):
            raise InvalidInputError(f"documents must be strings, got {type(item).__name__}")
        if isinstance(item, str) and "\x00" in item:
            raise InvalidInputError("documents may not contain NUL characters (PostgreSQL text)")
        out.append(item)
    check_lengths(n, documents=out)
    return out
