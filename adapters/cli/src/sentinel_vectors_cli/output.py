"""Output and exit codes: Rich for people, JSON for scripts, one error mapping."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from sentinel_vectors.errors import (
    InvalidInputError,
    PermissionServiceError,
    SentinelVectorsError,
)
from sentinel_vectors_cli.connect import StoreURL, parse_store_url

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FINDINGS",
    "EXIT_UNAVAILABLE",
    "console",
    "emit_json",
    "fail",
    "mapped_errors",
    "parse_stores",
    "progress",
    "run",
]

EXIT_FINDINGS = 1
"""``check`` / ``reconcile`` found problems; a migrate or backfill did not verify."""
EXIT_BAD_INPUT = 2
"""Bad arguments, connection string, mapping, or a refused confirmation."""
EXIT_UNAVAILABLE = 3
"""A store or the identity service failed."""

console = Console(stderr=True, soft_wrap=True)
"""Human output goes to stderr, so stdout stays clean for ``--json``."""


def emit_json(data: object) -> None:
    """Print ``data`` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: message`` and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Typed errors (and store client errors) become a message and an exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except InvalidInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except PermissionServiceError as exc:
        fail(f"identity service: {exc}", EXIT_UNAVAILABLE)
    except SentinelVectorsError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except (OSError, ConnectionError) as exc:
        fail(f"{type(exc).__name__}: {exc}", EXIT_UNAVAILABLE)
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in _STORE_MODULES:
            fail(f"store error: {type(exc).__name__}: {exc}", EXIT_UNAVAILABLE)
        raise


_STORE_MODULES = frozenset({"chromadb", "qdrant_client", "sqlalchemy", "asyncpg", "httpx"})


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine under :func:`mapped_errors`."""
    with mapped_errors():
        return asyncio.run(coro)
    raise AssertionError("unreachable")  # pragma: no cover


def parse_stores(urls: list[str]) -> list[StoreURL]:
    """Parse connection strings; a bad one exits 2 with the reason."""
    with mapped_errors():
        return [parse_store_url(u) for u in urls]
    raise AssertionError("unreachable")  # pragma: no cover


class RateColumn(ProgressColumn):
    """Records per second."""

    def render(self, task: Task) -> Text:
        """``1234 rec/s`` (blank until there is a rate)."""
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rec/s")


def progress(enabled: bool = True) -> Progress:
    """A Rich progress display with rate and ETA (silent when not ``enabled``)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled or not sys.stderr.isatty(),
        transient=False,
    )
