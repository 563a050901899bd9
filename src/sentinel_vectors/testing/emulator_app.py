"""The emulator's HTTP face: Sentinel 0.10.2's ``/permissions`` routes, bodies and checks.

:func:`build_app` builds the FastAPI app over a
:class:`~sentinel_vectors.testing.emulator.PermissionServiceEmulator`'s state; the
request bodies, token verification and service-key scoping answer as the real service
does (status codes and ``detail`` texts included).
"""

import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, Final

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from sentinel_vectors.testing.acl import _NAME_PATTERN, AclRecord, Principal
from sentinel_vectors.testing.keys import ACCESS_AUDIENCE

if TYPE_CHECKING:
    from sentinel_vectors.testing.emulator import PermissionServiceEmulator

__all__ = ["AUTHZ_AUDIENCE", "build_app"]

AUTHZ_AUDIENCE: Final = "sentinel:authz"
"""The ``aud`` claim of a Sentinel authz-mode token (accepted with a matching ``svc``)."""
_MAX_TOKEN_CHARS: Final = 8192

_Name = Annotated[str, Field(max_length=255, pattern=_NAME_PATTERN)]
_Action = Annotated[str, Field(pattern=r"^(view|edit)$")]
_Visibility = Annotated[str, Field(pattern=r"^(private|workspace)$")]


# --------------------------------------------------------------------------- HTTP bodies


class _CheckItem(BaseModel):
    service_name: _Name
    resource_type: _Name
    resource_id: uuid.UUID
    action: _Action


class _CheckRequest(BaseModel):
    checks: list[_CheckItem] = Field(max_length=100)


class _AccessibleRequest(BaseModel):
    service_name: _Name
    resource_type: _Name
    action: _Action
    workspace_id: uuid.UUID
    limit: int | None = Field(default=None, ge=1, le=10000)


class _RegisterRequest(BaseModel):
    service_name: _Name
    resource_type: _Name
    resource_id: uuid.UUID
    workspace_id: uuid.UUID
    owner_id: uuid.UUID
    visibility: _Visibility = "workspace"


class _ShareRequest(BaseModel):
    grantee_type: Annotated[str, Field(pattern=r"^(user|group)$")]
    grantee_id: uuid.UUID
    permission: _Action


class _VisibilityRequest(BaseModel):
    visibility: _Visibility


class _ServerError(Exception):
    """Where the real service fails with an unhandled exception: a plain-text 500."""


def _verify_token(self: "PermissionServiceEmulator", request: Request, service: str) -> Principal:
    auth = request.headers.get("Authorization")
    if not auth or not auth.startswith("Bearer "):
        raise HTTPException(status_code=401, detail="Missing Bearer token")
    token = auth.removeprefix("Bearer ")
    if len(token) > _MAX_TOKEN_CHARS:
        raise HTTPException(status_code=401, detail="Token too large")
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            self.keys.public_pem,
            algorithms=["RS256"],
            audience=[ACCESS_AUDIENCE, AUTHZ_AUDIENCE],
            issuer=self.issuer,
        )
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token") from None
    token_type = payload.get("type")
    if token_type not in ("access", "authz"):
        raise HTTPException(status_code=401, detail="Invalid token type")
    if not all(k in payload for k in ("sub", "wid", "wrole")):
        raise HTTPException(status_code=401, detail="Token missing required claims")
    if token_type == "authz" and payload.get("svc") != service:
        raise HTTPException(
            status_code=403, detail="Authz token was issued for a different service"
        )
    if token_type == "access":
        # Redis flags in the real service, checked for access tokens only.
        with self._lock:
            revoked = payload.get("jti") in self._revoked
            deactivated = str(payload.get("sub")) in self._deactivated
        if revoked:
            raise HTTPException(status_code=401, detail="Token has been revoked")
        if deactivated:
            raise HTTPException(status_code=401, detail="User account is deactivated")
    try:
        return Principal(
            user_id=uuid.UUID(str(payload["sub"])),
            workspace_id=uuid.UUID(str(payload["wid"])),
            workspace_role=str(payload["wrole"]),
            groups=frozenset(uuid.UUID(str(g)) for g in payload.get("groups", [])),
        )
    except (TypeError, ValueError):
        # The real service parses the claims unguarded: an unhandled error, 500.
        raise _ServerError("token claim is not a UUID") from None


def _verify_scope(service: str, service_name: str) -> None:
    if service != service_name:
        raise HTTPException(
            status_code=403,
            detail=f"Service key is not authorized for service '{service_name}'",
        )


def build_app(self: "PermissionServiceEmulator") -> FastAPI:
    """The emulator's FastAPI app: Sentinel 0.10.2's ``/permissions`` routes over ``self``."""
    app = FastAPI(title="Sentinel permission service emulator", openapi_url=None)

    async def server_error(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("Internal Server Error", status_code=500)

    app.add_exception_handler(_ServerError, server_error)

    async def require_service(request: Request) -> str:
        key = request.headers.get("X-Service-Key")
        with self._lock:
            service = self._service_keys.get(key) if key else None
        if service is None:
            raise HTTPException(status_code=401, detail="Invalid or missing service API key")
        return service

    async def require_user(
        request: Request, service: Annotated[str, Depends(require_service)]
    ) -> Principal:
        return _verify_token(self, request, service)

    Service = Annotated[str, Depends(require_service)]
    User = Annotated[Principal, Depends(require_user)]

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return {"keys": [self.keys.jwk()]}

    @app.post("/permissions/check")
    async def check(body: _CheckRequest, service: Service, user: User) -> dict[str, Any]:
        for item in body.checks:
            _verify_scope(service, item.service_name)
        results = []
        for item in body.checks:
            allowed = self.check(
                user,
                item.resource_type,
                item.resource_id,
                item.action,
                service_name=item.service_name,
            )
            results.append(
                {
                    "service_name": item.service_name,
                    "resource_type": item.resource_type,
                    "resource_id": str(item.resource_id),
                    "action": item.action,
                    "allowed": allowed,
                }
            )
        return {"results": results}

    @app.post("/permissions/accessible")
    async def accessible(body: _AccessibleRequest, service: Service, user: User) -> dict[str, Any]:
        _verify_scope(service, body.service_name)
        if body.workspace_id != user.workspace_id:
            raise HTTPException(status_code=403, detail="Cross-workspace lookup not allowed")
        ids, full = self.accessible(
            user,
            body.resource_type,
            body.action,
            limit=body.limit,
            service_name=body.service_name,
        )
        return {"resource_ids": [str(i) for i in ids], "has_full_access": full}

    @app.post("/permissions/register", status_code=201)
    async def register(body: _RegisterRequest, service: Service) -> dict[str, Any]:
        _verify_scope(service, body.service_name)
        key = (body.service_name, body.resource_type, body.resource_id)
        with self._lock:
            record = self._records.get(key)
            if record is None:
                # INSERT ... ON CONFLICT DO NOTHING: foreign keys only bite a new row.
                if not self.directory.has_workspace(body.workspace_id):
                    raise _ServerError("workspace_id violates a foreign key")
                if self.directory.user(body.owner_id) is None:
                    raise _ServerError("owner_id violates a foreign key")
                record = self._insert(key, body.workspace_id, body.owner_id, body.visibility)
        return record.to_json()

    def lookup(permission_id: uuid.UUID, service: str) -> AclRecord:
        record = self.get_by_id(permission_id)
        if record is None:
            raise HTTPException(status_code=404, detail="Permission not found")
        _verify_scope(service, record.service_name)
        return record

    @app.post("/permissions/{permission_id}/share", status_code=201)
    async def share(
        permission_id: uuid.UUID, body: _ShareRequest, service: Service, user: User
    ) -> dict[str, Any]:
        with self._lock:
            record = lookup(permission_id, service)
            if record.workspace_id != user.workspace_id:
                raise HTTPException(status_code=403, detail="Cross-workspace sharing not allowed")
            if record.owner_id != user.user_id and not user.is_privileged:
                raise HTTPException(
                    status_code=403,
                    detail="Only the resource owner or workspace admin can share",
                )
            if body.grantee_type == "user":
                if not self.directory.is_member(record.workspace_id, body.grantee_id):
                    raise HTTPException(
                        status_code=400, detail="Grantee is not a member of this workspace"
                    )
            else:
                group = self.directory.group(body.grantee_id)
                if group is None or group.workspace_id != record.workspace_id:
                    raise HTTPException(
                        status_code=400, detail="Group does not belong to this workspace"
                    )
            if self._share_of(record, body.grantee_type, body.grantee_id) is not None:
                # Unique key (permission, grantee type, grantee id): the INSERT fails
                # unhandled. The existing share, whatever its permission, stays.
                raise _ServerError("duplicate share")
            self._share(record, body.grantee_type, body.grantee_id, body.permission, user.user_id)
        return {"status": "ok"}

    @app.delete("/permissions/{permission_id}/share")
    async def unshare(
        permission_id: uuid.UUID, body: _ShareRequest, service: Service
    ) -> dict[str, Any]:
        with self._lock:
            record = lookup(permission_id, service)
            if not self._unshare(record, body.grantee_type, body.grantee_id):
                # revoke_share raises ValueError("Share not found"), not caught: 500.
                raise _ServerError("share not found")
        return {"status": "ok"}

    @app.patch("/permissions/{permission_id}/visibility")
    async def visibility(
        permission_id: uuid.UUID, body: _VisibilityRequest, service: Service
    ) -> dict[str, Any]:
        with self._lock:
            record = replace(lookup(permission_id, service), visibility=body.visibility)
            self._store(record)
        return record.to_json()

    def resource(
        service: str, service_name: str, resource_type: str, resource_id: uuid.UUID
    ) -> AclRecord:
        _verify_scope(service, service_name)
        record = self.get(resource_type, resource_id, service_name)
        if record is None:
            raise HTTPException(status_code=404, detail="Resource not found")
        return record

    @app.get("/permissions/resource/{service_name}/{resource_type}/{resource_id}")
    async def get_acl(
        service_name: str, resource_type: str, resource_id: uuid.UUID, service: Service
    ) -> dict[str, Any]:
        return resource(service, service_name, resource_type, resource_id).to_json()

    @app.get("/permissions/resource/{service_name}/{resource_type}/{resource_id}/enriched")
    async def get_enriched_acl(
        service_name: str, resource_type: str, resource_id: uuid.UUID, service: Service
    ) -> dict[str, Any]:
        return self.enriched(resource(service, service_name, resource_type, resource_id))

    @app.delete(
        "/permissions/resource/{service_name}/{resource_type}/{resource_id}",
        status_code=204,
    )
    async def deregister(
        service_name: str, resource_type: str, resource_id: uuid.UUID, service: Service
    ) -> Response:
        _verify_scope(service, service_name)
        if not self.deregister(resource_type, resource_id, service_name=service_name):
            raise HTTPException(status_code=404, detail="Resource not found")
        return Response(status_code=204)

    return app
