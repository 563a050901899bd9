"""Test kit: an HTTP emulator of Sentinel's permission service, signing keys and tokens.

A real ``sentinel_auth.PermissionClient`` talks real HTTP to the emulator::

    from sentinel_vectors.testing import SigningKeys, make_user, run_emulator

    keys = SigningKeys.generate()
    with run_emulator(keys) as sentinel:
        owner, token = make_user(keys, workspace_id=workspace_id, role="editor")
        sentinel.emulator.register("doc", doc_id, workspace_id, owner.user_id)
        client = sentinel.permission_client()
        ...

pytest users can instead enable the fixtures of
``sentinel_vectors.testing.pytest_plugin`` (not imported here, so that pytest
can assertion-rewrite it when listed in ``pytest_plugins``).
"""

from sentinel_vectors.testing.directory import Directory
from sentinel_vectors.testing.emulator import (
    AUTHZ_AUDIENCE,
    SENTINEL_VERSION,
    AclRecord,
    PermissionServiceEmulator,
    Principal,
    Share,
    accessible_ids,
    check_permission,
)
from sentinel_vectors.testing.keys import (
    ACCESS_AUDIENCE,
    DEFAULT_ISSUER,
    SigningKeys,
    UserFactory,
    make_user,
    mint_token,
)
from sentinel_vectors.testing.server import EmulatorServer, RunningEmulator, run_emulator

__all__ = [
    "ACCESS_AUDIENCE",
    "AUTHZ_AUDIENCE",
    "DEFAULT_ISSUER",
    "SENTINEL_VERSION",
    "AclRecord",
    "Directory",
    "EmulatorServer",
    "PermissionServiceEmulator",
    "Principal",
    "RunningEmulator",
    "Share",
    "SigningKeys",
    "UserFactory",
    "accessible_ids",
    "check_permission",
    "make_user",
    "mint_token",
    "run_emulator",
]
