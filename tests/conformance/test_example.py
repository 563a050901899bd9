"""The third-party example of docs/testing.md runs as shown: its own conftest, strict mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "conformance"


def test_the_documented_example_is_the_file_that_runs() -> None:
    doc = (ROOT / "docs" / "testing.md").read_text()
    for name in ("conftest.py", "test_my_adapter.py"):
        assert (EXAMPLE / name).read_text().strip() in doc, name


def test_the_example_runs_the_suite_in_a_pytest_of_its_own() -> None:
    # A part of the suite: all of it runs on Chroma in tests/conformance/test_chroma.py.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLE),
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=strict",
            "-k",
            "invariant_1_a_member or invariant_8_a_write or bad_search",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
    assert "failed" not in proc.stdout
