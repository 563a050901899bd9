"""``sentinel-vectors purge-workspace``: delete one workspace's records, with a receipt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.operations import PurgeResult, purge_workspace
from sentinel_vectors.operations.purge import utc_now
from sentinel_vectors_cli.connect import open_store
from sentinel_vectors_cli.output import (
    EXIT_BAD_INPUT,
    EXIT_FINDINGS,
    console,
    fail,
    parse_stores,
    run,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``purge-workspace`` to ``app``."""

    @app.command(
        "purge-workspace",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors purge-workspace chroma://localhost:8000/docs "
            "qdrant://qdrant:6333/docs --workspace 6f1c...e2 --yes --receipt offboard.json"
        ),
    )
    def purge(
        stores: Annotated[list[str], typer.Argument(help="Connection strings to purge.")],
        workspace: Annotated[
            str, typer.Option("--workspace", "-w", help="The workspace id (UUID).")
        ],
        yes: Annotated[bool, typer.Option("--yes", help="Required: confirm the deletion.")] = False,
        receipt: Annotated[
            Path | None,
            typer.Option(help="Receipt file (JSON). Default: purge-<workspace>-<time>.json."),
        ] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Ids per delete call.")] = 500,
    ) -> None:
        """Delete every record stamped with WORKSPACE from each store (customer offboarding).

        Idempotent: a second run deletes nothing. The receipt records, per store, the
        counts before and after (in total and in the workspace), the time, and a SHA-256
        digest of the deleted ids. Other workspaces' records are not touched.
        """
        ws = run_check(workspace)
        if not yes:
            fail("purge-workspace deletes data: pass --yes to confirm", EXIT_BAD_INPUT)
        targets = parse_stores(stores)
        started = utc_now()

        async def go() -> list[PurgeResult]:
            results = []
            for target in targets:
                store = await open_store(target)
                try:
                    results.append(await purge_workspace(store, ws, batch_size=batch_size))
                finally:
                    await store.aclose()
            return results

        results = run(go())
        document = {
            "command": "purge-workspace",
            "workspace_id": ws,
            "started_at": started,
            "finished_at": utc_now(),
            "stores": [
                {**r.as_json(), "connection": t.display}
                for r, t in zip(results, targets, strict=True)
            ],
        }
        path = receipt or Path(f"purge-{ws}-{started.replace(':', '')}.json")
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        table = Table("store", "before", "deleted", "after", "workspace left", "digest")
        for r in results:
            table.add_row(
                r.store,
                str(r.total_before),
                str(r.deleted),
                str(r.total_after),
                str(r.workspace_after),
                r.deleted_ids_digest[:19] + "...",
            )
        console.print(table)
        console.print(f"receipt: {path}")
        if not all(r.complete for r in results):
            fail("records of the workspace are still stored (written meanwhile?)", EXIT_FINDINGS)


def run_check(workspace: str) -> str:
    """The workspace id in canonical form, or exit 2."""
    try:
        return canonical_uuid(workspace, what="--workspace")
    except ValueError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
