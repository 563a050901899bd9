"""How many hypothesis examples the leak harness runs, and the loop that runs them.

``LEAK_EXAMPLES`` (default 200) sets the number of examples per backend; a backend whose
worlds are costly to build caps its own (``max_examples``), never above it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LEAK_EXAMPLES = int(os.environ.get("LEAK_EXAMPLES", "200"))


def run_examples[T](
    strategy: st.SearchStrategy[T],
    run: Callable[[T], Awaitable[None]],
    *,
    max_examples: int | None = None,
) -> None:
    """Run ``run`` on ``max_examples`` (default ``LEAK_EXAMPLES``) examples of ``strategy``,
    each in a fresh event loop."""

    @settings(
        max_examples=LEAK_EXAMPLES if max_examples is None else max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(example=strategy)
    def check(example: T) -> None:
        asyncio.run(run(example))

    check()


def capped(backend: object) -> int | None:
    """A backend's own example cap (costly worlds), never above ``LEAK_EXAMPLES``."""
    cap: int | None = getattr(backend, "max_examples", None)
    return None if cap is None else min(cap, LEAK_EXAMPLES)
