"""The lifecycle's pure rules and the chunk layout, without any service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from sentinel_vectors.embedders import Embeddings, HashingEmbedder
from sentinel_vectors.errors import AccessDeniedError, InvalidInputError, ReservedKeyError
from sentinel_vectors.index import (
    CHUNK_INDEX_KEY,
    CHUNK_OF_KEY,
    Chunk,
    check_chunks,
    chunk_id,
    chunk_metadata,
)
from sentinel_vectors.lifecycle import (
    ResourceConflictError,
    ResourceNotFoundError,
    ResourceRecord,
    check_may_create,
    check_may_delete,
    check_same_workspace,
)
from sentinel_vectors.policy import resource_of_id
from sentinel_vectors.scope import Scope

WS, OTHER_WS = str(uuid.uuid4()), str(uuid.uuid4())
USER, OTHER_USER = str(uuid.uuid4()), str(uuid.uuid4())
RID = str(uuid.uuid4())


class Auth:
    """A minimal AuthContext (no permission service is asked in these tests)."""

    def __init__(self, role: str) -> None:
        self.user_id = uuid.UUID(USER)
        self.workspace_id = uuid.UUID(WS)
        self.workspace_role = role
        self.groups: Sequence[uuid.UUID] = []

    async def accessible(
        self, resource_type: str, action: str, limit: int | None = None
    ) -> tuple[list[uuid.UUID], bool]:
        raise AssertionError("not asked")


def scope(role: str) -> Scope:
    return Scope.of(Auth(role), resource_type="document")


def record(workspace: str = WS, owner: str = USER) -> ResourceRecord:
    return ResourceRecord(RID, workspace, owner, "private")


def test_chunk_ids_are_reserved_to_their_resource_per_position() -> None:
    assert chunk_id(RID, 0) == chunk_id(RID.upper(), 0) == f"{RID}:0"
    assert chunk_id(RID, 0) != chunk_id(RID, 1)
    assert chunk_id(RID, 0) != chunk_id(str(uuid.uuid4()), 0)
    assert resource_of_id(chunk_id(RID, 3)) == RID
    with pytest.raises(InvalidInputError):
        chunk_id(RID, -1)


def test_chunk_metadata_stamps_the_resource_and_bookkeeping_and_refuses_reserved_keys() -> None:
    meta = chunk_metadata(scope("editor"), RID, 2, Chunk("t", [1.0], {"title": "x"}))
    assert meta == {"title": "x", "resource_id": RID, CHUNK_OF_KEY: RID, CHUNK_INDEX_KEY: 2}
    for key in ("workspace_id", "owner_id", "resource_id", CHUNK_OF_KEY, CHUNK_INDEX_KEY, "text"):
        with pytest.raises(ReservedKeyError):
            chunk_metadata(scope("editor"), RID, 0, Chunk("t", [1.0], {key: RID}))


@pytest.mark.parametrize(
    "chunks",
    [
        [],
        "text",
        ["not a chunk"],
        [Chunk("a", [1.0, 0.0]), Chunk("b", [1.0])],  # two dimensions
        [Chunk("a", [float("nan")])],
        [Chunk(1, [1.0])],  # type: ignore[arg-type]
    ],
)
def test_check_chunks_refuses_malformed_chunks(chunks: object) -> None:
    with pytest.raises(InvalidInputError):
        check_chunks(chunks)  # type: ignore[arg-type]


def test_creating_needs_the_editor_role() -> None:
    with pytest.raises(AccessDeniedError):
        check_may_create(scope("viewer"))
    for role in ("editor", "admin", "owner"):
        check_may_create(scope(role))


def test_deleting_needs_the_owner_or_an_admin() -> None:
    check_may_delete(scope("viewer"), record(owner=USER))
    check_may_delete(scope("admin"), record(owner=OTHER_USER))
    check_may_delete(scope("owner"), record(owner=OTHER_USER))
    with pytest.raises(AccessDeniedError):
        check_may_delete(scope("editor"), record(owner=OTHER_USER))
    with pytest.raises(ResourceNotFoundError):
        check_may_delete(scope("admin"), record(workspace=OTHER_WS))


def test_another_workspace_is_a_conflict() -> None:
    check_same_workspace(scope("viewer"), record())
    with pytest.raises(ResourceConflictError):
        check_same_workspace(scope("owner"), record(workspace=OTHER_WS))


def test_hashing_embedder_is_deterministic_normalised_and_shares_words() -> None:
    embedder = HashingEmbedder(64)
    assert isinstance(embedder, Embeddings)
    a, b, c = embedder.embed_documents(["Quarterly revenue", "quarterly report", "holiday"])
    assert embedder.embed_query("Quarterly revenue") == a
    assert len(a) == 64
    assert abs(sum(x * x for x in a) - 1.0) < 1e-9

    def dot(u: list[float], v: list[float]) -> float:
        return sum(x * y for x, y in zip(u, v, strict=True))

    assert dot(a, b) > dot(a, c)
    assert embedder.embed_query("") == [0.0] * 64
    with pytest.raises(ValueError):
        HashingEmbedder(1)
