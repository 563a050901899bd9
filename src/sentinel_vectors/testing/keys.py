"""RS256 signing keys and Sentinel-shaped access tokens for tests.

The tokens minted here carry the same claims the Sentinel identity service puts
in a user access token, so ``sentinel_auth.JWTAuthMiddleware`` (static
``public_key`` mode, or JWKS mode against the emulator) and the emulator's
permission endpoints both accept them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sentinel_auth.types import AuthenticatedUser

from sentinel_vectors.testing.directory import Directory

__all__ = [
    "ACCESS_AUDIENCE",
    "DEFAULT_ISSUER",
    "SigningKeys",
    "UserFactory",
    "make_user",
    "mint_token",
]

ACCESS_AUDIENCE = "sentinel:access"
"""The ``aud`` claim of a Sentinel user access token."""

DEFAULT_ISSUER = "http://localhost:9003"
"""The ``iss`` claim of minted tokens: the real service's default ``BASE_URL``.

The real service (0.10.2) signs ``iss = BASE_URL`` into every token and rejects
(401) a token without it or with another value; the emulator does the same with its
``issuer`` (this value unless told otherwise).
"""


@dataclass(frozen=True)
class SigningKeys:
    """An RS256 key pair in PEM form, with the key id put in minted token headers.

    Attributes:
        private_pem: PKCS#8 PEM of the RSA private key (signs tokens).
        public_pem: SubjectPublicKeyInfo PEM of the public key (verifies tokens;
            pass it to ``JWTAuthMiddleware(public_key=...)``).
        kid: Key id written into each token header and published by the
            emulator's ``/.well-known/jwks.json``.
        directory: The users, memberships and groups of the issuer: every token
            :func:`mint_token` signs with these keys records its identity here, and
            the emulator reads it (a token is only issued for a user who exists).
    """

    private_pem: str
    public_pem: str
    kid: str
    directory: Directory = field(default_factory=Directory, compare=False, hash=False, repr=False)

    @classmethod
    def generate(cls, key_size: int = 2048) -> SigningKeys:
        """Generate a fresh RSA key pair (``key_size`` bits) with a random key id."""
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        private_pem = private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        ).decode("ascii")
        public_pem = (
            private_key.public_key()
            .public_bytes(
                encoding=serialization.Encoding.PEM,
                format=serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode("ascii")
        )
        return cls(private_pem=private_pem, public_pem=public_pem, kid=uuid.uuid4().hex)

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK dict (``kty``, ``n``, ``e``, ``kid``, ``alg``, ``use``)."""
        public_key = serialization.load_pem_public_key(self.public_pem.encode("ascii"))
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise TypeError("SigningKeys.public_pem is not an RSA public key")
        data: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
        data.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return data


def mint_token(
    keys: SigningKeys,
    *,
    user_id: uuid.UUID,
    workspace_id: uuid.UUID,
    workspace_slug: str,
    workspace_role: str,
    groups: Iterable[uuid.UUID] = (),
    email: str,
    name: str,
    ttl_seconds: int = 3600,
    audience: str = ACCESS_AUDIENCE,
    issued_at: datetime | None = None,
    token_type: str = "access",
    extra_claims: Mapping[str, Any] | None = None,
    issuer: str | None = DEFAULT_ISSUER,
) -> str:
    """Sign a Sentinel user access token with ``keys`` (RS256).

    Claims: ``iss``, ``sub``, ``wid``, ``wslug``, ``wrole``, ``groups``, ``email``,
    ``name``, ``aud``, ``iat``, ``exp`` (UUIDs as strings), plus ``jti`` and ``type``
    as the real service issues them -- its permission endpoints reject a token whose
    ``type`` is not ``"access"`` (or ``"authz"``), or whose ``iss`` is not its
    ``BASE_URL`` (pass that as ``issuer``; ``None`` leaves ``iss`` out). A negative
    ``ttl_seconds`` or an old ``issued_at`` gives an already-expired token.
    ``extra_claims`` (e.g. ``oid``/``oslug``/``opub``) are merged last and may override
    anything.

    The identity is recorded in ``keys.directory`` (user, membership of the
    workspace with the role, the groups in that workspace), as the real service
    only issues tokens for users who exist.
    """
    now = issued_at if issued_at is not None else datetime.now(UTC)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "jti": str(uuid.uuid4()),
        "aud": audience,
        "email": email,
        "name": name,
        "wid": str(workspace_id),
        "wslug": workspace_slug,
        "wrole": workspace_role,
        "groups": [str(g) for g in groups],
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
        "type": token_type,
    }
    if issuer is not None:
        payload["iss"] = issuer
    if extra_claims:
        payload.update(extra_claims)
    _record(keys.directory, payload)
    return jwt.encode(
        payload, _private_key(keys.private_pem), algorithm="RS256", headers={"kid": keys.kid}
    )


def make_user(
    keys: SigningKeys,
    *,
    workspace_id: uuid.UUID,
    role: str = "viewer",
    groups: Iterable[uuid.UUID] = (),
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    name: str | None = None,
    workspace_slug: str | None = None,
    ttl_seconds: int = 3600,
    issuer: str | None = DEFAULT_ISSUER,
) -> tuple[AuthenticatedUser, str]:
    """Create a test user in ``workspace_id`` with ``role`` and return ``(user, token)``.

    Missing identity fields are derived from a fresh ``user_id``; the token is
    :func:`mint_token` output for exactly the returned ``AuthenticatedUser``.
    """
    uid = user_id if user_id is not None else uuid.uuid4()
    slug = workspace_slug if workspace_slug is not None else f"ws-{workspace_id.hex[:8]}"
    group_list = list(groups)
    user = AuthenticatedUser(
        user_id=uid,
        email=email if email is not None else f"user-{uid.hex[:8]}@example.test",
        name=name if name is not None else f"User {uid.hex[:8]}",
        workspace_id=workspace_id,
        workspace_slug=slug,
        workspace_role=role,
        groups=group_list,
    )
    token = mint_token(
        keys,
        user_id=user.user_id,
        workspace_id=user.workspace_id,
        workspace_slug=user.workspace_slug,
        workspace_role=user.workspace_role,
        groups=group_list,
        email=user.email,
        name=user.name,
        ttl_seconds=ttl_seconds,
        issuer=issuer,
    )
    return user, token


class UserFactory:
    """Creates test users sharing a default workspace: ``factory(role) -> (user, token)``.

    Every call makes a new user (fresh ``user_id``) in ``workspace_id`` unless
    another workspace is passed; tokens are signed with ``keys``.

    Attributes:
        keys: Signing keys of the minted tokens.
        workspace_id: Default workspace of the created users.
        issuer: The ``iss`` claim of the minted tokens.
    """

    def __init__(
        self,
        keys: SigningKeys,
        workspace_id: uuid.UUID | None = None,
        *,
        issuer: str | None = DEFAULT_ISSUER,
    ) -> None:
        self.keys = keys
        self.workspace_id = workspace_id if workspace_id is not None else uuid.uuid4()
        self.issuer = issuer

    def __call__(
        self,
        role: str = "viewer",
        *,
        workspace_id: uuid.UUID | None = None,
        groups: Iterable[uuid.UUID] = (),
        user_id: uuid.UUID | None = None,
        email: str | None = None,
        name: str | None = None,
        workspace_slug: str | None = None,
        ttl_seconds: int = 3600,
    ) -> tuple[AuthenticatedUser, str]:
        """Create a user with ``role`` (see :func:`make_user`) and return ``(user, token)``."""
        return make_user(
            self.keys,
            workspace_id=workspace_id if workspace_id is not None else self.workspace_id,
            role=role,
            groups=groups,
            user_id=user_id,
            email=email,
            name=name,
            workspace_slug=workspace_slug,
            ttl_seconds=ttl_seconds,
            issuer=self.issuer,
        )


def _record(directory: Directory, payload: Mapping[str, Any]) -> None:
    """Record the identity a token claims, when its ids are UUIDs (the real service's are)."""
    try:
        user_id = uuid.UUID(str(payload["sub"]))
        workspace_id = uuid.UUID(str(payload["wid"]))
        groups = [uuid.UUID(str(g)) for g in payload.get("groups") or ()]
    except (KeyError, TypeError, ValueError):
        return  # a deliberately malformed token: nothing it names exists
    name, email = payload.get("name"), payload.get("email")
    directory.learn_token(
        user_id,
        workspace_id,
        str(payload.get("wrole", "viewer")),
        groups,
        name=name if isinstance(name, str) else None,
        email=email if isinstance(email, str) else None,
    )


@functools.lru_cache(maxsize=8)
def _private_key(pem: str) -> Any:
    # Parsing the PEM costs ~30 ms per token; the leak harness mints thousands.
    return serialization.load_pem_private_key(pem.encode(), password=None)
