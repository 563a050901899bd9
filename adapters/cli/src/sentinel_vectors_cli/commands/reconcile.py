"""``sentinel-vectors reconcile``: orphans, and registered resources without chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentinel_vectors.operations.directory import ResourceDirectory
from sentinel_vectors.operations.reconcile import ReconcileReport, reconcile
from sentinel_vectors_cli.connect import open_store
from sentinel_vectors_cli.output import (
    EXIT_BAD_INPUT,
    EXIT_FINDINGS,
    console,
    emit_json,
    fail,
    mapped_errors,
    parse_stores,
    run,
)
from sentinel_vectors_cli.settings import (
    ResourceTypeOption,
    SentinelKeyOption,
    SentinelNameOption,
    SentinelSettings,
    SentinelUrlOption,
    directory,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``reconcile`` to ``app``."""

    @app.command(
        "reconcile",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors reconcile chroma://localhost:8000/docs\n\n"
            "  psql -Atc 'select id from documents' > ids.txt; sentinel-vectors reconcile "
            "qdrant://q:6333/docs --expected ids.txt\n\n"
            "  sentinel-vectors reconcile postgresql+asyncpg://app@db/app/chunks "
            "--purge-orphans --yes"
        ),
    )
    def reconcile_cmd(
        store: Annotated[str, typer.Argument(help="Connection string.")],
        expected: Annotated[
            Path | None,
            typer.Option(
                help="Resource ids your service knows, one per line: those registered in "
                "Sentinel without any chunk are listed (Sentinel cannot list them itself)."
            ),
        ] = None,
        purge_orphans: Annotated[
            bool, typer.Option("--purge-orphans", help="Delete the orphans (asks first).")
        ] = False,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
        sentinel_url: SentinelUrlOption = None,
        service_name: SentinelNameOption = None,
        service_key: SentinelKeyOption = None,
        resource_type: ResourceTypeOption = "document",
    ) -> None:
        """Find chunks whose resource Sentinel no longer knows (orphans) and, with
        --expected, registered resources without chunks; exit 1 if any remain."""
        (target,) = parse_stores([store])
        settings = SentinelSettings(sentinel_url, service_name, service_key, resource_type)
        with mapped_errors():
            settings.require("reconcile")
            ids = None
            if expected is not None:
                if not expected.exists():
                    fail(f"{expected} does not exist", EXIT_BAD_INPUT)
                ids = [x.strip() for x in expected.read_text().splitlines() if x.strip()]

        async def find(purge: bool) -> ReconcileReport:
            raw = await open_store(target)
            try:
                async with directory(settings) as known:
                    assert isinstance(known, ResourceDirectory)
                    return await reconcile(raw, known, expected=ids, purge=purge)
            finally:
                await raw.aclose()

        report = run(find(False))
        if purge_orphans and report.orphan_keys:
            if not yes and not typer.confirm(
                f"Delete {len(report.orphan_keys)} orphan chunk(s) of "
                f"{len(report.orphans)} resource(s) from {target.display}?",
                err=True,
            ):
                fail("nothing was deleted", EXIT_BAD_INPUT)
            report = run(find(True))
        if json_out:
            emit_json(report.as_json())
        console.print(
            f"{report.store}: {report.records} record(s), {len(report.orphan_keys)} orphan "
            f"chunk(s) of {len(report.orphans)} resource(s), {report.purged} purged; "
            f"{len(report.registered_without_chunks)} registered resource(s) without chunks; "
            f"{report.unstamped} unstamped (see backfill)"
        )
        for name, count in list(report.orphans.items())[:20]:
            console.print(f"  orphan {name}: {count} chunk(s)")
        for rid in report.registered_without_chunks[:20]:
            console.print(f"  registered without chunks: {rid}")
        if not report.clean:
            raise typer.Exit(EXIT_FINDINGS)
