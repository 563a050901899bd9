"""Configuration from the environment, as in the guide (``IDENTITY_SERVICE_URL``, ...)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("chroma", "qdrant", "pgvector")


@dataclass(frozen=True)
class Settings:
    """Everything the service needs; :meth:`from_env` reads it from the environment."""

    identity_service_url: str
    identity_service_key: str
    public_key: str
    """PEM of the identity service's RS256 public key (verifies access tokens)."""
    service_name: str = "docs-service"
    backend: str = "chroma"
    data_dir: str | None = None
    """Where the embedded store keeps its files (``None``: a temporary directory)."""
    store_url: str | None = None
    """A store server instead of the embedded one (Chroma/Qdrant URL, PostgreSQL DSN)."""
    collection: str = "documents"
    allowed_workspaces: frozenset[str] | None = None
    embedding_dimension: int = 64
    permission_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"VECTOR_BACKEND must be one of {BACKENDS}, got {self.backend!r}")

    @classmethod
    def from_env(cls) -> Settings:
        """``IDENTITY_SERVICE_URL``, ``IDENTITY_SERVICE_KEY``, ``SENTINEL_PUBLIC_KEY_FILE``
        (default ``keys/public.pem``), ``SERVICE_NAME``, ``VECTOR_BACKEND`` (``chroma``,
        ``qdrant`` or ``pgvector``), ``VECTOR_DATA_DIR``, ``VECTOR_STORE_URL``,
        ``ALLOWED_WORKSPACES`` (comma-separated workspace ids; unset: all)."""
        allowed = os.environ.get("ALLOWED_WORKSPACES")
        return cls(
            identity_service_url=os.environ["IDENTITY_SERVICE_URL"],
            identity_service_key=os.environ["IDENTITY_SERVICE_KEY"],
            public_key=Path(
                os.environ.get("SENTINEL_PUBLIC_KEY_FILE", "keys/public.pem")
            ).read_text(),
            service_name=os.environ.get("SERVICE_NAME", "docs-service"),
            backend=os.environ.get("VECTOR_BACKEND", "chroma"),
            data_dir=os.environ.get("VECTOR_DATA_DIR") or None,
            store_url=os.environ.get("VECTOR_STORE_URL") or None,
            allowed_workspaces=(
                None
                if allowed is None
                else frozenset(w.strip() for w in allowed.split(",") if w.strip())
            ),
        )
