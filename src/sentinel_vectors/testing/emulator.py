"""An in-memory emulator of the Sentinel identity service's permission API.

``PermissionServiceEmulator`` is an ASGI app: serve it with
:class:`~sentinel_vectors.testing.server.EmulatorServer` and point a real
``sentinel_auth.PermissionClient`` at it. It implements the endpoints the SDK's
``PermissionClient`` calls, with the access rules of the real service:

* **check** -- the owner may do anything; workspace ``admin``/``owner`` may do
  anything; a ``workspace``-visible resource may be viewed by every member and
  edited by ``editor``; a user or group share grants ``view``, and ``edit`` too
  if the share's permission is ``edit``. A resource of another workspace is
  never allowed.
* **accessible** -- ``admin``/``owner`` get ``has_full_access`` (and no ids
  unless a ``limit`` is given, then up to ``limit`` ids); everybody else gets
  the ids :func:`check_permission` allows, limited to one service, resource
  type and the token's workspace. Asking for another workspace is a 403.
* **share** -- only the resource owner or a workspace ``admin``/``owner`` of the
  resource's workspace may share. **Revoking a share and changing visibility
  need only the service key** in the real service (no user check), and so here.

It answers what the real service (the open-source ``service/`` of Sentinel,
version :data:`SENTINEL_VERSION`) answers, including where that is surprising:

* a second share to the same grantee is a **500** (unique-key violation) and the
  first share is unchanged: change a permission with unshare, then share;
* a share to a user who is not a member of the resource's workspace, or to a group
  of another workspace (or an unknown id) is a **400**;
* unsharing a grantee without a share is a **500**;
* registering a new resource in an unknown workspace or for an unknown owner is a
  **500** (foreign keys), re-registering an existing one returns it;
* a token without the service's ``iss``, or with another, is a **401**; a token whose
  ``sub`` or a ``groups`` entry is not a UUID is a **500**; a revoked token id or a
  deactivated user is a **401** (:meth:`~PermissionServiceEmulator.revoke_token`,
  :meth:`~PermissionServiceEmulator.deactivate_user`);
* a resource whose owner's user row was deleted has ``owner_id: null``
  (:meth:`~PermissionServiceEmulator.delete_user`);
* ``accessible(limit=n)`` for a non-admin is an arbitrary ``n`` of the allowed ids
  (here: a seeded shuffle), not the first ``n``;
* enriched ACLs name group grantees; timestamps end in ``Z``;
* with ``rate_limit_per_minute`` set (the real default is 30), a client address
  over the limit gets **429** with ``Retry-After``.

Who exists (users, memberships, groups) comes from a
:class:`~sentinel_vectors.testing.directory.Directory`, by default the one of the
signing keys, which learns every identity :func:`~sentinel_vectors.testing.keys.mint_token`
signs a token for.

The rules are plain functions (:func:`check_permission`,
:func:`accessible_ids`) so they can be tested without HTTP. State is guarded by
a lock: the app serves from a uvicorn thread while tests seed it directly.
"""

import asyncio
import random
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from sentinel_vectors.testing.acl import (
    _NAME_PATTERN,
    _NAME_RE,
    AclRecord,
    Principal,
    Share,
    accessible_ids,
    check_permission,
)
from sentinel_vectors.testing.directory import Directory
from sentinel_vectors.testing.emulator_app import AUTHZ_AUDIENCE, build_app
from sentinel_vectors.testing.keys import DEFAULT_ISSUER, SigningKeys

__all__ = [
    "AUTHZ_AUDIENCE",
    "SENTINEL_VERSION",
    "AclRecord",
    "PermissionServiceEmulator",
    "Principal",
    "Share",
    "accessible_ids",
    "check_permission",
]

SENTINEL_VERSION: Final = "0.10.2"
"""The version of the real Sentinel service whose answers the emulator reproduces."""


_ACTIONS: Final = frozenset({"view", "edit"})
_VISIBILITIES: Final = frozenset({"private", "workspace"})
_GRANTEE_TYPES: Final = frozenset({"user", "group"})
_RATE_WINDOW_SECONDS: Final = 60


# --------------------------------------------------------------------------- emulator


def _now() -> datetime:
    return datetime.now(UTC)


def _check_name(kind: str, value: str) -> None:
    if len(value) > 255 or not _NAME_RE.match(value):
        raise ValueError(f"{kind} {value!r} does not match {_NAME_PATTERN}")


class PermissionServiceEmulator:
    """In-memory Sentinel permission service; an ASGI app that a real ``PermissionClient`` can call.

    Args:
        keys: The key pair whose ``public_pem`` verifies user tokens (mint them
            with :func:`~sentinel_vectors.testing.keys.mint_token`).
        service_name: The service the default ``service_key`` is scoped to, and
            the default ``service_name`` of the seeding methods.
        service_key: The ``X-Service-Key`` value accepted for ``service_name``.
        issuer: The ``iss`` every user token must carry (the real service's
            ``BASE_URL``); :func:`~sentinel_vectors.testing.keys.mint_token` puts the
            same default in.
        directory: Who exists (users, memberships, groups); defaults to
            ``keys.directory``, which knows every user a token was minted for.
        rate_limit_per_minute: ``None`` (default): no rate limit. A number: at most
            that many requests per client address in each 60-second window, then
            429 with ``Retry-After`` as the real service (default 30) answers.
        seed: Seed of the shuffle that picks an arbitrary subset for
            ``accessible(limit=n)``.

    Fault injection (plain attributes, reset by :meth:`reset`):
        fail_with_status: when set, every ``/permissions`` request is answered
            with this status (JSON ``{"detail": ...}``) before any other check.
        fail_times: when set together with ``fail_with_status``, only the next
            ``fail_times`` requests fail; then both are cleared.
        delay_seconds: sleep this long before answering any ``/permissions``
            request (provokes client timeouts).
        :meth:`drop_next`: close the connection mid-answer for the next requests
            (what a pooled client sees after the real service's 500s).

    ``calls`` records ``(method, path)`` of every ``/permissions`` request received.
    """

    def __init__(
        self,
        keys: SigningKeys,
        *,
        service_name: str = "test-service",
        service_key: str = "test-service-key",
        issuer: str = DEFAULT_ISSUER,
        directory: Directory | None = None,
        rate_limit_per_minute: int | None = None,
        seed: int = 0,
    ) -> None:
        _check_name("service_name", service_name)
        self.keys: Final = keys
        self.service_name: Final = service_name
        self.service_key: Final = service_key
        self.issuer: Final = issuer
        self.directory: Final = directory if directory is not None else keys.directory
        self.rate_limit_per_minute = rate_limit_per_minute
        self._seed = seed
        self._rng = random.Random(seed)
        self._rate: dict[str, tuple[float, int]] = {}
        self._revoked: set[str] = set()
        self._deactivated: set[str] = set()
        self._drop_times = 0
        self._lock = threading.RLock()
        self._service_keys: dict[str, str] = {service_key: service_name}
        self._records: dict[tuple[str, str, uuid.UUID], AclRecord] = {}
        self._by_id: dict[uuid.UUID, tuple[str, str, uuid.UUID]] = {}
        self.fail_with_status: int | None = None
        self.fail_times: int | None = None
        self.delay_seconds: float = 0.0
        self.calls: list[tuple[str, str]] = []
        self._app = build_app(self)

    # ---------------------------------------------------------------- ASGI

    @property
    def app(self) -> FastAPI:
        """The FastAPI app without fault injection (``self`` is the app with it)."""
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: rate limit, records the call, applies delay/faults, then routes."""
        if scope["type"] == "http":
            path: str = scope["path"]
            limited = self._rate_limited(scope)
            if limited is not None:
                await limited(scope, receive, send)
                return
            if path.startswith("/permissions"):
                with self._lock:
                    self.calls.append((scope["method"], path))
                delay = self.delay_seconds
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._take_drop():
                    # Start an answer, then fail: uvicorn closes the connection and the
                    # client's pooled connection breaks (RemoteProtocolError).
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [(b"content-length", b"100")],
                        }
                    )
                    raise ConnectionAbortedError("injected fault: connection dropped")
                status = self._take_fault()
                if status is not None:
                    response: Response
                    if status in (204, 304) or status < 200:
                        response = Response(status_code=status)
                    else:
                        response = JSONResponse(
                            {"detail": f"injected fault: HTTP {status}"}, status_code=status
                        )
                    await response(scope, receive, send)
                    return
        await self._app(scope, receive, send)

    def _rate_limited(self, scope: Scope) -> Response | None:
        # The real GlobalRateLimitMiddleware: a fixed window per client address, every
        # path but /health, answered 429 {"detail": "Too many requests"} + Retry-After.
        limit = self.rate_limit_per_minute
        if limit is None or scope["path"] == "/health":
            return None
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        now = time.monotonic()
        with self._lock:
            start, count = self._rate.get(address, (now, 0))
            if now - start >= _RATE_WINDOW_SECONDS:
                start, count = now, 0
            count += 1
            self._rate[address] = (start, count)
        if count <= limit:
            return None
        retry_after = max(int(start + _RATE_WINDOW_SECONDS - now), 1)
        return JSONResponse(
            {"detail": "Too many requests"},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )

    def _take_drop(self) -> bool:
        with self._lock:
            if self._drop_times <= 0:
                return False
            self._drop_times -= 1
            return True

    def _take_fault(self) -> int | None:
        with self._lock:
            status = self.fail_with_status
            if status is None:
                return None
            if self.fail_times is not None:
                if self.fail_times <= 0:
                    self.fail_with_status = self.fail_times = None
                    return None
                self.fail_times -= 1
                if self.fail_times == 0:
                    self.fail_with_status = self.fail_times = None
            return status

    # ---------------------------------------------------------------- configuration

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` ``/permissions`` requests with ``status``."""
        with self._lock:
            self.fail_with_status = status
            self.fail_times = times

    def limit_rate(self, per_minute: int | None) -> None:
        """Turn the per-client rate limit on (``per_minute`` requests; real default 30) or off.

        The counts start from zero either way.
        """
        with self._lock:
            self.rate_limit_per_minute = per_minute
            self._rate.clear()

    def drop_next(self, times: int = 1) -> None:
        """Close the connection mid-answer for the next ``times`` ``/permissions`` requests."""
        with self._lock:
            self._drop_times = times

    def revoke_token(self, jti: str) -> None:
        """Revoke the access token whose ``jti`` claim is ``jti`` (its requests get 401)."""
        with self._lock:
            self._revoked.add(jti)

    def deactivate_user(self, user_id: uuid.UUID) -> None:
        """Deactivate a user: their still-valid access tokens get 401 (until :meth:`reset`)."""
        with self._lock:
            self._deactivated.add(str(user_id))

    def activate_user(self, user_id: uuid.UUID) -> None:
        """Undo :meth:`deactivate_user`."""
        with self._lock:
            self._deactivated.discard(str(user_id))

    def delete_user(self, user_id: uuid.UUID) -> None:
        """Delete a user's row, as the real database does.

        Resources they own keep existing with ``owner_id`` null, shares they granted
        with ``granted_by`` null; their memberships go. Shares *to* them stay (the
        share table has no foreign key to users). The user stays deleted in the
        directory (minting a new token does not bring them back).
        """
        with self._lock:
            self.directory.delete_user(user_id)
            for key, record in list(self._records.items()):
                shares = tuple(
                    replace(s, granted_by=None) if s.granted_by == user_id else s
                    for s in record.shares
                )
                owner = None if record.owner_id == user_id else record.owner_id
                self._records[key] = replace(record, owner_id=owner, shares=shares)

    def add_member(
        self,
        workspace_id: uuid.UUID,
        user_id: uuid.UUID,
        role: str = "viewer",
        *,
        name: str | None = None,
        email: str | None = None,
    ) -> None:
        """Make ``user_id`` a member of ``workspace_id`` (see :class:`Directory`)."""
        self.directory.add_member(workspace_id, user_id, role, name=name, email=email)

    def add_group(
        self, group_id: uuid.UUID, workspace_id: uuid.UUID, *, name: str | None = None
    ) -> None:
        """Make ``group_id`` a group of ``workspace_id`` named ``name`` (see :class:`Directory`)."""
        self.directory.add_group(group_id, workspace_id, name)

    def add_service(self, service_name: str, service_key: str) -> None:
        """Accept ``service_key`` as scoped to ``service_name`` (kept across :meth:`reset`)."""
        _check_name("service_name", service_name)
        with self._lock:
            self._service_keys[service_key] = service_name

    def add_profile(self, user_id: uuid.UUID, *, name: str, email: str) -> None:
        """Make ``user_id`` exist with this name and email (the ``/enriched`` ACL shows them)."""
        self.directory.add_user(user_id, name=name, email=email)

    def reset(self) -> None:
        """Forget all resources, shares, calls, revocations and rate counts; clear faults.

        Service keys, signing keys, the directory of users and groups and the rate
        limit setting stay as configured; the ``limit`` shuffle starts again from ``seed``.
        """
        with self._lock:
            self._records.clear()
            self._by_id.clear()
            self._revoked.clear()
            self._deactivated.clear()
            self._rate.clear()
            self._drop_times = 0
            self._rng = random.Random(self._seed)
            self.calls.clear()
            self.fail_with_status = None
            self.fail_times = None
            self.delay_seconds = 0.0

    # ---------------------------------------------------------------- state API

    def _key(
        self, service_name: str | None, resource_type: str, resource_id: uuid.UUID
    ) -> tuple[str, str, uuid.UUID]:
        return (service_name or self.service_name, resource_type, resource_id)

    def register(
        self,
        resource_type: str,
        resource_id: uuid.UUID,
        workspace_id: uuid.UUID,
        owner_id: uuid.UUID | None,
        visibility: str = "workspace",
        service_name: str | None = None,
    ) -> AclRecord:
        """Register a resource; returns the existing record unchanged if already registered.

        Same effect as ``POST /permissions/register`` (an idempotent upsert that
        never overwrites owner, workspace or visibility), except that this seeding
        method creates the workspace and the owner's user row if they are unknown
        (the HTTP endpoint answers 500 then, as the real one). ``owner_id=None``
        seeds a resource whose owner is gone.
        """
        key = self._key(service_name, resource_type, resource_id)
        _check_name("service_name", key[0])
        _check_name("resource_type", resource_type)
        if visibility not in _VISIBILITIES:
            raise ValueError(f"visibility must be one of {sorted(_VISIBILITIES)}")
        with self._lock:
            existing = self._records.get(key)
            if existing is not None:
                return existing
            self.directory.add_workspace(workspace_id)
            if owner_id is not None:
                self.directory.add_user(owner_id)
            return self._insert(key, workspace_id, owner_id, visibility)

    def _insert(
        self,
        key: tuple[str, str, uuid.UUID],
        workspace_id: uuid.UUID,
        owner_id: uuid.UUID | None,
        visibility: str,
    ) -> AclRecord:
        with self._lock:
            record = AclRecord(
                id=uuid.uuid4(),
                service_name=key[0],
                resource_type=key[1],
                resource_id=key[2],
                workspace_id=workspace_id,
                owner_id=owner_id,
                visibility=visibility,
                created_at=_now(),
            )
            self._records[key] = record
            self._by_id[record.id] = key
            return record

    def get(
        self, resource_type: str, resource_id: uuid.UUID, service_name: str | None = None
    ) -> AclRecord | None:
        """The current record of a resource, or ``None`` if it is not registered."""
        with self._lock:
            return self._records.get(self._key(service_name, resource_type, resource_id))

    def get_by_id(self, permission_id: uuid.UUID) -> AclRecord | None:
        """The current record whose ``id`` (the permission id) is ``permission_id``, or ``None``."""
        with self._lock:
            key = self._by_id.get(permission_id)
            return None if key is None else self._records[key]

    def records(self) -> list[AclRecord]:
        """All current records, in registration order."""
        with self._lock:
            return list(self._records.values())

    def _require(self, key: tuple[str, str, uuid.UUID]) -> AclRecord:
        record = self._records.get(key)
        if record is None:
            raise KeyError(f"resource not registered: {key}")
        return record

    def share(
        self,
        resource_type: str,
        resource_id: uuid.UUID,
        grantee_type: str,
        grantee_id: uuid.UUID,
        permission: str = "view",
        *,
        service_name: str | None = None,
        granted_by: uuid.UUID | None = None,
    ) -> Share:
        """Grant ``permission`` to a user or group (the seeding API: no authorisation check).

        ``granted_by`` defaults to the owner. An unknown user grantee is made a member
        of the resource's workspace, an unknown group a group of it (seeding creates
        what the HTTP endpoint would refuse with 400). Like the real service there is
        at most one share per grantee: a second raises ``ValueError`` (change a
        permission with :meth:`unshare`, then share). Raises ``KeyError`` for an
        unregistered resource and ``ValueError`` for a bad grantee type or permission.
        """
        if grantee_type not in _GRANTEE_TYPES:
            raise ValueError(f"grantee_type must be one of {sorted(_GRANTEE_TYPES)}")
        if permission not in _ACTIONS:
            raise ValueError(f"permission must be one of {sorted(_ACTIONS)}")
        key = self._key(service_name, resource_type, resource_id)
        with self._lock:
            record = self._require(key)
            if self._share_of(record, grantee_type, grantee_id) is not None:
                raise ValueError(
                    f"{grantee_type} {grantee_id} already has a share on {key}; the real "
                    f"service refuses a second one (500): unshare first"
                )
            if grantee_type == "user":
                if not self.directory.is_member(record.workspace_id, grantee_id):
                    self.directory.add_member(record.workspace_id, grantee_id)
            else:
                self.directory.add_group(grantee_id, record.workspace_id)
            return self._share(record, grantee_type, grantee_id, permission, granted_by)

    @staticmethod
    def _share_of(record: AclRecord, grantee_type: str, grantee_id: uuid.UUID) -> Share | None:
        return next(
            (
                s
                for s in record.shares
                if s.grantee_type == grantee_type and s.grantee_id == grantee_id
            ),
            None,
        )

    def _share(
        self,
        record: AclRecord,
        grantee_type: str,
        grantee_id: uuid.UUID,
        permission: str,
        granted_by: uuid.UUID | None,
    ) -> Share:
        share = Share(
            id=uuid.uuid4(),
            grantee_type=grantee_type,
            grantee_id=grantee_id,
            permission=permission,
            granted_by=granted_by if granted_by is not None else record.owner_id,
            granted_at=_now(),
        )
        self._store(replace(record, shares=(*record.shares, share)))
        return share

    def _store(self, record: AclRecord) -> None:
        self._records[(record.service_name, record.resource_type, record.resource_id)] = record

    def unshare(
        self,
        resource_type: str,
        resource_id: uuid.UUID,
        grantee_type: str,
        grantee_id: uuid.UUID,
        *,
        service_name: str | None = None,
    ) -> bool:
        """Remove the share of a grantee (whatever its permission); ``False`` if there was none.

        Raises ``KeyError`` for an unregistered resource.
        """
        key = self._key(service_name, resource_type, resource_id)
        with self._lock:
            return self._unshare(self._require(key), grantee_type, grantee_id)

    def _unshare(self, record: AclRecord, grantee_type: str, grantee_id: uuid.UUID) -> bool:
        kept = tuple(
            s
            for s in record.shares
            if not (s.grantee_type == grantee_type and s.grantee_id == grantee_id)
        )
        if len(kept) == len(record.shares):
            return False
        self._store(replace(record, shares=kept))
        return True

    def set_visibility(
        self,
        resource_type: str,
        resource_id: uuid.UUID,
        visibility: str,
        *,
        service_name: str | None = None,
    ) -> AclRecord:
        """Set a resource's visibility (``"private"``/``"workspace"``); returns the new record."""
        if visibility not in _VISIBILITIES:
            raise ValueError(f"visibility must be one of {sorted(_VISIBILITIES)}")
        key = self._key(service_name, resource_type, resource_id)
        with self._lock:
            record = replace(self._require(key), visibility=visibility)
            self._store(record)
            return record

    def deregister(
        self, resource_type: str, resource_id: uuid.UUID, *, service_name: str | None = None
    ) -> bool:
        """Delete a resource and its shares; ``False`` if it was not registered."""
        key = self._key(service_name, resource_type, resource_id)
        with self._lock:
            record = self._records.pop(key, None)
            if record is None:
                return False
            del self._by_id[record.id]
            return True

    def check(
        self,
        principal: Principal,
        resource_type: str,
        resource_id: uuid.UUID,
        action: str,
        *,
        service_name: str | None = None,
    ) -> bool:
        """:func:`check_permission` against the current state."""
        return check_permission(
            self.get(resource_type, resource_id, service_name), principal, action
        )

    def accessible(
        self,
        principal: Principal,
        resource_type: str,
        action: str,
        *,
        limit: int | None = None,
        service_name: str | None = None,
    ) -> tuple[list[uuid.UUID], bool]:
        """:func:`accessible_ids` against the current state."""
        return accessible_ids(
            self.records(),
            principal,
            service_name=service_name or self.service_name,
            resource_type=resource_type,
            action=action,
            limit=limit,
            rng=self._rng,
        )

    def enriched(self, record: AclRecord) -> dict[str, Any]:
        """``record`` as ``/enriched`` returns it: user and group names (and emails) filled in."""

        def name_of(user_id: uuid.UUID | None) -> str | None:
            user = self.directory.user(user_id) if user_id is not None else None
            return user.name if user else None

        def email_of(user_id: uuid.UUID | None) -> str | None:
            user = self.directory.user(user_id) if user_id is not None else None
            return user.email if user else None

        data = record.to_json()
        data["owner_name"] = name_of(record.owner_id)
        data["owner_email"] = email_of(record.owner_id)
        shares: list[dict[str, Any]] = []
        for share in record.shares:
            item = share.to_json()
            if share.grantee_type == "user":
                item["grantee_name"] = name_of(share.grantee_id)
                item["grantee_email"] = email_of(share.grantee_id)
            else:
                group = self.directory.group(share.grantee_id)
                item["grantee_name"] = group.name if group else None
                item["grantee_email"] = None  # groups have no email
            item["granted_by_name"] = name_of(share.granted_by)
            shares.append(item)
        data["shares"] = shares
        return data
