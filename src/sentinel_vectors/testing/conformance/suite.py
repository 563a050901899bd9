"""The whole suite as one class to subclass, once per backend."""

from __future__ import annotations

import pytest

from sentinel_vectors.testing.conformance.bad_input import BadInputRules
from sentinel_vectors.testing.conformance.lifecycle import LifecycleRules
from sentinel_vectors.testing.conformance.reads import ReadRules
from sentinel_vectors.testing.conformance.writes import WriteRules

__all__ = ["ConformanceSuite"]


class ConformanceSuite(ReadRules, WriteRules, LifecycleRules, BadInputRules):
    """Every neutral security invariant, lifecycle rule and bad-input rule.

    Subclass it in a test module (a name starting with ``Test``) and give it a
    ``backend_factory`` fixture (:data:`~sentinel_vectors.testing.conformance.BackendFactory`);
    pytest collects every test of the suite for that backend. The rules are also
    available one group at a time: :class:`ReadRules`, :class:`WriteRules`,
    :class:`LifecycleRules`, :class:`BadInputRules`.
    """

    pytestmark = pytest.mark.asyncio
