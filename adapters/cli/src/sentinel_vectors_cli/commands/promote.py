"""``sentinel-vectors promote``: move one workspace into a placement of its own, online."""

from __future__ import annotations

from typing import Annotated

import typer

from sentinel_vectors_cli.commands.purge import run_check
from sentinel_vectors_cli.output import EXIT_BAD_INPUT, console, fail, parse_stores, run

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``promote`` to ``app``."""

    @app.command(
        "promote",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors promote postgresql+asyncpg://app:pw@db/app/chunks "
            "--workspace 6f1c...e2"
        ),
    )
    def promote(
        store: Annotated[
            str, typer.Argument(help="The workspace-partitioned pgvector chunk table.")
        ],
        workspace: Annotated[
            str, typer.Option("--workspace", "-w", help="The workspace id (UUID).")
        ],
    ) -> None:
        """Move WORKSPACE from the shared partition into its own partition, online.

        pgvector only (a chunk table declared with ``partitioned=True``, see
        docs/scaling.md): reads go on during the copy and the index build, writes wait
        for the move, nothing is lost. Idempotent: a promoted workspace moves 0 chunks.
        Qdrant: a tiered collection (see docs/scaling.md), moved into the workspace's own
        shard with Qdrant's tenant promotion; reads and writes go on meanwhile.
        """
        ws = run_check(workspace)
        [target] = parse_stores([store])
        if target.backend == "qdrant":
            from sentinel_vectors_cli.promote_qdrant import promote_qdrant

            moved = run(promote_qdrant(target, ws))
            console.print(f"workspace {ws}: {moved} points moved into its own shard")
            return
        if target.backend != "pgvector":
            fail(
                f"promote supports pgvector chunk tables only, not {target.backend}"
                " (see docs/scaling.md)",
                EXIT_BAD_INPUT,
            )

        async def go() -> int:
            # Imported here: the command line loads a store's adapter only when it is used.
            from sqlalchemy import MetaData, Table
            from sqlalchemy.ext.asyncio import create_async_engine

            from sentinel_vectors_pgvector.partitions import (
                PARTITION_BY_WORKSPACE,
                promote_workspace,
            )

            engine = create_async_engine(target.database_url)
            # Only the name is needed: the move is SQL on the live table, whose partitions
            # and indexes are read from the catalog (an unpartitioned table is refused).
            table = Table(
                target.collection,
                MetaData(),
                schema=target.schema,
                postgresql_partition_by=PARTITION_BY_WORKSPACE,
            )
            try:
                return await promote_workspace(engine, table, ws)
            finally:
                await engine.dispose()

        moved = run(go())
        console.print(f"workspace {ws}: {moved} chunks moved into its own partition")
