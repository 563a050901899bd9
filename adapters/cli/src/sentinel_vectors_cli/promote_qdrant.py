"""``sentinel-vectors promote`` on Qdrant: tiered tenant promotion into a workspace's shard."""

from __future__ import annotations

import os

from sentinel_vectors.operations.errors import ConnectionStringError
from sentinel_vectors_cli.connect import StoreURL

__all__ = ["promote_qdrant"]


async def promote_qdrant(target: StoreURL, workspace: str) -> int:
    """Promote ``workspace`` in the tiered collection ``target`` names; points moved.

    :func:`sentinel_vectors_qdrant.promote_workspace` on a Qdrant server (1.16+): local
    mode has no shard keys, so a ``qdrant+local://`` target is refused.
    """
    if target.mode == "local":
        raise ConnectionStringError(
            "Qdrant's local mode has no shard keys: promote needs a Qdrant server "
            "(qdrant://host:port/collection)"
        )
    # Imported here: the command line loads a store's adapter only when it is used.
    try:
        from qdrant_client import AsyncQdrantClient

        from sentinel_vectors_qdrant import promote_workspace
    except ImportError as exc:
        raise ConnectionStringError(
            f"qdrant needs its adapter: pip install 'sentinel-vectors-cli[qdrant]' ({exc})"
        ) from exc
    client = AsyncQdrantClient(
        host=target.host,
        port=target.port or 6333,
        https=target.mode == "https",
        api_key=os.environ.get("QDRANT_API_KEY") or None,
    )
    try:
        return await promote_workspace(client, target.collection, workspace)
    finally:
        await client.close()
