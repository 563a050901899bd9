"""Workspace placement on Chroma: one collection per workspace, chosen by the scope.

:func:`placed_collection` maps the core's :class:`~sentinel_vectors.placement.Placement` to
a collection: the shared collection ``base``, or the workspace's own
``<base>__ws_<uuid hex>`` (:func:`~sentinel_vectors.placement.dedicated_name`). The name is
derived from the caller's auth (its workspace) and the service's ``base``, never from an
argument of a call: a wrapper holds exactly one collection, and no id, ``where`` clause
or name a caller passes reaches another. The tenancy filter and the physical ids
``"<workspace>:<id>"`` stay on in every mode (a second fence, not the only one).

Under ``tiered``, a workspace not named in ``Placement.promoted`` gets a
:class:`~sentinel_vectors_chroma.tiered.TieredCollection`, which finds its place per
operation in the placement registry, so a workspace promoted online
(:func:`~sentinel_vectors_chroma.promotion.promote_workspace`) moves under running
applications. :class:`PlacedChromaBackend` is the binding (FastAPI, lifecycle,
retrievers) for a placement; it keeps the collection handles and what it learnt of
promotions across requests.
"""

from __future__ import annotations

from typing import Any

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.placement import Placement
from sentinel_vectors.scope import Scope
from sentinel_vectors_chroma.binding import ChromaBackend
from sentinel_vectors_chroma.collection import ScopedCollection
from sentinel_vectors_chroma.promotion import DEFAULT_LEASE
from sentinel_vectors_chroma.sync import SyncScopedCollection
from sentinel_vectors_chroma.tiered import (
    DEFAULT_POLL,
    DEFAULT_WRITE_WAIT,
    ChromaPlaces,
    SyncTieredCollection,
    TieredCollection,
)

__all__ = [
    "PlacedChromaBackend",
    "collection_name",
    "placed_collection",
    "sync_placed_collection",
]


def collection_name(
    base: str, auth: AuthContext | None, placement: Placement, *, resource_type: str
) -> str:
    """The collection the caller's workspace lives in under ``placement``.

    Under ``tiered`` this is the static answer (``Placement.promoted``); a workspace
    promoted online is found per operation by the tiered wrapper.
    """
    scope = Scope.of(auth, resource_type=resource_type)
    return placement.target(scope).name(base)


def _registry_tiered(placement: Placement, auth: AuthContext | None, resource_type: str) -> bool:
    """Whether the caller's wrapper must look its place up in the registry."""
    if placement.mode != "tiered":
        return False
    return not placement.target(Scope.of(auth, resource_type=resource_type)).dedicated


def placed_collection(
    client: Any,
    base: str,
    auth: AuthContext | None,
    *,
    placement: Placement,
    resource_type: str,
    lease: float = DEFAULT_LEASE,
    write_wait: float = DEFAULT_WRITE_WAIT,
    poll: float = DEFAULT_POLL,
    **options: Any,
) -> ScopedCollection:
    """A :class:`ScopedCollection` over the caller's placed collection of a sync client.

    The collection is created if missing (``embedding_function=None``: vectors are
    given). Under ``tiered`` (a workspace not in ``Placement.promoted``) it is a
    :class:`~sentinel_vectors_chroma.tiered.TieredCollection` with ``lease``,
    ``write_wait`` and ``poll`` (see :class:`~sentinel_vectors_chroma.tiered.ChromaPlaces`).
    ``options`` are :class:`ScopedCollection`'s.
    """
    if _registry_tiered(placement, auth, resource_type):
        places = ChromaPlaces(client, base, lease=lease, write_wait=write_wait, poll=poll)
        return TieredCollection(places, auth, resource_type=resource_type, **options)
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
    lease: float = DEFAULT_LEASE,
    write_wait: float = DEFAULT_WRITE_WAIT,
    poll: float = DEFAULT_POLL,
    **options: Any,
) -> SyncScopedCollection:
    """The same as :func:`placed_collection`, as a :class:`SyncScopedCollection`."""
    if _registry_tiered(placement, auth, resource_type):
        places = ChromaPlaces(client, base, lease=lease, write_wait=write_wait, poll=poll)
        return SyncTieredCollection(places, auth, resource_type=resource_type, **options)
    name = collection_name(base, auth, placement, resource_type=resource_type)
    native = client.get_or_create_collection(name, embedding_function=None)
    return SyncScopedCollection(native, auth, resource_type=resource_type, **options)


class PlacedChromaBackend(ChromaBackend):
    """The binding of a placed base: each caller's wrapper in its workspace's place.

    Args:
        client: a sync ``chromadb`` client.
        base: the shared collection's name (and the prefix of own collections).
        placement: ``shared``, ``per_tenant`` or ``tiered``.
        resource_type, resource_key, options: as :class:`ChromaBackend`.
        lease, write_wait, poll: the tiered wrappers' settings
            (:class:`~sentinel_vectors_chroma.tiered.ChromaPlaces`).

    Under ``tiered`` one :class:`~sentinel_vectors_chroma.tiered.ChromaPlaces` serves
    every request, so a promoted workspace is asked about once per process.
    """

    def __init__(
        self,
        client: Any,
        base: str,
        *,
        placement: Placement,
        resource_type: str,
        resource_key: str = "resource_id",
        lease: float = DEFAULT_LEASE,
        write_wait: float = DEFAULT_WRITE_WAIT,
        poll: float = DEFAULT_POLL,
        **options: Any,
    ) -> None:
        self.client = client
        self.base = base
        self.placement = placement
        self.places = ChromaPlaces(client, base, lease=lease, write_wait=write_wait, poll=poll)
        super().__init__(
            self.places.shared, resource_type=resource_type, resource_key=resource_key, **options
        )

    def __repr__(self) -> str:
        return (
            f"PlacedChromaBackend(base={self.base!r}, mode={self.placement.mode!r}, "
            f"resource_type={self.resource_type!r})"
        )

    def scoped(self, auth: AuthContext) -> ScopedCollection:
        """The caller's wrapper, in its workspace's place."""
        options: dict[str, Any] = {
            "resource_type": self.resource_type,
            "resource_key": self._resource_key,
        }
        if _registry_tiered(self.placement, auth, self.resource_type):
            return TieredCollection(self.places, auth, **options, **self._options)
        name = collection_name(self.base, auth, self.placement, resource_type=self.resource_type)
        if name == self.base:
            native = self.places.shared
        else:
            native = self.client.get_or_create_collection(name, embedding_function=None)
        return ScopedCollection(native, auth, **options, **self._options)
