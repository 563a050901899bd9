"""The conformance suite: every backend-neutral rule, against any backend binding.

A backend is a :class:`~sentinel_vectors.backends.StoreBackend` (``resource_type``,
``scoped(auth)``, ``index(auth)``). The suite reaches it only through the neutral
:class:`~sentinel_vectors.index.ChunkIndex` and
:class:`~sentinel_vectors.lifecycle.ResourceLifecycle`, with real tokens, the SDK's real
``PermissionClient`` and the permission-service emulator on real HTTP, and checks:

- the security invariants of ``docs/security.md`` that do not depend on a native API:
  workspace isolation and the ``accessible()`` constraint (1), full access (1), caller
  filters only narrowing and filters on tenancy keys refused (1), stamping and reserved
  keys refused in metadata (2), the write rule and edit shares (4, 8), fail closed on
  permission-service errors (6), chunk ids reserved to their resource, no orphan claimed,
  ``delete_resource`` leaving nothing (8), hidden equals absent (9);
- the lifecycle rules under one injected failure at a time;
- the bad-input rules: a typed error before anything is registered or written.

Use it from pytest (``pytest-asyncio`` installed). In ``conftest.py``, list the plugin (it
registers the suite's fixtures and the ``invariant`` marker, and makes pytest rewrite the
suite's asserts)::

    pytest_plugins = ["sentinel_vectors.testing.conformance"]

and in a test module, one subclass per backend with a ``backend_factory`` fixture::

    from sentinel_vectors.testing.conformance import ConformanceSuite, ConformanceTarget

    class TestMyStore(ConformanceSuite):
        @pytest.fixture
        def backend_factory(self) -> BackendFactory:
            @asynccontextmanager
            async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
                ...  # a new, empty collection of `dimension`-vectors
                yield ConformanceTarget(MyBackend(...), records=read_natively)
                ...  # drop it
            return factory

``docs/testing.md`` has a complete, runnable example. The world the tests share
(:class:`Cast`: two workspaces, five members, five documents; :data:`NEAR`, :func:`vec`)
is public too, for backend-specific tests that start from the same world.
"""

from sentinel_vectors.testing.conformance.bad_input import BadInputRules
from sentinel_vectors.testing.conformance.fixtures import (
    Identity,
    conformance_identity,
    conformance_loaded,
    conformance_target,
    conformance_world,
)
from sentinel_vectors.testing.conformance.lifecycle import LifecycleRules
from sentinel_vectors.testing.conformance.reads import ReadRules
from sentinel_vectors.testing.conformance.suite import ConformanceSuite
from sentinel_vectors.testing.conformance.target import (
    BackendFactory,
    ConformanceTarget,
    RecordReader,
)
from sentinel_vectors.testing.conformance.world import (
    DIM,
    NEAR,
    Cast,
    Document,
    Member,
    Tenancy,
    World,
    vec,
)
from sentinel_vectors.testing.conformance.writes import WriteRules

pytest_plugins = ["sentinel_vectors.testing.pytest_plugin"]

__all__ = [
    "DIM",
    "NEAR",
    "BackendFactory",
    "BadInputRules",
    "Cast",
    "ConformanceSuite",
    "ConformanceTarget",
    "Document",
    "Identity",
    "LifecycleRules",
    "Member",
    "ReadRules",
    "RecordReader",
    "Tenancy",
    "World",
    "WriteRules",
    "conformance_identity",
    "conformance_loaded",
    "conformance_target",
    "conformance_world",
    "pytest_configure",
    "vec",
]


def pytest_configure(config: object) -> None:
    """Register the ``invariant`` marker (for ``--strict-markers`` runs)."""
    config.addinivalue_line(  # type: ignore[attr-defined]
        "markers", "invariant(n): the DESIGN.md security invariant a test guards"
    )
