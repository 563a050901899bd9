"""Workspace placement on Chroma: one collection per workspace, chosen by the scope.

:func:`placed_collection` maps the core's :class:`~sentinel_vectors.placement.Placement` to
a collection: the shared collection ``base``, or the workspace's own
``<base>__ws_<uuid hex>`` (:func:`~sentinel_vectors.placement.dedicated_name`). The name is
derived from the caller's auth (its workspace) and the service's ``base``, never from an
argument of a call: a wrapper holds exactly one collection, and no id, ``where`` clause
or name a caller passes reaches another. The tenancy filter and the physical ids
``"<workspace>:<id>"`` stay on in every mode (a second fence, not the only one).
"""

from __future__ import annotations

from typing import Any

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.placement import Placement
from sentinel_vectors.scope import Scope
from sentinel_vectors_chroma.collection import ScopedCollection
from sentinel_vectors_chroma.sync import SyncScopedCollection

__all__ = ["collection_name", "placed_collection", "sync_placed_collection"]


def collection_name(
    base: str, auth: AuthContext | None, placement: Placement, *, resource_type: str
) -> str:
    """The collection the caller's workspace lives in under ``placement``."""
    scope = Scope.of(auth, resource_type=resource_type)
    return placement.target(scope).name(base)


def placed_collection(
    client: Any,
    base: str,
    auth: AuthContext | None,
    *,
    placement: Placement,
    resource_type: str,
    **options: Any,
) -> ScopedCollection:
    """A :class:`ScopedCollection` over the caller's placed collection of a sync client.

    The collection is created if missing (``embedding_function=None``: vectors are
    given). ``options`` are :class:`ScopedCollection`'s.
    """
    name = collection_name(base, auth, placement, resource_type=resource_type)
    native = client.get_or_create_collection(name, embedding_function=None)
    return ScopedCollection(native, auth, resource_type=resource_type, **options)


def sync_placed_collection(
    client: Any,
    base: str,
    auth: AuthContext | None,
    *,
    placement: Placement,
    resource_type: str,
    **options: Any,
) -> SyncScopedCollection:
    """The same as :func:`placed_collection`, as a :class:`SyncScopedCollection`."""
    name = collection_name(base, auth, placement, resource_type=resource_type)
    native = client.get_or_create_collection(name, embedding_function=None)
    return SyncScopedCollection(native, auth, resource_type=resource_type, **options)
