"""The neutral placement notion: the target comes from the scope's workspace alone."""

from __future__ import annotations

import uuid

import pytest

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.placement import (
    Placement,
    dedicated_name,
    is_dedicated_name,
)
from sentinel_vectors.scope import Scope
from tests.unit.test_policy import StaticAuth


def scope(workspace: str) -> Scope:
    auth = StaticAuth(workspace_id=uuid.UUID(workspace))
    return Scope.of(auth, resource_type="document")


def test_target_is_the_scopes_workspace_in_every_mode() -> None:
    ws, other = str(uuid.uuid4()), str(uuid.uuid4())
    s = scope(ws.upper())  # canonicalised by the scope
    assert Placement().target(s).dedicated is False
    assert Placement("per_tenant").target(s).dedicated is True
    tiered = Placement("tiered", frozenset({other}))
    assert tiered.target(s).dedicated is False
    assert tiered.promote(ws).target(s).dedicated is True
    assert tiered.target(s, promoted=True).dedicated is True
    for placement in (Placement(), Placement("per_tenant"), tiered.promote(ws)):
        assert placement.target(s).workspace_id == ws
        assert placement.target(s).shard_key == ws


def test_dedicated_names_cannot_be_forged() -> None:
    ws = str(uuid.uuid4())
    name = dedicated_name("docs", ws)
    assert name == f"docs__ws_{uuid.UUID(ws).hex}"
    assert is_dedicated_name(name)
    assert not is_dedicated_name("docs")
    assert dedicated_name("docs", ws.upper()) == name  # one name per workspace
    # Another workspace's place can never be the base of a name (no nesting).
    with pytest.raises(InvalidInputError):
        dedicated_name(name, str(uuid.uuid4()))
    for bad in ("not-a-uuid", "docs__ws_x", "", "../other"):
        with pytest.raises(InvalidInputError):
            dedicated_name("docs", bad)
    with pytest.raises(InvalidInputError, match="too long"):
        dedicated_name("x" * 40, ws, max_length=63)


def test_placement_settings_are_checked() -> None:
    with pytest.raises(InvalidInputError):
        Placement("sharded")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Placement("shared", frozenset({str(uuid.uuid4())}))
    with pytest.raises(InvalidInputError):
        Placement("tiered", "abc")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Placement().promote(str(uuid.uuid4()))
