"""Wiring mistakes are reported where they are made, with what to do, not as a 503 later."""

from __future__ import annotations

import uuid
from pathlib import Path

import chromadb
import pytest
from fastapi import FastAPI
from sentinel_auth import RequestAuth
from sentinel_auth.types import AuthenticatedUser

from sentinel_vectors.errors import MissingAuthError
from sentinel_vectors.fastapi import VectorStores
from sentinel_vectors_chroma import ChromaBackend, ScopedCollection


def _user() -> AuthenticatedUser:
    return AuthenticatedUser(
        user_id=uuid.uuid4(),
        email="e@example.com",
        name="E",
        workspace_id=uuid.uuid4(),
        workspace_slug="ws",
        workspace_role="editor",
        groups=[],
    )


def test_a_request_auth_without_permission_client_is_a_wiring_error(tmp_path: Path) -> None:
    collection = chromadb.PersistentClient(path=str(tmp_path)).get_or_create_collection(
        "docs", embedding_function=None
    )
    # What get_request_auth_factory() builds when no PermissionClient is passed.
    auth = RequestAuth(user=_user(), _token="t", _permissions=None)
    with pytest.raises(MissingAuthError, match=r"get_request_auth_factory\(permissions="):
        ScopedCollection(collection, auth, resource_type="document")


def test_install_without_permission_client_fails_at_start_up(tmp_path: Path) -> None:
    collection = chromadb.PersistentClient(path=str(tmp_path)).get_or_create_collection(
        "docs", embedding_function=None
    )
    stores = VectorStores()
    stores.add("documents", ChromaBackend(collection, resource_type="document"))
    with pytest.raises(ValueError, match=r"VectorStores\(sentinel.permissions\)"):
        stores.install(FastAPI())


def test_a_dependency_on_an_auth_factory_without_permission_client_fails_when_declared() -> None:
    from sentinel_auth.dependencies import get_request_auth_factory

    from sentinel_vectors.fastapi import resource_lifecycle, scoped_index, scoped_store

    for factory in (scoped_store, scoped_index, resource_lifecycle):
        with pytest.raises(ValueError, match=r"get_request_auth_factory\(permissions="):
            factory("documents", auth=get_request_auth_factory())
    # With a client it is accepted.
    from sentinel_auth import PermissionClient

    client = PermissionClient("http://127.0.0.1:9", "svc", "key")
    scoped_store("documents", auth=get_request_auth_factory(permissions=client))
