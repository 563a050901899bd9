"""The commands, one module each; each has ``register(app: typer.Typer) -> None``.

:data:`COMMANDS` is the registry the app walks: add a module here to add a command.
"""

from __future__ import annotations

from types import ModuleType

from sentinel_vectors_cli.commands import backfill, check, promote, purge, reconcile, transfer

__all__ = ["COMMANDS"]

COMMANDS: list[ModuleType] = [check, backfill, reconcile, purge, transfer, promote]
"""Every command module, in the order ``--help`` lists them."""
