"""The test world, written once: members of two workspaces, their documents, vectors.

:class:`Tenancy` makes members (real tokens, a real ``RequestAuth`` over the SDK's
``PermissionClient``) and registers resources on the emulator. :class:`Cast` is the
standard world every security test starts from; :class:`World` is that cast plus one
backend under test, reached only through the neutral
:class:`~sentinel_vectors.index.ChunkIndex` and
:class:`~sentinel_vectors.lifecycle.ResourceLifecycle`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinel_auth import PermissionClient, RequestAuth
from sentinel_auth.types import AuthenticatedUser

from sentinel_vectors import filters as F
from sentinel_vectors.auth import request_auth
from sentinel_vectors.index import Chunk, ChunkIndex, Hit
from sentinel_vectors.lifecycle import ResourceLifecycle, SentinelRegistry
from sentinel_vectors.testing.conformance.target import ConformanceTarget
from sentinel_vectors.testing.faults import PathFaults
from sentinel_vectors.testing.keys import make_user
from sentinel_vectors.testing.server import RunningEmulator

__all__ = [
    "DIM",
    "NEAR",
    "Cast",
    "Document",
    "Member",
    "Tenancy",
    "World",
    "vec",
]

DIM = 4
"""Dimension of every vector of the world."""

NEAR = [1.0, 0.0, 0.0, 0.0]
"""The query vector: workspace B's document is stored at exactly this point, the nearest."""


def vec(*head: float) -> list[float]:
    """A :data:`DIM`-vector starting with ``head``, zero-padded."""
    return [*head, *([0.0] * (DIM - len(head)))]


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

    def registered(self, resource_id: str) -> bool:
        """Whether the identity service knows the resource."""
        record = self.running.emulator.get(self.resource_type, uuid.UUID(resource_id))
        return record is not None

    def records_in(self, workspace: uuid.UUID) -> list[str]:
        """Ids of the resources registered in ``workspace``."""
        return [
            str(r.resource_id)
            for r in self.running.emulator.records()
            if r.workspace_id == workspace and r.resource_type == self.resource_type
        ]


@dataclass(frozen=True)
class Document:
    """One chunk of the standard world: its resource, writer, vector, topic and text."""

    name: str
    resource_id: str
    owner: Member
    vector: list[float]
    topic: str
    text: str


class Cast:
    """The standard world: workspace A with an owner (editor role), an editor, a viewer
    (in a group) and an admin; workspace B with an admin.

    A's owner has four documents: ``private``; ``public`` (workspace-visible, so A's
    editors may edit it); ``user_shared`` (private, shared with the viewer);
    ``group_shared`` (private, shared with the viewer's group). B's admin has ``b_doc``,
    stored at :data:`NEAR` itself: the nearest record of all to the query. The viewer may
    see exactly ``public``, ``user_shared`` and ``group_shared``.
    """

    def __init__(self, t: Tenancy) -> None:
        self.t = t
        self.ws_a, self.ws_b = t.workspace(), t.workspace()
        self.group = uuid.uuid4()
        self.owner = t.member("editor", self.ws_a)
        self.editor = t.member("editor", self.ws_a)
        self.viewer = t.member("viewer", self.ws_a, groups=(self.group,))
        self.admin = t.member("admin", self.ws_a)
        self.outsider_admin = t.member("admin", self.ws_b)
        self.private = t.resource(self.owner, "private")
        self.public = t.resource(self.owner, "workspace")
        self.user_shared = t.resource(self.owner, "private")
        self.group_shared = t.resource(self.owner, "private")
        t.share(self.user_shared, self.viewer, "view")
        t.share(self.group_shared, self.group, "view")
        self.b_doc = t.resource(self.outsider_admin, "workspace")

    def documents(self) -> list[Document]:
        """The world's chunks, one per document, workspace A's first."""
        return [
            Document("private", self.private, self.owner, vec(0.9, 0.1), "a", "private text"),
            Document("public", self.public, self.owner, vec(0.5, 0.5), "a", "public text"),
            Document(
                "user-shared", self.user_shared, self.owner, vec(0.4, 0.6), "b", "shared text"
            ),
            Document(
                "group-shared", self.group_shared, self.owner, vec(0.3, 0.7), "b", "group text"
            ),
            Document("b-doc", self.b_doc, self.outsider_admin, NEAR, "a", "workspace B text"),
        ]

    @property
    def viewer_sees(self) -> set[str]:
        """The resources the viewer may view."""
        return {self.public, self.user_shared, self.group_shared}

    @property
    def workspace_a(self) -> set[str]:
        """Every resource of workspace A."""
        return {self.private, self.public, self.user_shared, self.group_shared}


class World(Cast):
    """The cast over one backend under test, through the neutral interfaces only."""

    def __init__(self, t: Tenancy, target: ConformanceTarget, faults: PathFaults) -> None:
        super().__init__(t)
        self.target = target
        self.faults = faults
        self.resource_key = target.backend.index(self.owner.auth).scope.resource_key

    def index(self, who: Member) -> ChunkIndex:
        """``who``'s chunk index, for a new request (no cached ``accessible()``)."""
        return self.target.backend.index(self.t.fresh(who).auth)

    def lifecycle(self, who: Member) -> ResourceLifecycle:
        """``who``'s resource lifecycle, for a new request."""
        index = self.index(who)
        return ResourceLifecycle(index, SentinelRegistry(self.t.client, index.scope))

    async def load(self) -> None:
        """Write every document's chunk as its owner, through the chunk index."""
        for doc in self.documents():
            chunk = Chunk(doc.text, doc.vector, {"topic": doc.topic})
            await self.index(doc.owner).put_chunks(doc.resource_id, [chunk])

    async def search(
        self, who: Member, k: int = 50, *, filter: F.Filter | None = None
    ) -> list[Hit]:
        """``who``'s nearest ``k`` chunks to :data:`NEAR`."""
        return await self.index(who).search(NEAR, k, filter=filter)

    async def found(self, who: Member, k: int = 50, *, filter: F.Filter | None = None) -> set[str]:
        """The resources of ``who``'s nearest ``k`` chunks to :data:`NEAR`."""
        return {h.resource_id for h in await self.search(who, k, filter=filter)}

    async def records(self, resource_id: str) -> list[Mapping[str, Any]]:
        """Every stored record of ``resource_id``, read natively (no scope)."""
        return await self.target.records(self.resource_key, resource_id)

    async def chunk_indexes(self, resource_id: str) -> list[int]:
        """The sorted ``chunk_index`` of every stored record of ``resource_id``."""
        return sorted(int(r["chunk_index"]) for r in await self.records(resource_id))

    async def records_in(self, workspace: uuid.UUID) -> list[Mapping[str, Any]]:
        """Every stored record of ``workspace``, read natively (no scope)."""
        return await self.target.records("workspace_id", str(workspace))

    async def snapshot(self, *extra: uuid.UUID) -> list[str]:
        """Every stored record of the world's workspaces (and ``extra``), comparable."""
        rows: list[str] = []
        for ws in (*self.t.workspaces, *extra):
            rows += [
                json.dumps(dict(r), sort_keys=True, default=str) for r in await self.records_in(ws)
            ]
        return sorted(rows)


def chunks(*texts: str, dim: int = DIM, **metadata: Any) -> list[Chunk]:
    """One chunk per text, with distinct unit-ish vectors of ``dim`` dimensions."""
    out: list[Chunk] = []
    for i, text in enumerate(texts):
        vector = [0.1] * dim
        vector[i % dim] = 1.0
        out.append(Chunk(text, vector, dict(metadata)))
    return out


def same_answer(errors: Sequence[BaseException], ids: Sequence[str]) -> set[tuple[type, str]]:
    """The distinct (type, message with the id blanked) of errors raised for ``ids``."""
    return {
        (type(err), str(err).replace(rid, "<id>")) for err, rid in zip(errors, ids, strict=True)
    }
