"""The Typer app: one sub-command per module of :mod:`sentinel_vectors_cli.commands`.

To add a command, write ``commands/<name>.py`` with a ``register(app)`` function that
decorates its command with ``@app.command(...)``, and add the module to
:data:`sentinel_vectors_cli.commands.COMMANDS`.
"""

from __future__ import annotations

import typer

from sentinel_vectors_cli.commands import COMMANDS

__all__ = ["app", "main"]

app = typer.Typer(
    name="sentinel-vectors",
    help=(
        "Operate tenant data in Chroma, Qdrant and pgvector collections used with "
        "sentinel-vectors: check, backfill, reconcile, purge, export, import, migrate.\n\n"
        "Stores are connection strings: chroma://host:port/collection, "
        "qdrant://host:port/collection, qdrant+local:///dir/collection, "
        "postgresql+asyncpg://user:pw@host/db/table.\n\n"
        "Exit codes: 0 ok, 1 problems found, 2 bad input, 3 a store or Sentinel failed."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

for module in COMMANDS:
    module.register(app)


def main() -> None:
    """The ``sentinel-vectors`` console script."""
    app()
