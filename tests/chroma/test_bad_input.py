"""Bad input gets a typed error before anything is written, and the store is unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sentinel_vectors.errors import (
    DimensionMismatchError,
    FilterError,
    InvalidInputError,
    MissingAuthError,
    ReservedKeyError,
)
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors_chroma import ScopedCollection
from tests.chroma.test_invariants import native_ids


@pytest.fixture
async def editor(tenancy: Tenancy, chroma_collection: Any) -> Member:
    member = tenancy.member("editor", tenancy.workspace())
    seed_doc = tenancy.resource(member, "private")
    docs = ScopedCollection(chroma_collection, member.auth, resource_type="document")
    await docs.add(
        ids=["seed"], embeddings=[[1.0, 0.0, 0.0]], metadatas=[{"resource_id": seed_doc}]
    )
    return member


RID = str(uuid.uuid4())
OK_META = {"resource_id": RID}

WRITES: dict[str, tuple[type[Exception], Callable[[ScopedCollection], Any]]] = {
    "ids not strings": (
        InvalidInputError,
        lambda d: d.add(ids=[1, 2], embeddings=[[1, 0, 0]] * 2, metadatas=[OK_META] * 2),
    ),
    "duplicate ids": (
        InvalidInputError,
        lambda d: d.add(ids=["a", "a"], embeddings=[[1, 0, 0]] * 2, metadatas=[OK_META] * 2),
    ),
    "fewer embeddings than ids": (
        InvalidInputError,
        lambda d: d.add(ids=["a", "b"], embeddings=[[1, 0, 0]], metadatas=[OK_META] * 2),
    ),
    "fewer metadatas than ids": (
        InvalidInputError,
        lambda d: d.add(ids=["a", "b"], embeddings=[[1, 0, 0]] * 2, metadatas=[OK_META]),
    ),
    "fewer documents than ids": (
        InvalidInputError,
        lambda d: d.add(
            ids=["a", "b"], embeddings=[[1, 0, 0]] * 2, metadatas=[OK_META] * 2, documents=["x"]
        ),
    ),
    "wrong dimension": (
        DimensionMismatchError,
        lambda d: d.add(ids=["a"], embeddings=[[1, 0, 0, 0]], metadatas=[OK_META]),
    ),
    "mixed dimensions in one batch": (
        DimensionMismatchError,
        lambda d: d.upsert(ids=["a", "b"], embeddings=[[1, 0, 0], [1, 0]], metadatas=[OK_META] * 2),
    ),
    "nan in a vector": (
        InvalidInputError,
        lambda d: d.add(ids=["a"], embeddings=[[float("nan"), 0, 0]], metadatas=[OK_META]),
    ),
    "no metadata": (
        InvalidInputError,
        lambda d: d.add(ids=["a"], embeddings=[[1, 0, 0]]),
    ),
    "no resource id": (
        ReservedKeyError,
        lambda d: d.add(ids=["a"], embeddings=[[1, 0, 0]], metadatas=[{"topic": "x"}]),
    ),
    "resource id not a uuid": (
        InvalidInputError,
        lambda d: d.add(ids=["a"], embeddings=[[1, 0, 0]], metadatas=[{"resource_id": "doc-1"}]),
    ),
    "forged workspace in the second record": (
        ReservedKeyError,
        lambda d: d.add(
            ids=["a", "b"],
            embeddings=[[1, 0, 0]] * 2,
            metadatas=[OK_META, {**OK_META, "workspace_id": str(uuid.uuid4())}],
        ),
    ),
    "update moving a record to another resource": (
        ReservedKeyError,
        lambda d: d.update(ids=["seed"], metadatas=[{"resource_id": str(uuid.uuid4())}]),
    ),
    "delete with no target": (InvalidInputError, lambda d: d.delete()),
    "delete with a where list": (FilterError, lambda d: d.delete(where=[{"topic": "a"}])),
    "delete with a where string": (FilterError, lambda d: d.delete(where="topic = 'a'")),
    "delete with a malformed where_document": (
        FilterError,
        lambda d: d.delete(ids=["seed"], where_document=["$contains", "a"]),
    ),
    "an id with a NUL byte": (
        InvalidInputError,
        lambda d: d.add(ids=["a\x00b"], embeddings=[[1, 0, 0]], metadatas=[OK_META]),
    ),
    "an id with an unpaired surrogate": (
        InvalidInputError,
        lambda d: d.upsert(ids=["a\ud800"], embeddings=[[1, 0, 0]], metadatas=[OK_META]),
    ),
    "add of documents without embeddings": (
        InvalidInputError,
        lambda d: d.add(ids=["a"], documents=["text"], metadatas=[OK_META]),
    ),
    "upsert of documents without embeddings": (
        InvalidInputError,
        lambda d: d.upsert(ids=["a"], documents=["text"], metadatas=[OK_META]),
    ),
}


@pytest.mark.parametrize("case", list(WRITES))
async def test_bad_write_is_refused_and_nothing_changes(
    case: str, editor: Member, chroma_collection: Any
) -> None:
    error, call = WRITES[case]
    docs = ScopedCollection(chroma_collection, editor.auth, resource_type="document")
    before = await native_ids(chroma_collection)
    with pytest.raises(error):
        await call(docs)
    assert await native_ids(chroma_collection) == before


READS: dict[str, tuple[type[Exception], Callable[[ScopedCollection], Any]]] = {
    "unknown operator": (
        FilterError,
        lambda d: d.query(query_embeddings=[[1, 0, 0]], where={"topic": {"$regex": "a"}}),
    ),
    "filter on workspace_id": (
        ReservedKeyError,
        lambda d: d.get(where={"workspace_id": str(uuid.uuid4())}),
    ),
    "filter on owner_id inside $or": (
        ReservedKeyError,
        lambda d: d.get(where={"$or": [{"topic": "a"}, {"owner_id": "x"}]}),
    ),
    "filter on the resource key": (ReservedKeyError, lambda d: d.get(where={"resource_id": RID})),
    "query of the wrong dimension": (
        DimensionMismatchError,
        lambda d: d.query(query_embeddings=[[1, 0]]),
    ),
    "zero results": (
        InvalidInputError,
        lambda d: d.query(query_embeddings=[[1, 0, 0]], n_results=0),
    ),
    "two query inputs": (
        InvalidInputError,
        lambda d: d.query(query_embeddings=[[1, 0, 0]], query_texts=["x"]),
    ),
    "unknown include": (InvalidInputError, lambda d: d.get(include=["secrets"])),
    "where as a list": (FilterError, lambda d: d.get(where=[{"topic": "a"}])),
    "where as a string": (
        FilterError,
        lambda d: d.query(query_embeddings=[[1, 0, 0]], where="topic = 'a'"),
    ),
    "where_document as a list": (FilterError, lambda d: d.get(where_document=["a"])),
    "where_document with an unknown operator": (
        FilterError,
        lambda d: d.query(query_embeddings=[[1, 0, 0]], where_document={"$like": "a"}),
    ),
    "an id with a NUL byte": (InvalidInputError, lambda d: d.get(ids=["a\x00"])),
    "negative offset": (InvalidInputError, lambda d: d.get(offset=-1)),
}


@pytest.mark.parametrize("case", list(READS))
async def test_bad_read_is_refused(case: str, editor: Member, chroma_collection: Any) -> None:
    error, call = READS[case]
    docs = ScopedCollection(chroma_collection, editor.auth, resource_type="document")
    with pytest.raises(error):
        await call(docs)


async def test_none_auth_is_refused(chroma_collection: Any) -> None:
    with pytest.raises(MissingAuthError):
        ScopedCollection(chroma_collection, None, resource_type="document")


async def test_dimension_is_learned_from_the_store_not_the_first_write(
    tenancy: Tenancy, chroma_collection: Any, editor: Member
) -> None:
    # A brand-new wrapper (new request) knows the dimension of the seeded collection.
    other = tenancy.member("editor", editor.user.workspace_id)
    docs = ScopedCollection(chroma_collection, other.auth, resource_type="document")
    with pytest.raises(DimensionMismatchError):
        await docs.upsert(ids=["z"], embeddings=[[1.0, 0.0]], metadatas=[OK_META])


async def test_update_of_documents_without_embeddings_is_refused(
    editor: Member, chroma_collection: Any
) -> None:
    """Chroma would embed them implicitly (offline: a connection error); add refuses that too."""
    docs = ScopedCollection(chroma_collection, editor.auth, resource_type="document")
    before = await docs.get(ids=["seed"], include=["documents", "embeddings"])
    with pytest.raises(InvalidInputError, match="never embeds"):
        await docs.update(ids=["seed"], documents=["new text"])
    with pytest.raises(InvalidInputError, match="never embeds"):
        await docs.update(ids=["seed"], uris=["file:///x"])
    after = await docs.get(ids=["seed"], include=["documents", "embeddings"])
    assert after["documents"] == before["documents"]
    assert [list(e) for e in after["embeddings"]] == [list(e) for e in before["embeddings"]]
    await docs.update(ids=["seed"], embeddings=[[0.0, 1.0, 0.0]], documents=["with a vector"])
    assert (await docs.get(ids=["seed"]))["documents"] == ["with a vector"]


async def test_add_of_an_existing_id_is_refused_not_skipped(
    tenancy: Tenancy, chroma_collection: Any
) -> None:
    """Chroma's own add() skips an existing id silently; the wrapper refuses it."""
    ws = tenancy.workspace()
    editor = tenancy.member("editor", ws)
    first, second = tenancy.resource(editor, "workspace"), tenancy.resource(editor, "workspace")
    docs = ScopedCollection(chroma_collection, editor.auth, resource_type="document")
    await docs.add(ids=["c1"], embeddings=[[1.0, 0.0, 0.0]], metadatas=[{"resource_id": first}])
    with pytest.raises(InvalidInputError, match="already exist"):
        await docs.add(
            ids=["c1", "c2"],
            embeddings=[[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]],
            metadatas=[{"resource_id": second}, {"resource_id": second}],
        )
    got = await docs.get(include=["metadatas", "embeddings"])
    assert got["ids"] == ["c1"]  # nothing of the refused call was written
    assert got["metadatas"][0]["resource_id"] == first
