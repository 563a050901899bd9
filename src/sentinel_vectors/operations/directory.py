"""What the identity service knows about resources, asked with the service key.

Operations run without a user: they ask Sentinel with the service's own key (the SDK's
``PermissionClient``), through :mod:`sentinel_vectors.identity` like every other call,
so the answers mean the same thing and every failure fails closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sentinel_vectors import identity
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.identity import ResourceRecord
from sentinel_vectors.operations.stamps import Stamp

__all__ = ["ResourceDirectory"]

VISIBILITIES = frozenset({"private", "workspace"})


class ResourceDirectory:
    """Registered-or-not answers for ``(workspace, resource)`` pairs, cached per run.

    Args:
        api: the SDK's ``PermissionClient`` (service key), or anything with its
            ``get_resource_acl`` / ``register_resource``.
        resource_type: the Sentinel resource type (``"document"``).
        time_limit: seconds per call.
        concurrency: calls in flight at once.
    """

    def __init__(
        self,
        api: identity.RegistryAPI,
        resource_type: str,
        *,
        time_limit: float = 10.0,
        concurrency: int = 8,
    ) -> None:
        self.api = api
        self.resource_type = resource_type
        self.time_limit = time_limit
        self._limit = asyncio.Semaphore(concurrency)
        self._records: dict[str, ResourceRecord | None] = {}

    async def lookup(self, resource_id: str) -> ResourceRecord | None:
        """The resource's record, or ``None`` if Sentinel does not know it (cached)."""
        if resource_id not in self._records:
            async with self._limit:
                self._records[resource_id] = await identity.lookup_resource(
                    self.api, self.resource_type, resource_id, time_limit=self.time_limit
                )
        return self._records[resource_id]

    async def known(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(workspace_id, resource_id)`` pairs are registered in that workspace."""
        wanted = sorted(set(pairs))
        records = await asyncio.gather(*(self.lookup(rid) for _, rid in wanted))
        return {
            (ws, rid)
            for (ws, rid), record in zip(wanted, records, strict=True)
            if record is not None and record.workspace_id == ws
        }

    async def register(self, stamp: Stamp, visibility: str) -> ResourceRecord:
        """Register ``stamp``'s resource in its workspace, owned by its owner.

        An existing registration is returned unchanged (the caller compares workspaces).
        """
        if visibility not in VISIBILITIES:
            raise InvalidInputError(
                f"visibility must be one of {sorted(VISIBILITIES)}, got {visibility!r}"
            )
        async with self._limit:
            record = await identity.register_resource(
                self.api,
                self.resource_type,
                stamp.resource_id,
                workspace_id=stamp.workspace_id,
                owner_id=stamp.owner_id,
                visibility=visibility,
                time_limit=self.time_limit,
            )
        self._records[stamp.resource_id] = record
        return record
