"""Test helpers: workspaces of real users whose RequestAuth talks to the emulator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sentinel_auth import PermissionClient, RequestAuth
from sentinel_auth.types import AuthenticatedUser

from sentinel_vectors import request_auth
from sentinel_vectors.testing.keys import make_user
from sentinel_vectors.testing.server import RunningEmulator


@dataclass
class Member:
    """A user with their token and a real RequestAuth bound to the emulator."""

    user: AuthenticatedUser
    token: str
    auth: RequestAuth

    @property
    def id(self) -> uuid.UUID:
        """The user's id."""
        return self.user.user_id


@dataclass
class Tenancy:
    """Creates members and resources on the emulator for one test."""

    running: RunningEmulator
    client: PermissionClient
    resource_type: str = "document"
    workspaces: list[uuid.UUID] = field(default_factory=list)

    def workspace(self) -> uuid.UUID:
        """A fresh workspace id."""
        ws = uuid.uuid4()
        self.workspaces.append(ws)
        return ws

    def member(self, role: str, workspace: uuid.UUID, groups: tuple[uuid.UUID, ...] = ()) -> Member:
        """A new user of ``workspace`` with ``role`` (fresh RequestAuth: no request cache)."""
        user, token = make_user(self.running.keys, workspace_id=workspace, role=role, groups=groups)
        return Member(user, token, request_auth(user, token, self.client))

    def fresh(self, member: Member) -> Member:
        """The same user with a new RequestAuth (a new request: no de-duplication cache)."""
        return Member(
            member.user, member.token, request_auth(member.user, member.token, self.client)
        )

    def resource(
        self, owner: Member, visibility: str = "private", resource_id: uuid.UUID | None = None
    ) -> str:
        """Register a resource owned by ``owner``; returns its id as a string."""
        rid = resource_id or uuid.uuid4()
        self.running.emulator.register(
            self.resource_type, rid, owner.user.workspace_id, owner.id, visibility=visibility
        )
        return str(rid)

    def share(
        self, resource_id: str, grantee: Member | uuid.UUID, permission: str = "view"
    ) -> None:
        """Share with a user (a Member) or a group (a UUID)."""
        if isinstance(grantee, Member):
            kind, gid = "user", grantee.id
        else:
            kind, gid = "group", grantee
        self.running.emulator.share(
            self.resource_type, uuid.UUID(resource_id), kind, gid, permission
        )

    def unshare(self, resource_id: str, grantee: Member | uuid.UUID) -> None:
        """Remove the share of a user (a Member) or a group (a UUID).

        Sentinel keeps one share per grantee: a permission changes by unshare, then share.
        """
        if isinstance(grantee, Member):
            kind, gid = "user", grantee.id
        else:
            kind, gid = "group", grantee
        self.running.emulator.unshare(self.resource_type, uuid.UUID(resource_id), kind, gid)
