"""``sentinel-vectors check``: configuration and data problems, as a deploy gate."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from sentinel_vectors.operations import CheckReport, check_store
from sentinel_vectors_cli.connect import open_store
from sentinel_vectors_cli.output import EXIT_FINDINGS, console, emit_json, parse_stores, run
from sentinel_vectors_cli.settings import (
    ResourceTypeOption,
    SentinelKeyOption,
    SentinelNameOption,
    SentinelSettings,
    SentinelUrlOption,
    directory,
)

__all__ = ["register"]

_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def _show(report: CheckReport) -> None:
    verdict = "[green]ok[/]" if report.ok else "[bold red]problems[/]"
    console.print(f"[bold]{report.store}[/]: {report.records} record(s), {verdict}")
    if not report.findings:
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("severity")
    table.add_column("code")
    table.add_column("count", justify="right")
    table.add_column("finding")
    for f in report.findings:
        detail = f.message + (f"\n[dim]e.g. {', '.join(f.examples)}[/]" if f.examples else "")
        table.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.code, str(f.count or ""), detail)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``check`` to ``app``."""

    @app.command(
        "check",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors check chroma://localhost:8000/docs\n\n"
            "  sentinel-vectors check qdrant://qdrant:6333/docs "
            "postgresql+asyncpg://app@db/app/chunks --json --strict\n\n"
            "  SENTINEL_URL=http://sentinel:9003 SENTINEL_SERVICE_NAME=docs "
            "SENTINEL_SERVICE_KEY=... sentinel-vectors check chroma://localhost:8000/docs"
        ),
    )
    def check(
        stores: Annotated[list[str], typer.Argument(help="Connection strings to check.")],
        json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
        strict: Annotated[
            bool, typer.Option("--strict", help="Warnings fail too (e.g. pgvector RLS off).")
        ] = False,
        sentinel_url: SentinelUrlOption = None,
        service_name: SentinelNameOption = None,
        service_key: SentinelKeyOption = None,
        resource_type: ResourceTypeOption = "document",
    ) -> None:
        """Check each store's configuration and data; exit 1 if anything is wrong.

        Configuration: Qdrant's tenant payload indexes (is_tenant) and per-tenant HNSW
        graph (payload_m); pgvector's column types, primary key, HNSW index and
        row-level security (enabled and forced); Chroma's distance and embedding
        function. Data: records without a stamp, malformed stamps, ids outside their
        workspace's namespace and, with Sentinel settings, chunks of resources Sentinel
        does not know in their workspace.
        """
        settings = SentinelSettings(sentinel_url, service_name, service_key, resource_type)
        targets = parse_stores(stores)

        async def go() -> list[CheckReport]:
            reports = []
            async with directory(settings) as known:
                for target in targets:
                    store = await open_store(target)
                    try:
                        reports.append(await check_store(store, directory=known))
                    finally:
                        await store.aclose()
            return reports

        reports = run(go())
        if json_out:
            emit_json(
                {
                    "ok": all(r.passed(strict=strict) for r in reports),
                    "stores": [r.as_json() for r in reports],
                }
            )
        else:
            for report in reports:
                _show(report)
        if not all(r.passed(strict=strict) for r in reports):
            raise typer.Exit(EXIT_FINDINGS)
