"""The auditor's own rules, without a store: what is built when.

That only ``sentinel_vectors.audit_otel`` imports OpenTelemetry is an import-linter
contract (``make lint``); a run-time check cannot block it: FastAPI itself imports
``opentelemetry`` (so the ``otel`` extra names a package every install already has).
"""

from __future__ import annotations

import logging

import pytest

from sentinel_vectors import audit
from sentinel_vectors.events import ViolationEvent, enter_run, exit_run
from tests.audit.conftest import Collect
from tests.unit.test_policy import R1, access, policy


def test_nothing_but_violations_is_built_while_the_audit_log_is_quiet() -> None:
    default = audit.Auditor()  # the logging sink alone
    logger = logging.getLogger(audit.AUDIT_LOGGER)
    old = logger.level
    try:
        logger.setLevel(logging.WARNING)
        assert default.wants() == {"violation"}
        logger.setLevel(logging.CRITICAL)
        assert default.start() is None  # no record, no timing, no event for this call
        logger.setLevel(logging.INFO)
        assert default.wants() == {"read", "write", "refusal", "violation"}
    finally:
        logger.setLevel(old)


def test_a_dropped_hit_is_a_violation_event_of_the_call() -> None:
    p = policy()
    sink = Collect()
    run = audit.Auditor([sink]).start("req-9")
    assert run is not None
    token = enter_run(run)
    try:
        assert not p.recheck({"workspace_id": "elsewhere", "resource_id": R1}, access(R1), "x")
    finally:
        exit_run(token)
    (event,) = sink.events
    assert isinstance(event, ViolationEvent)
    assert (event.record_id, event.request_id) == ("x", "req-9")
    assert dict(event.details)["record_workspace_id"] == "elsewhere"
    assert p.violations == 1


def test_unknown_settings_are_refused_and_none_means_the_process_auditor() -> None:
    assert audit.parse_setting(None) is None
    assert audit.parse_setting("") is None
    made = audit.parse_setting("logging, fail-closed")
    assert made is not None
    assert made.fail_closed
    with pytest.raises(ValueError, match="unknown audit setting"):
        audit.parse_setting("jsonl")
