"""The auth seam: what sentinel-vectors uses of Sentinel's per-request auth context.

The core depends on this :class:`AuthContext` protocol, not on the SDK's classes, as
the SDK's own ``RequestAuth`` docstring recommends. A real
``sentinel_auth.RequestAuth`` satisfies it unchanged.

Outside FastAPI (a worker, a script, a queue consumer) build one with
:func:`request_auth`, from an ``AuthenticatedUser``, the user's token and a
``PermissionClient``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from sentinel_auth import PermissionClient, RequestAuth
from sentinel_auth.types import AuthenticatedUser

__all__ = ["AuthContext", "request_auth"]


@runtime_checkable
class AuthContext(Protocol):
    """The subset of ``sentinel_auth.RequestAuth`` a scoped store relies on."""

    @property
    def user_id(self) -> uuid.UUID:
        """The caller's user id (JWT ``sub``)."""
        ...

    @property
    def workspace_id(self) -> uuid.UUID:
        """The caller's active workspace (JWT ``wid``); every read and write is bound to it."""
        ...

    @property
    def workspace_role(self) -> str:
        """``viewer``, ``editor``, ``admin`` or ``owner`` (JWT ``wrole``)."""
        ...

    @property
    def groups(self) -> Sequence[uuid.UUID]:
        """The caller's group ids in the active workspace (JWT ``groups``)."""
        ...

    async def accessible(
        self,
        resource_type: str,
        action: str,
        limit: int | None = None,
    ) -> tuple[list[uuid.UUID], bool]:
        """Return ``(resource_ids, has_full_access)`` for ``action`` on ``resource_type``."""
        ...


def request_auth(
    user: AuthenticatedUser,
    token: str,
    permissions: PermissionClient,
) -> RequestAuth:
    """Build a ``RequestAuth`` outside a FastAPI request (a worker or a script).

    ``token`` must be the user's own access token: the permission service answers
    ``accessible()`` for the token's user and workspace, never for the ``user`` object
    alone, so a mismatched pair fails at the service rather than widening access.

    Example::

        async with PermissionClient(url, "docs-service", service_key) as perms:
            auth = request_auth(user, token, perms)
            docs = ScopedCollection(collection, auth, resource_type="document")
    """
    if not token:
        raise ValueError("request_auth() needs the user's access token; got an empty one")
    return RequestAuth(user=user, _token=token, _permissions=permissions)
