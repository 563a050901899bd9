"""The ACL model and rules of the permission-service emulator, as Sentinel 0.10.2 has them.

:class:`AclRecord` (a registered resource with its shares), :class:`Principal` (who asks)
and the two rules the service applies: :func:`check_permission` and
:func:`accessible_ids`. Pure: no HTTP, no state.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Self

from sentinel_auth.types import AuthenticatedUser

__all__ = [
    "PRIVILEGED_ROLES",
    "AclRecord",
    "Principal",
    "Share",
    "accessible_ids",
    "check_permission",
]

PRIVILEGED_ROLES: Final = frozenset({"admin", "owner"})
"""Workspace roles with full access (``has_full_access``)."""
_NAME_PATTERN: Final = r"^[a-z][a-z0-9_.-]*$"
_NAME_RE: Final = re.compile(_NAME_PATTERN)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Share:
    """One grant on a resource: a ``"user"``/``"group"`` grantee and ``"view"``/``"edit"``."""

    id: uuid.UUID
    grantee_type: str
    grantee_id: uuid.UUID
    permission: str
    granted_by: uuid.UUID | None
    granted_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The share as the service serialises it (``granted_by`` null once that user is gone)."""
        return {
            "id": str(self.id),
            "grantee_type": self.grantee_type,
            "grantee_id": str(self.grantee_id),
            "permission": self.permission,
            "granted_by": _str_or_none(self.granted_by),
            "granted_at": _timestamp(self.granted_at),
        }


@dataclass(frozen=True)
class AclRecord:
    """A registered resource's ACL: owner, workspace, visibility and shares (immutable snapshot).

    ``owner_id`` is ``None`` once the owner's user row is deleted (the real service's
    foreign key sets it null).
    """

    id: uuid.UUID
    service_name: str
    resource_type: str
    resource_id: uuid.UUID
    workspace_id: uuid.UUID
    owner_id: uuid.UUID | None
    visibility: str
    created_at: datetime
    shares: tuple[Share, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record as ``GET /permissions/resource/...`` returns it."""
        return {
            "id": str(self.id),
            "service_name": self.service_name,
            "resource_type": self.resource_type,
            "resource_id": str(self.resource_id),
            "workspace_id": str(self.workspace_id),
            "owner_id": _str_or_none(self.owner_id),
            "visibility": self.visibility,
            "created_at": _timestamp(self.created_at),
            "shares": [s.to_json() for s in self.shares],
        }


@dataclass(frozen=True)
class Principal:
    """Whom the rules are evaluated for: the token's ``sub``, ``wid``, ``wrole`` and ``groups``."""

    user_id: uuid.UUID
    workspace_id: uuid.UUID
    workspace_role: str
    groups: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @classmethod
    def from_user(cls, user: AuthenticatedUser) -> Self:
        """Build the principal of an SDK ``AuthenticatedUser``."""
        return cls(
            user_id=user.user_id,
            workspace_id=user.workspace_id,
            workspace_role=user.workspace_role,
            groups=frozenset(user.groups),
        )

    @property
    def is_privileged(self) -> bool:
        """Whether the workspace role is ``admin`` or ``owner`` (full access in the workspace)."""
        return self.workspace_role in PRIVILEGED_ROLES


def _str_or_none(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _timestamp(value: datetime) -> str:
    # Pydantic (the real service's serialiser) writes UTC as "Z", not "+00:00".
    text = value.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


# --------------------------------------------------------------------------- rules


def _share_grants(share: Share, action: str) -> bool:
    return action == "view" or (action == "edit" and share.permission == "edit")


def check_permission(record: AclRecord | None, principal: Principal, action: str) -> bool:
    """Whether ``principal`` may perform ``action`` on the resource of ``record``.

    Mirrors the real service: unknown resource or other workspace -> deny; owner
    -> allow; workspace admin/owner -> allow; ``workspace`` visibility -> view for
    every member, edit for ``editor``; then a user share, then any group share of
    the principal (a ``view`` share grants view, an ``edit`` share view and edit).
    """
    if record is None or record.workspace_id != principal.workspace_id:
        return False
    if record.owner_id == principal.user_id or principal.is_privileged:
        return True
    if record.visibility == "workspace" and (
        action == "view" or (action == "edit" and principal.workspace_role == "editor")
    ):
        return True
    for share in record.shares:
        if share.grantee_type == "user" and share.grantee_id == principal.user_id:
            if _share_grants(share, action):
                return True
        elif (
            share.grantee_type == "group"
            and share.grantee_id in principal.groups
            and _share_grants(share, action)
        ):
            return True
    return False


def accessible_ids(
    records: Iterable[AclRecord],
    principal: Principal,
    *,
    service_name: str,
    resource_type: str,
    action: str,
    limit: int | None = None,
    rng: random.Random | None = None,
) -> tuple[list[uuid.UUID], bool]:
    """The ``(resource_ids, has_full_access)`` answer of ``POST /permissions/accessible``.

    Only records of ``service_name``/``resource_type`` in the principal's
    workspace count. A workspace admin/owner gets ``([], True)`` without a
    limit, and up to ``limit`` ids of the workspace with one. Anyone else gets
    the ids :func:`check_permission` allows, and ``False``; with a ``limit``, an
    arbitrary ``limit`` of them (the real service's ``UNION ... LIMIT`` has no
    order): picked with ``rng`` when given, else the first ones.
    """
    privileged = principal.is_privileged
    if privileged and limit is None:
        return [], True
    ids: list[uuid.UUID] = []
    for record in records:
        if privileged and limit is not None and len(ids) >= limit:
            break
        if (
            record.service_name != service_name
            or record.resource_type != resource_type
            or record.workspace_id != principal.workspace_id
        ):
            continue
        if privileged or check_permission(record, principal, action):
            ids.append(record.resource_id)
    if not privileged and limit is not None:
        ids = rng.sample(ids, min(limit, len(ids))) if rng is not None else ids[:limit]
    return ids, privileged
