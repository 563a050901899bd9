"""sentinel-vectors: tenant-safe vector search for services protected by Sentinel Auth.

The core holds the tenancy policy once for every backend; the adapters
(``sentinel_vectors_chroma``, ...) compile its filters and call their native clients.
"""

from sentinel_vectors import errors, filters
from sentinel_vectors.auth import AuthContext, request_auth
from sentinel_vectors.policy import AUDIT_LOGGER, ExistingRecord, TenancyPolicy
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Access, Scope
from sentinel_vectors.strategy import ReadPlan, StrategyName, plan_read

__all__ = [
    "AUDIT_LOGGER",
    "OWNER_KEY",
    "WORKSPACE_KEY",
    "Access",
    "AuthContext",
    "ExistingRecord",
    "ReadPlan",
    "Scope",
    "StrategyName",
    "TenancyPolicy",
    "errors",
    "filters",
    "plan_read",
    "request_auth",
]
