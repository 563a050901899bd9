"""Workspace placement on Qdrant: the shard key of every request, set by the scope.

:class:`~sentinel_vectors.placement.Placement` maps onto Qdrant's user-defined sharding
(a collection created with ``sharding_method=CUSTOM``, see
:func:`~sentinel_vectors_qdrant.ensure_collection`):

* ``shared``: no shard key is forced; requests are sent exactly as without placement.
  A ``shard_key_selector`` the caller passes goes through unchanged (the application's
  own custom sharding; the tenancy filter still confines every read and write).
* ``per_tenant``: every workspace has a shard key of its own, its canonical UUID
  (:attr:`Target.shard_key <sentinel_vectors.placement.Target.shard_key>`), created at
  onboarding (:func:`~sentinel_vectors_qdrant.create_workspace_shard`). Every request
  carries ``shard_key_selector=<workspace>``.
* ``tiered`` (Qdrant 1.16+ tiered multitenancy): one shared fallback shard key,
  :data:`SHARED_SHARD_KEY`, holds the small workspaces; a promoted workspace has its own
  (:func:`~sentinel_vectors_qdrant.promote_workspace`). Every request carries
  ``ShardKeyWithFallback(target=<workspace>, fallback="shared")``: Qdrant routes a read
  to the workspace's shard once it is active, else to the fallback; a write to the
  workspace's shard once it is active, to both while it is being filled, else to the
  fallback. ``Placement.promoted`` is not needed (Qdrant finds a promoted workspace's
  shard itself) and is ignored.

The shard key comes from the scope only: under ``per_tenant`` and ``tiered`` a shard key
the caller passes anywhere (``shard_key_selector``, or ``shard_key`` inside a
``QueryRequest``, ``PointIdsList``, ``FilterSelector``, ``LookupLocation``, ...) is a
:class:`~sentinel_vectors.errors.ReservedKeyError` and nothing is sent
(:func:`caller_shard_key`, :meth:`ShardRouting.refuse`). The tenancy filter stays on every
request in every mode.

Local mode ignores shard keys and qdrant-edge has none: a non-shared placement over
either is refused when the scoped client is built (:func:`check_engine`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from sentinel_vectors.errors import (
    InvalidInputError,
    PlacementError,
    ReservedKeyError,
    UnsupportedError,
)
from sentinel_vectors.placement import SHARED, Placement
from sentinel_vectors.scope import Scope

__all__ = [
    "SHARED_SHARD_KEY",
    "ShardRouting",
    "caller_shard_key",
    "check_engine",
    "check_placement",
]

SHARED_SHARD_KEY = "shared"
"""The shard key of the shared fallback shard of a ``tiered`` collection.

A fixed name that no workspace's key (a canonical UUID) can equal.
"""

# The native methods whose requests take a ``shard_key_selector`` argument, read from the
# installed client's signatures (both clients have the same ones).
_SELECTING = frozenset(
    name
    for name, fn in inspect.getmembers(QdrantClient, inspect.isfunction)
    if not name.startswith("_") and "shard_key_selector" in inspect.signature(fn).parameters
)
# Native calls that read no points: they need no shard key.
_UNROUTED = frozenset({"get_collection"})
# Fields holding the caller's data (vectors and payloads): never a shard key, not walked.
_OPAQUE = frozenset({"vector", "vectors", "payload", "payloads"})


def check_placement(placement: object) -> Placement:
    """``placement`` if it is a :class:`~sentinel_vectors.placement.Placement`."""
    if placement is None:
        return SHARED
    if not isinstance(placement, Placement):
        raise InvalidInputError(
            f"placement must be a sentinel_vectors.placement.Placement, got "
            f"{type(placement).__name__}"
        )
    return placement


def check_engine(client: AsyncQdrantClient | QdrantClient, placement: Placement) -> None:
    """Refuse a non-shared placement on an engine without shard keys, before any request.

    qdrant-edge has no shard keys at all; local mode (``":memory:"`` or ``path=``) accepts
    ``shard_key_selector`` and ignores it, so a placement there would silently not hold.
    """
    if placement.mode == "shared":
        return
    backend = type(getattr(client, "_client", None))
    if backend.__module__.startswith("sentinel_vectors_qdrant.edge"):
        raise UnsupportedError(
            f"qdrant-edge has no shard keys: a {placement.mode!r} placement needs a Qdrant "
            f"server (use Placement('shared') on the embedded engine)",
            store="qdrant-edge",
        )
    if backend.__name__.endswith("QdrantLocal"):
        raise UnsupportedError(
            f"Qdrant's local mode ignores shard keys: a {placement.mode!r} placement needs a "
            f"Qdrant server (use Placement('shared') in local mode)",
            store="qdrant-local",
        )


def caller_shard_key(value: object, where: str) -> str | None:
    """Where a shard key is set inside a caller's argument (``None``: nowhere).

    Walks qdrant-client models (a ``shard_key`` field that is not ``None``), lists,
    tuples and mappings; vectors and payloads are the caller's data and are skipped.
    Iterators are not consumed.
    """
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            inner = getattr(value, name, None)
            if inner is None or name in _OPAQUE:
                continue
            if name == "shard_key":
                return f"{where}.shard_key"
            found = caller_shard_key(inner, f"{where}.{name}")
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if isinstance(item, BaseModel | list | tuple | Mapping):
                found = caller_shard_key(item, f"{where}[{i}]")
                if found is not None:
                    return found
        return None
    if isinstance(value, Mapping):
        # A request given as a mapping (the REST form) names its shard key as a key.
        for key, item in value.items():
            if key in _OPAQUE or item is None:
                continue
            if key == "shard_key":
                return f"{where}[{key!r}]"
            if isinstance(item, BaseModel | list | tuple | Mapping):
                found = caller_shard_key(item, f"{where}[{key!r}]")
                if found is not None:
                    return found
    return None


class ShardRouting:
    """The shard key selector one scoped client forces on every request.

    Args:
        placement: the placement setting.
        scope: the caller's scope; its workspace is the only input of the shard key.
    """

    def __init__(self, placement: Placement, scope: Scope) -> None:
        self.placement = placement
        target = placement.target(scope)
        self.selector: models.ShardKeySelector | None
        if placement.mode == "per_tenant":
            self.selector = target.shard_key
        elif placement.mode == "tiered":
            self.selector = models.ShardKeyWithFallback(
                target=target.shard_key, fallback=SHARED_SHARD_KEY
            )
        else:
            self.selector = None
        self.workspace_key = target.shard_key

    @property
    def forced(self) -> bool:
        """Whether a shard key is forced (any placement but ``shared``)."""
        return self.selector is not None

    def refuse(self, arguments: Mapping[str, object]) -> None:
        """Refuse a shard key the caller set anywhere in a call's arguments.

        Only under a forced placement (``shared`` passes a caller's shard key through).
        Runs before the operation sends anything.
        """
        if not self.forced:
            return
        for name, value in arguments.items():
            if value is None or name in _OPAQUE:
                continue
            where = name if name == "shard_key_selector" else caller_shard_key(value, name)
            if where is not None:
                raise ReservedKeyError(
                    f"{where} may not be set: under a {self.placement.mode!r} placement the "
                    f"shard key is set by the scope (leave it None)"
                )

    def route(self, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` of a native call with the forced shard key (unchanged when shared)."""
        if self.selector is None or method in _UNROUTED:
            return kwargs
        if method in _SELECTING:
            return {**kwargs, "shard_key_selector": self.selector}
        if method == "query_batch_points":
            update = {"shard_key": self.selector}
            requests = [r.model_copy(update=update) for r in kwargs["requests"]]
            return {**kwargs, "requests": requests}
        if method == "batch_update_points":
            ops = [self._route_operation(op) for op in kwargs["update_operations"]]
            return {**kwargs, "update_operations": ops}
        # Deny by default: a native call this module does not know cannot go out unrouted.
        raise RuntimeError(f"sentinel-vectors has no shard routing for Qdrant's {method}()")

    def missing_shard(self, exc: BaseException) -> PlacementError | None:
        """Qdrant's answer that the caller's workspace has no shard, as a PlacementError.

        Qdrant answers ``Shard key <key> not found`` (HTTP 400) for a key that does not
        exist, and ``Neither target shard key <key> nor fallback shard key ...`` when a
        tiered collection has no fallback shard. Only the caller's own key is ever sent,
        so the message names nothing of another workspace.
        """
        if not self.forced or not isinstance(exc, UnexpectedResponse):
            return None
        if exc.status_code not in (400, 404):
            return None
        text = exc.content.decode("utf-8", "replace")
        if "shard key" not in text.lower() or self.workspace_key not in text:
            return None
        if self.placement.mode == "per_tenant":
            hint = "onboard it with sentinel_vectors_qdrant.create_workspace_shard()"
        else:
            hint = (
                f"create the collection's fallback shard key {SHARED_SHARD_KEY!r} with "
                f"ensure_collection(placement=Placement('tiered'))"
            )
        return PlacementError(
            f"the Qdrant collection has no shard for workspace {self.workspace_key} "
            f"under the {self.placement.mode!r} placement; {hint}. Nothing was read or written.",
            store="qdrant",
        )

    def _route_operation(self, op: BaseModel) -> BaseModel:
        """One ``batch_update_points`` operation with the shard key on its body."""
        update: dict[str, Any] = {}
        for name in type(op).model_fields:
            body = getattr(op, name)
            if isinstance(body, BaseModel) and "shard_key" in type(body).model_fields:
                update[name] = body.model_copy(update={"shard_key": self.selector})
        if not update:
            raise RuntimeError(f"sentinel-vectors cannot route {type(op).__name__} by shard key")
        return op.model_copy(update=update)
