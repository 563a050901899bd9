"""Who exists, as the token issuer knows it: users, workspaces, memberships and groups.

The real Sentinel service checks its database where its answers depend on who exists:
registering a resource needs the workspace and the owner's user row (foreign keys), a
user share needs the grantee to be a member of the resource's workspace, a group share
needs the group to belong to it, and enriched ACLs read names from the user and group
rows. A real token is only ever issued for a user who exists and is a member of the
token's workspace, in the groups it lists.

A :class:`Directory` holds that knowledge for the test kit. Every
:class:`~sentinel_vectors.testing.keys.SigningKeys` carries one, and
:func:`~sentinel_vectors.testing.keys.mint_token` records the identity of each token it
signs in it (user, membership, workspace, groups), so a user the tests minted a token
for exists for the emulator, exactly as for the real service. Tests add anyone else
explicitly (:meth:`add_member`, :meth:`add_group`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Directory", "GroupInfo", "UserInfo"]


@dataclass(frozen=True)
class UserInfo:
    """A user row: display name and email."""

    name: str
    email: str


@dataclass(frozen=True)
class GroupInfo:
    """A group row: the workspace it belongs to and its name."""

    workspace_id: uuid.UUID
    name: str


class Directory:
    """Thread-safe in-memory users, workspaces, memberships and groups.

    Deleting a user (:meth:`delete_user`) removes the row and its memberships for good:
    minting another token for the same id does not bring it back (the real service
    would not issue one).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._users: dict[uuid.UUID, UserInfo] = {}
        self._workspaces: set[uuid.UUID] = set()
        self._members: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
        self._groups: dict[uuid.UUID, GroupInfo] = {}
        self._deleted: set[uuid.UUID] = set()

    # ---------------------------------------------------------------- writes

    def add_workspace(self, workspace_id: uuid.UUID) -> None:
        """Make ``workspace_id`` exist."""
        with self._lock:
            self._workspaces.add(workspace_id)

    def add_user(
        self, user_id: uuid.UUID, *, name: str | None = None, email: str | None = None
    ) -> None:
        """Make ``user_id`` exist (a deleted user stays deleted); keeps a known name/email."""
        with self._lock:
            if user_id in self._deleted:
                return
            known = self._users.get(user_id)
            short = user_id.hex[:8]
            self._users[user_id] = UserInfo(
                name=name if name is not None else (known.name if known else f"User {short}"),
                email=email
                if email is not None
                else (known.email if known else f"user-{short}@example.test"),
            )

    def add_member(
        self,
        workspace_id: uuid.UUID,
        user_id: uuid.UUID,
        role: str = "viewer",
        *,
        name: str | None = None,
        email: str | None = None,
    ) -> None:
        """Make ``user_id`` a member of ``workspace_id`` with ``role`` (both created if new)."""
        with self._lock:
            if user_id in self._deleted:
                return
            self.add_workspace(workspace_id)
            self.add_user(user_id, name=name, email=email)
            self._members[(workspace_id, user_id)] = role

    def add_group(
        self, group_id: uuid.UUID, workspace_id: uuid.UUID, name: str | None = None
    ) -> None:
        """Make ``group_id`` a group of ``workspace_id`` (a known group keeps its workspace)."""
        with self._lock:
            self.add_workspace(workspace_id)
            known = self._groups.get(group_id)
            if known is not None and name is None:
                return
            self._groups[group_id] = GroupInfo(
                workspace_id=known.workspace_id if known else workspace_id,
                name=name if name is not None else f"group-{group_id.hex[:8]}",
            )

    def learn_token(
        self,
        user_id: uuid.UUID,
        workspace_id: uuid.UUID,
        role: str,
        groups: Iterable[uuid.UUID],
        *,
        name: str | None,
        email: str | None,
    ) -> None:
        """Record what a token issued for this identity implies exists."""
        with self._lock:
            self.add_member(workspace_id, user_id, role, name=name, email=email)
            for group in groups:
                self.add_group(group, workspace_id)

    def delete_user(self, user_id: uuid.UUID) -> bool:
        """Delete the user row and its memberships; ``False`` if the user did not exist."""
        with self._lock:
            existed = self._users.pop(user_id, None) is not None
            self._deleted.add(user_id)
            for key in [k for k in self._members if k[1] == user_id]:
                del self._members[key]
            return existed

    # ---------------------------------------------------------------- reads

    def has_workspace(self, workspace_id: uuid.UUID) -> bool:
        """Whether the workspace exists."""
        with self._lock:
            return workspace_id in self._workspaces

    def user(self, user_id: uuid.UUID) -> UserInfo | None:
        """The user row, or ``None`` if there is none."""
        with self._lock:
            return self._users.get(user_id)

    def is_member(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Whether ``user_id`` is a member of ``workspace_id``."""
        with self._lock:
            return (workspace_id, user_id) in self._members

    def group(self, group_id: uuid.UUID) -> GroupInfo | None:
        """The group row, or ``None`` if there is none."""
        with self._lock:
            return self._groups.get(group_id)
