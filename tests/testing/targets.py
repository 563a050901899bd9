"""Where the Sentinel-facing conformance tests run: the emulator, or a real Sentinel service.

The real service is used when ``SENTINEL_URL`` is set (like ``QDRANT_URL`` for Qdrant),
with what a test needs to act on it:

``SENTINEL_URL``
    Base URL of the service, e.g. ``http://127.0.0.1:19003``.
``SENTINEL_SERVICE_NAME`` / ``SENTINEL_SERVICE_KEY``
    A service app registered in the service (admin panel, or the seeding SQL of
    ``docker-compose.test.yml``).
``SENTINEL_ISSUER``
    The service's ``BASE_URL`` (the ``iss`` of its tokens); defaults to ``SENTINEL_URL``.
``SENTINEL_JWT_PRIVATE_KEY``
    Path of the service's RS256 private key (PEM): tests mint tokens as the service does.
``SENTINEL_DATABASE_URL``
    The service's PostgreSQL (``postgresql://...``): users, workspaces, memberships and
    groups are seeded as rows, as the service's own models would write them.
``SENTINEL_REDIS_URL``
    The service's Redis (``redis://:password@host:port/0``): revoked token ids and
    deactivated users are the flags the service reads there.

Give the service a high ``RATE_LIMIT_RPM``: the tests make more than 30 calls a minute.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from sentinel_auth.permissions import PermissionClient
from sentinel_auth.types import AuthenticatedUser, SentinelError

from sentinel_vectors.testing import RunningEmulator, SigningKeys, make_user

SENTINEL_URL = os.environ.get("SENTINEL_URL", "")


class Target(Protocol):
    """A Sentinel service the conformance tests can seed and call."""

    name: str

    def client(self) -> PermissionClient:
        """A new real ``PermissionClient`` for the service (close it after use)."""
        ...

    async def workspace(self) -> uuid.UUID:
        """A new, empty workspace."""
        ...

    async def group(self, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
        """A new group of ``workspace_id``."""
        ...

    async def member(
        self, workspace_id: uuid.UUID, role: str, groups: Iterable[uuid.UUID] = ()
    ) -> tuple[AuthenticatedUser, str]:
        """A new user of ``workspace_id`` with ``role`` in ``groups``, and a token for them."""
        ...

    def token(self, **claims: Any) -> str:
        """A token signed with the service's key whose claims are overridden by ``claims``."""
        ...

    async def delete_user(self, user_id: uuid.UUID) -> None:
        """Delete the user's row."""
        ...

    async def revoke(self, token: str) -> None:
        """Revoke the token's ``jti``."""
        ...

    async def deactivate(self, user_id: uuid.UUID) -> None:
        """Flag the user as deactivated."""
        ...


def _claims(keys: SigningKeys, issuer: str, **overrides: Any) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "aud": "sentinel:access",
        "email": "x@example.test",
        "name": "X",
        "wid": str(uuid.uuid4()),
        "wslug": "ws",
        "wrole": "viewer",
        "groups": [],
        "iat": now,
        "exp": now + 600,
        "type": "access",
    }
    payload.update(overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, keys.private_pem, algorithm="RS256", headers={"kid": keys.kid})


@dataclass
class EmulatorTarget:
    """The test kit's emulator."""

    running: RunningEmulator
    name: str = "emulator"

    def client(self) -> PermissionClient:
        return self.running.permission_client()

    async def workspace(self) -> uuid.UUID:
        ws = uuid.uuid4()
        self.running.keys.directory.add_workspace(ws)
        return ws

    async def group(self, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
        gid = uuid.uuid4()
        self.running.emulator.add_group(gid, workspace_id, name=name)
        return gid

    async def member(
        self, workspace_id: uuid.UUID, role: str, groups: Iterable[uuid.UUID] = ()
    ) -> tuple[AuthenticatedUser, str]:
        return make_user(self.running.keys, workspace_id=workspace_id, role=role, groups=groups)

    def token(self, **claims: Any) -> str:
        return _claims(self.running.keys, self.running.emulator.issuer, **claims)

    async def delete_user(self, user_id: uuid.UUID) -> None:
        self.running.emulator.delete_user(user_id)

    async def revoke(self, token: str) -> None:
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        self.running.emulator.revoke_token(jti)

    async def deactivate(self, user_id: uuid.UUID) -> None:
        self.running.emulator.deactivate_user(user_id)


@dataclass
class RealTarget:
    """A running Sentinel service, seeded through its PostgreSQL and Redis."""

    url: str
    service_name: str
    service_key: str
    issuer: str
    keys: SigningKeys
    database_url: str
    redis_url: str
    name: str = "real"
    _created: list[uuid.UUID] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> RealTarget:
        """Read the ``SENTINEL_*`` variables (see the module docstring)."""
        env = os.environ
        with open(env["SENTINEL_JWT_PRIVATE_KEY"], encoding="ascii") as fh:
            private_pem = fh.read()
        key: Any = serialization.load_pem_private_key(private_pem.encode(), password=None)
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            url=env["SENTINEL_URL"],
            service_name=env["SENTINEL_SERVICE_NAME"],
            service_key=env["SENTINEL_SERVICE_KEY"],
            issuer=env.get("SENTINEL_ISSUER", env["SENTINEL_URL"]),
            keys=SigningKeys(private_pem, public_pem.decode("ascii"), kid="sentinel"),
            database_url=env["SENTINEL_DATABASE_URL"],
            redis_url=env["SENTINEL_REDIS_URL"],
        )

    def client(self) -> PermissionClient:
        return PermissionClient(self.url, self.service_name, self.service_key)

    async def _sql(self, query: str, *args: Any) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.database_url)  # type: ignore[no-untyped-call]
        try:
            await conn.execute(query, *args)
        finally:
            await conn.close()

    async def workspace(self) -> uuid.UUID:
        ws = uuid.uuid4()
        await self._sql(
            "INSERT INTO workspaces (id, slug, name) VALUES ($1, $2, $3)",
            ws,
            f"conformance-{ws.hex[:12]}",
            f"Conformance {ws.hex[:8]}",
        )
        return ws

    async def group(self, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
        gid = uuid.uuid4()
        await self._sql(
            "INSERT INTO groups (id, workspace_id, name) VALUES ($1, $2, $3)",
            gid,
            workspace_id,
            f"{name}-{gid.hex[:8]}",
        )
        return gid

    async def member(
        self, workspace_id: uuid.UUID, role: str, groups: Iterable[uuid.UUID] = ()
    ) -> tuple[AuthenticatedUser, str]:
        uid = uuid.uuid4()
        group_list = list(groups)
        await self._sql(
            "INSERT INTO users (id, email, name, is_active, is_admin) "
            "VALUES ($1, $2, $3, true, false)",
            uid,
            f"user-{uid.hex}@conformance.test",
            f"User {uid.hex[:8]}",
        )
        await self._sql(
            "INSERT INTO workspace_memberships (id, workspace_id, user_id, role) "
            "VALUES ($1, $2, $3, $4)",
            uuid.uuid4(),
            workspace_id,
            uid,
            role,
        )
        for gid in group_list:
            await self._sql(
                "INSERT INTO group_memberships (id, group_id, user_id) VALUES ($1, $2, $3)",
                uuid.uuid4(),
                gid,
                uid,
            )
        return make_user(
            self.keys,
            workspace_id=workspace_id,
            role=role,
            groups=group_list,
            user_id=uid,
            email=f"user-{uid.hex}@conformance.test",
            name=f"User {uid.hex[:8]}",
            issuer=self.issuer,
        )

    def token(self, **claims: Any) -> str:
        return _claims(self.keys, self.issuer, **claims)

    async def delete_user(self, user_id: uuid.UUID) -> None:
        await self._sql("DELETE FROM users WHERE id = $1", user_id)

    async def _redis_set(self, key: str) -> None:
        # A two-command RESP exchange; the suite does not depend on a Redis client.
        url = urlsplit(self.redis_url)
        reader, writer = await asyncio.open_connection(
            url.hostname or "127.0.0.1", url.port or 6379, ssl=url.scheme == "rediss"
        )
        try:
            commands: list[list[str]] = []
            if url.password:
                commands.append(["AUTH", url.password])
            db = (url.path or "/0").lstrip("/") or "0"
            commands += [["SELECT", db], ["SET", key, "1", "EX", "3600"]]
            for command in commands:
                parts = [f"*{len(command)}\r\n"] + [f"${len(a)}\r\n{a}\r\n" for a in command]
                writer.write("".join(parts).encode())
                await writer.drain()
                answer = await reader.readline()
                if not answer.startswith(b"+"):
                    raise RuntimeError(f"Redis refused {command[0]}: {answer!r}")
        finally:
            writer.close()
            await writer.wait_closed()

    async def revoke(self, token: str) -> None:
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        await self._redis_set(f"bl:{jti}")

    async def deactivate(self, user_id: uuid.UUID) -> None:
        await self._redis_set(f"deactivated:{user_id}")


async def status_of(call: Awaitable[object]) -> int | None:
    """The SentinelError status ``call`` raised (None if it succeeded)."""
    try:
        await call
    except SentinelError as exc:
        return exc.status_code
    return None
