"""Pure checks added for issue #10: the overwrite condition, caller filters, storable ids."""

from __future__ import annotations

import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.errors import FilterError, InvalidInputError
from sentinel_vectors.validation import as_embeddings, as_id_list
from tests.unit.test_policy import R1, R2, WS, access, policy


@pytest.mark.invariant(10)
def test_invariant_10_overwritable_is_the_rule_for_existing_records() -> None:
    p = policy()
    flt = p.overwritable(access(R1))
    assert flt is not None
    ok = {"workspace_id": WS, "resource_id": R1}
    assert F.matches(flt, ok)
    assert not F.matches(flt, {**ok, "resource_id": R2})
    assert not F.matches(flt, {**ok, "workspace_id": "another"})
    full = p.overwritable(access(full=True))
    assert full is not None
    assert F.matches(full, {**ok, "resource_id": R2})
    assert not F.matches(full, {**ok, "workspace_id": "another"})
    assert p.overwritable(access()) is None


@pytest.mark.parametrize("where", [["x"], "topic = 'a'", 3, ("a", "b")])
def test_a_filter_that_is_not_a_dict_or_node_is_a_filter_error(where: object) -> None:
    with pytest.raises(FilterError):
        F.as_filter(where)


def test_as_filter_takes_none_nodes_and_where_dicts() -> None:
    assert F.as_filter(None) is None
    node = F.eq("a", 1)
    assert F.as_filter(node) is node
    assert F.as_filter({"a": 1}) == node


@pytest.mark.parametrize("bad", ["a\x00b", "\x00", "x\ud800", "\udfff"])
def test_ids_no_backend_can_store_are_invalid(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        as_id_list(["ok", bad])


def test_ordinary_ids_pass() -> None:
    assert as_id_list(["tab\tid", "é", "日本", "a:b"]) == ["tab\tid", "é", "日本", "a:b"]


def test_one_bare_vector_is_told_from_a_list_of_vectors_whatever_its_number_types() -> None:
    import numpy as np

    assert as_embeddings([0.5, 1, 2.0], n=None, dimension=3) == [[0.5, 1.0, 2.0]]
    assert as_embeddings(np.array([0.5, 1.0, 2.0]), n=None, dimension=3) == [[0.5, 1.0, 2.0]]
    # numpy scalars are float subclasses, not floats: still one bare vector.
    assert as_embeddings(list(np.array([0.5, 1.0])), n=None, dimension=2) == [[0.5, 1.0]]
    assert as_embeddings([[0.5, 1.0], [2.0, 3.0]], n=2, dimension=2) == [[0.5, 1.0], [2.0, 3.0]]
    with pytest.raises(InvalidInputError):
        as_embeddings([True, 1.0], n=None, dimension=2)
