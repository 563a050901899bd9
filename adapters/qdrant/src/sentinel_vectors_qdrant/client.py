"""``ScopedQdrantClient``: a Qdrant client that only ever sees the caller's scope.

It keeps ``QdrantClient``'s method names and arguments for point operations (``upsert``,
``upload_points``, ``query_points``, ``query_batch_points``, ``query_points_groups``,
``scroll``, ``retrieve``, ``count``, ``facet``, ``delete``, ``set_payload``,
``overwrite_payload``, ``delete_payload``, ``clear_payload``, ``update_vectors``,
``delete_vectors``) as coroutines, over an ``AsyncQdrantClient`` or a sync
``QdrantClient`` (whose calls run in a worker thread). Nothing else of the native client
is reachable through it: collection administration goes through
:func:`sentinel_vectors_qdrant.ensure_collection` or the native client, outside the scope.

Every tenancy decision is made by :class:`sentinel_vectors.policy.TenancyPolicy`; the
client validates Qdrant arguments, compiles filters and calls the native client. The
methods live by responsibility: :mod:`~sentinel_vectors_qdrant.reads`,
:mod:`~sentinel_vectors_qdrant.upserts`, :mod:`~sentinel_vectors_qdrant.updates`,
:mod:`~sentinel_vectors_qdrant.resources`, over :mod:`~sentinel_vectors_qdrant.base`.
"""

from __future__ import annotations

from sentinel_vectors_qdrant.base import DEFAULT_POSTFILTER_MIN_IDS, LOCAL_POSTFILTER_MIN_IDS
from sentinel_vectors_qdrant.reads import Reads
from sentinel_vectors_qdrant.resources import Resources
from sentinel_vectors_qdrant.results import ScopedQueryResponse
from sentinel_vectors_qdrant.updates import PointsSelectorArg, Updates
from sentinel_vectors_qdrant.upserts import Upserts

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "LOCAL_POSTFILTER_MIN_IDS",
    "PointsSelectorArg",
    "ScopedQdrantClient",
    "ScopedQueryResponse",
]


class ScopedQdrantClient(Upserts, Updates, Reads, Resources):
    """A Qdrant client bound to one caller's workspace and permissions.

    Args:
        client: a ``qdrant_client.AsyncQdrantClient`` or ``QdrantClient``.
        auth: the request's ``sentinel_auth.RequestAuth`` (any :class:`AuthContext`).
        resource_type: the Sentinel resource type of the points' parent (``"document"``).
        resource_key: the payload key naming each point's resource id.
        timeout: seconds to wait for the permission service before failing closed.
        search_params: default ``search_params`` for queries that pass none (for
            example ACORN: ``models.SearchParams(acorn=models.AcornSearchParams(enable=True))``
            on servers that support it).
        strategy: force a read strategy for ``query_points`` (see
            :mod:`sentinel_vectors.strategy`); other reads always pre-filter.
        postfilter_min_ids: accessible-list size from which ``auto`` post-filters
            ``query_points`` (``None``: never). Default: :data:`DEFAULT_POSTFILTER_MIN_IDS`
            on a server, :data:`LOCAL_POSTFILTER_MIN_IDS` in local mode.
        overfetch: the post-filter's fetch schedule.
        compiler: the filter compiler (a seam for tests and extensions).

    Point ids are stored as ``uuid5(namespace, "<workspace_id>:<id>")`` so ids never
    collide across workspaces; the caller's id is kept in the payload and returned as
    written. Filters may be ``models.Filter`` (nested under the tenancy filter, so they
    only narrow) or a :mod:`sentinel_vectors.filters` node.
    """
