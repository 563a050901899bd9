"""The neutral filter algebra: construction, validation, parsing, evaluation, compilation."""

from __future__ import annotations

import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.errors import FilterError
from sentinel_vectors_chroma.compiler import ChromaWhereCompiler


def test_constructors_build_validated_nodes() -> None:
    f = F.and_(F.eq("topic", "a"), F.gte("year", 2024), F.not_(F.in_("lang", ["de", "fr"])))
    assert isinstance(f, F.And)
    assert F.filter_keys(f) == {"topic", "year", "lang"}
    assert F.and_(F.eq("a", 1)) == F.eq("a", 1)


@pytest.mark.parametrize(
    "build",
    [
        lambda: F.eq("", 1),
        lambda: F.eq("$and", 1),
        lambda: F.eq("k", [1, 2]),  # type: ignore[arg-type]
        lambda: F.eq("k", None),  # type: ignore[arg-type]
        lambda: F.gt("k", "x"),  # type: ignore[arg-type]
        lambda: F.gt("k", True),
        lambda: F.in_("k", []),
        lambda: F.in_("k", "abc"),
        lambda: F.in_("k", [1, "a"]),
        lambda: F.And(()),
        lambda: F.Or((F.eq("a", 1), "nope")),  # type: ignore[arg-type]
        lambda: F.Not("nope"),  # type: ignore[arg-type]
        lambda: F.Comparison("k", "like", "x"),  # type: ignore[arg-type]
    ],
)
def test_malformed_filters_raise_filter_error(build: object) -> None:
    with pytest.raises(FilterError):
        build()  # type: ignore[operator]


def test_parse_where_accepts_chroma_syntax() -> None:
    where = {
        "$and": [
            {"topic": "billing"},
            {"year": {"$gte": 2024, "$lt": 2026}},
            {"$or": [{"lang": {"$in": ["en", "de"]}}, {"lang": {"$nin": ["fr"]}}]},
            {"$not": {"draft": True}},
        ]
    }
    f = F.parse_where(where)
    assert F.matches(f, {"topic": "billing", "year": 2025, "lang": "en", "draft": False})
    assert not F.matches(f, {"topic": "billing", "year": 2026, "lang": "en", "draft": False})
    assert not F.matches(f, {"topic": "billing", "year": 2025, "lang": "en", "draft": True})


@pytest.mark.parametrize(
    "where",
    [
        {"$like": "x"},
        {"topic": {"$regex": "a.*"}},
        {"$and": []},
        {"$and": {"a": 1}},
        {"topic": {"$in": "abc"}},
        {"topic": {}},
        {},
        {"topic": {"$eq": [1]}},
        {"topic": None},
    ],
)
def test_parse_where_rejects_unknown_or_malformed(where: dict[str, object]) -> None:
    with pytest.raises(FilterError):
        F.parse_where(where)


def test_missing_key_semantics_match_chroma() -> None:
    meta: dict[str, object] = {"other": 1}
    assert not F.matches(F.eq("k", 1), meta)
    assert F.matches(F.ne("k", 1), meta)
    assert not F.matches(F.in_("k", [1]), meta)
    assert F.matches(F.not_in("k", [1]), meta)
    assert not F.matches(F.gt("k", 1), meta)


def test_bool_and_int_are_distinct_values() -> None:
    assert not F.matches(F.eq("flag", 1), {"flag": True})
    assert F.matches(F.eq("flag", True), {"flag": True})


def test_negate_pushes_to_leaves() -> None:
    f = F.negate(F.and_(F.eq("a", 1), F.or_(F.gt("b", 2), F.in_("c", ["x"]))))
    assert f == F.Or((F.ne("a", 1), F.And((F.lte("b", 2), F.not_in("c", ["x"])))))


def test_chroma_compiler_output() -> None:
    compiled = ChromaWhereCompiler().compile(
        F.and_(F.eq("a", 1), F.not_(F.or_(F.in_("b", ["x"]), F.lt("c", 3))))
    )
    assert compiled == {
        "$and": [
            {"a": {"$eq": 1}},
            {"$and": [{"b": {"$nin": ["x"]}}, {"c": {"$gte": 3}}]},
        ]
    }
