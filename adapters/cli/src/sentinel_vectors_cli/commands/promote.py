"""``sentinel-vectors promote``: move one workspace into a placement of its own, online."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sentinel_vectors_cli.commands.purge import run_check
from sentinel_vectors_cli.connect import StoreURL
from sentinel_vectors_cli.output import EXIT_BAD_INPUT, console, fail, parse_stores, run

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``promote`` to ``app``."""

    @app.command(
        "promote",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors promote postgresql+asyncpg://app:pw@db/app/chunks "
            "--workspace 6f1c...e2\n\n"
            "  sentinel-vectors promote qdrant://localhost:6333/docs -w 6f1c...e2\n\n"
            "  sentinel-vectors promote chroma://localhost:8000/docs -w 6f1c...e2"
        ),
    )
    def promote(
        store: Annotated[
            str,
            typer.Argument(
                help="A partitioned pgvector chunk table, a tiered Qdrant collection "
                "or a Chroma base."
            ),
        ],
        workspace: Annotated[
            str, typer.Option("--workspace", "-w", help="The workspace id (UUID).")
        ],
        settle: Annotated[
            float | None,
            typer.Option(help="Chroma: seconds to wait after 'moving' (> the apps' lease)."),
        ] = None,
        grace: Annotated[
            float | None,
            typer.Option(help="Chroma: seconds to wait after 'promoted' (> the apps' lease)."),
        ] = None,
        lease: Annotated[
            float | None,
            typer.Option(help="Chroma: the applications' lease in seconds (default 5)."),
        ] = None,
    ) -> None:
        """Move WORKSPACE from the shared place into its own, online.

        pgvector: a chunk table declared with ``partitioned=True`` (see
        docs/scaling.md): reads go on during the copy and the index build, writes wait
        for the move, nothing is lost. Idempotent: a promoted workspace moves 0 chunks.
        Qdrant: a tiered collection (see docs/scaling.md), moved into the workspace's own
        shard with Qdrant's tenant promotion; reads and writes go on meanwhile.
        Chroma (``chroma://host:port/base``): from the shared collection into
        ``<base>__ws_<hex>`` through the placement registry (docs/scaling.md).
        """
        ws = run_check(workspace)
        [target] = parse_stores([store])
        if target.backend == "chroma":
            moved = run(_promote_chroma(target, ws, settle, grace, lease))
            console.print(f"workspace {ws}: {moved} records moved into its own collection")
            return
        if settle is not None or grace is not None or lease is not None:
            fail("--settle, --grace and --lease apply to Chroma only", EXIT_BAD_INPUT)
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


async def _promote_chroma(
    target: StoreURL, ws: str, settle: float | None, grace: float | None, lease: float | None
) -> int:
    """The Chroma branch: ``sentinel_vectors_chroma.promote_workspace`` on a sync client."""
    import chromadb

    from sentinel_vectors_chroma.promotion import promote_workspace

    if target.mode == "local":
        client: Any = chromadb.PersistentClient(path=target.path)
    else:
        client = chromadb.HttpClient(
            host=target.host, port=target.port or 8000, ssl=target.mode == "https"
        )
    waits: dict[str, Any] = {"settle": settle, "grace": grace, "lease": lease}
    return await promote_workspace(
        client, target.collection, ws, **{k: v for k, v in waits.items() if v is not None}
    )
