"""Sentinel settings for commands that ask the identity service (service key, no user).

From flags, else the environment: ``SENTINEL_URL``, ``SENTINEL_SERVICE_NAME``,
``SENTINEL_SERVICE_KEY``, ``SENTINEL_RESOURCE_TYPE`` (default ``document``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import typer

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.directory import ResourceDirectory

__all__ = [
    "ResourceTypeOption",
    "SentinelKeyOption",
    "SentinelNameOption",
    "SentinelSettings",
    "SentinelUrlOption",
    "directory",
]

SentinelUrlOption = Annotated[
    str | None,
    typer.Option("--sentinel-url", envvar="SENTINEL_URL", help="Sentinel's base URL."),
]
SentinelNameOption = Annotated[
    str | None,
    typer.Option(
        "--service-name", envvar="SENTINEL_SERVICE_NAME", help="This service's name in Sentinel."
    ),
]
SentinelKeyOption = Annotated[
    str | None,
    typer.Option(
        "--service-key",
        envvar="SENTINEL_SERVICE_KEY",
        help="The service key (prefer the environment variable).",
        show_default=False,
    ),
]
ResourceTypeOption = Annotated[
    str,
    typer.Option(
        "--resource-type", envvar="SENTINEL_RESOURCE_TYPE", help="The Sentinel resource type."
    ),
]


@dataclass(frozen=True)
class SentinelSettings:
    """Where Sentinel is and how this service authenticates to it."""

    url: str | None
    service_name: str | None
    service_key: str | None
    resource_type: str = "document"

    @property
    def configured(self) -> bool:
        """All three of URL, service name and key are set."""
        return bool(self.url and self.service_name and self.service_key)

    def require(self, command: str) -> None:
        """:class:`InvalidInputError` naming what is missing, for commands that need Sentinel."""
        missing = [
            name
            for name, value in (
                ("--sentinel-url / SENTINEL_URL", self.url),
                ("--service-name / SENTINEL_SERVICE_NAME", self.service_name),
                ("--service-key / SENTINEL_SERVICE_KEY", self.service_key),
            )
            if not value
        ]
        if missing:
            raise InvalidInputError(f"{command} needs Sentinel settings: {', '.join(missing)}")


@asynccontextmanager
async def directory(settings: SentinelSettings) -> AsyncIterator[ResourceDirectory | None]:
    """A :class:`ResourceDirectory` over the SDK's ``PermissionClient``, or ``None``."""
    if not settings.configured:
        yield None
        return
    from sentinel_auth import PermissionClient

    client = PermissionClient(
        base_url=str(settings.url),
        service_name=str(settings.service_name),
        service_key=str(settings.service_key),
    )
    try:
        yield ResourceDirectory(client, settings.resource_type)
    finally:
        await client.close()  # type: ignore[no-untyped-call]
