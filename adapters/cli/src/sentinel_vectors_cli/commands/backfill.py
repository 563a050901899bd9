"""``sentinel-vectors backfill``: stamp an existing, unscoped collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from sentinel_vectors.operations.backfill import BackfillResult, backfill
from sentinel_vectors.operations.errors import MappingError
from sentinel_vectors.operations.mapping import FieldMapping, FieldSource, Mapper, load_mapper
from sentinel_vectors_cli.connect import open_store
from sentinel_vectors_cli.output import (
    EXIT_FINDINGS,
    EXIT_UNAVAILABLE,
    console,
    emit_json,
    fail,
    mapped_errors,
    parse_stores,
    progress,
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

__all__ = ["build_mapper", "register"]


def _part(name: str, field: str | None, value: str | None) -> FieldSource:
    if (field is None) == (value is None):
        raise MappingError(
            f"give the {name} as --{name}-field FIELD or --{name}-id UUID (exactly one), or "
            f"use --mapping module:function"
        )
    return FieldSource(field=field, value=value)


def build_mapper(
    spec: str | None, fields: dict[str, tuple[str | None, str | None]]
) -> tuple[Mapper, str]:
    """The mapper and its description from ``--mapping`` or the field options."""
    if spec is not None:
        if any(f is not None or v is not None for f, v in fields.values()):
            raise MappingError("--mapping cannot be combined with the --*-field / --*-id options")
        return load_mapper(spec), f"function:{spec}"
    mapping = FieldMapping(*(_part(name, *fields[name]) for name in fields))
    return mapping, mapping.describe()


def _summary(result: BackfillResult) -> None:
    table = Table("", "count", show_header=False)
    rows = [
        ("records before (source)", result.source_before),
        ("records after (source)", result.source_after),
        *(
            [
                ("records before (target)", result.target_before),
                ("records after (target)", result.target_after),
            ]
            if result.source != result.target
            else []
        ),
        ("to do this run", result.todo),
        ("would stamp" if result.dry_run else "stamped (written, read back)", result.stamped),
        ("originals removed", result.removed_originals),
        ("resources registered", result.registered),
        ("left: not mappable", result.unmapped),
        ("left: resource unknown to Sentinel", result.unknown_resource),
        ("left: resource of another workspace", result.foreign_resource),
        ("left: id taken by another record", result.collisions),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    if result.resumed_after:
        console.print(f"resumed after {result.resumed_after!r}")


def register(app: typer.Typer) -> None:
    """Add ``backfill`` to ``app``."""

    @app.command(
        "backfill",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors backfill chroma://localhost:8000/docs --workspace-field tenant "
            "--owner-field author --resource-field doc_id --dry-run\n\n"
            "  sentinel-vectors backfill qdrant://q:6333/docs --mapping myapp.tenancy:stamp "
            "--register workspace --checkpoint backfill.json\n\n"
            "  sentinel-vectors backfill chroma://localhost:8000/legacy --into "
            "postgresql+asyncpg://app@db/app/chunks --workspace-id 6f1c...e2 "
            "--owner-field author --resource-field doc_id"
        ),
    )
    def backfill_cmd(
        store: Annotated[str, typer.Argument(help="The collection to stamp.")],
        into: Annotated[
            str | None,
            typer.Option(help="Write the stamped copies here instead (the source is kept)."),
        ] = None,
        mapping: Annotated[
            str | None,
            typer.Option(help="module:function returning a record's (workspace, owner, resource)."),
        ] = None,
        workspace_field: Annotated[str | None, typer.Option(help="Metadata field.")] = None,
        workspace_id: Annotated[str | None, typer.Option(help="One workspace for all.")] = None,
        owner_field: Annotated[str | None, typer.Option(help="Metadata field.")] = None,
        owner_id: Annotated[str | None, typer.Option(help="One owner for all.")] = None,
        resource_field: Annotated[str | None, typer.Option(help="Metadata field.")] = None,
        resource_id: Annotated[str | None, typer.Option(help="One resource for all.")] = None,
        register_as: Annotated[
            Literal["private", "workspace"] | None,
            typer.Option(
                "--register",
                help="Register unknown resources with Sentinel with this visibility.",
            ),
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Report; change nothing.")] = False,
        batch_size: Annotated[int, typer.Option(min=1, help="Records per batch.")] = 200,
        checkpoint: Annotated[
            Path | None, typer.Option(help="Checkpoint file: an interrupted run resumes from it.")
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
        sentinel_url: SentinelUrlOption = None,
        service_name: SentinelNameOption = None,
        service_key: SentinelKeyOption = None,
        resource_type: ResourceTypeOption = "document",
    ) -> None:
        """Stamp legacy records with workspace_id, owner_id and the resource id.

        Each stamped copy is written under its workspace's namespaced id and read back
        before the original is removed. Records that cannot be stamped (no mapping,
        resource unknown to Sentinel without --register, resource of another workspace,
        id taken) are left as they are, counted, and make the exit code 1. Needs Sentinel
        settings unless --dry-run.
        """
        with mapped_errors():
            mapper, description = build_mapper(
                mapping,
                {
                    "workspace": (workspace_field, workspace_id),
                    "owner": (owner_field, owner_id),
                    "resource": (resource_field, resource_id),
                },
            )
        source_url = parse_stores([store])[0]
        target_url = parse_stores([into])[0] if into is not None else None
        settings = SentinelSettings(sentinel_url, service_name, service_key, resource_type)
        if not dry_run:
            with mapped_errors():
                settings.require("backfill")

        async def go() -> BackfillResult:
            source = await open_store(source_url)
            target = await open_store(target_url) if target_url is not None else None
            try:
                async with directory(settings) as known:
                    with progress() as bar:
                        task = bar.add_task("backfill", total=None)
                        return await backfill(
                            source,
                            mapper,
                            mapping=description,
                            directory=known,
                            target=target,
                            register=register_as,
                            dry_run=dry_run,
                            batch_size=batch_size,
                            checkpoint=checkpoint,
                            on_start=lambda n: bar.update(task, total=n),
                            progress=lambda n: bar.advance(task, n),
                        )
            finally:
                await source.aclose()
                if target is not None:
                    await target.aclose()

        try:
            result = run(go())
        except typer.Exit:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            hint = f"; run the same command to resume from {checkpoint}" if checkpoint else ""
            fail(f"backfill stopped: {type(exc).__name__}: {exc}{hint}", EXIT_UNAVAILABLE)
        if json_out:
            emit_json(result.as_json())
        _summary(result)
        if result.left_behind:
            raise typer.Exit(EXIT_FINDINGS)
