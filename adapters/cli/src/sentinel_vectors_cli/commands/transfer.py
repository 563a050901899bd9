"""``export-workspace``, ``import-workspace`` and ``migrate``: move one workspace's records."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Annotated

import typer

from sentinel_vectors.operations import (
    ExportResult,
    ImportResult,
    MigrateResult,
    RawStore,
    StoredRecord,
    export_workspace,
    import_records,
    migrate_workspace,
    parse_export_line,
)
from sentinel_vectors_cli.commands.purge import run_check
from sentinel_vectors_cli.connect import StoreURL, open_store
from sentinel_vectors_cli.output import (
    EXIT_FINDINGS,
    console,
    emit_json,
    fail,
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

__all__ = ["register"]

WorkspaceOption = Annotated[str, typer.Option("--workspace", "-w", help="The workspace id.")]
BatchOption = Annotated[int, typer.Option(min=1, help="Records per batch.")]
CreateOption = Annotated[
    bool,
    typer.Option(
        "--create",
        help="Create a missing target (Chroma/Qdrant collection, pgvector chunk table with an "
        "HNSW index; distance from the connection string's ?distance=, default cosine).",
    ),
]


def _one(url: str) -> StoreURL:
    (target,) = parse_stores([url])
    return target


async def _first_dimension(store: RawStore, ws: str) -> int | None:
    async for batch in store.scan(workspace_id=ws, batch_size=1, embeddings=True):
        if batch and batch[0].embedding:
            return len(batch[0].embedding)
    return None


def register(app: typer.Typer) -> None:
    """Add ``export-workspace``, ``import-workspace`` and ``migrate`` to ``app``."""

    @app.command(
        "export-workspace",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors export-workspace chroma://localhost:8000/docs -w 6f1c...e2 "
            "-o ws.jsonl\n\n"
            "  sentinel-vectors export-workspace qdrant://q:6333/docs -w 6f1c...e2 "
            "--no-embeddings -o - | jq .id"
        ),
    )
    def export_cmd(
        store: Annotated[str, typer.Argument(help="Connection string to export from.")],
        workspace: WorkspaceOption,
        output: Annotated[
            str, typer.Option("--output", "-o", help="JSON lines file, '-' for stdout.")
        ] = "-",
        embeddings: Annotated[
            bool, typer.Option("--embeddings/--no-embeddings", help="Include the vectors.")
        ] = True,
        batch_size: BatchOption = 500,
    ) -> None:
        """Write one workspace's records as JSON lines: id, document, metadata (with the
        stamps) and, by default, the embedding."""
        ws = run_check(workspace)
        source = _one(store)

        async def go(out: IO[str]) -> ExportResult:
            raw = await open_store(source)
            try:
                return await export_workspace(
                    raw, ws, out, embeddings=embeddings, batch_size=batch_size
                )
            finally:
                await raw.aclose()

        if output == "-":
            result = run(go(sys.stdout))
        else:
            with Path(output).open("w", encoding="utf-8") as out:
                result = run(go(out))
        console.print(
            f"exported {result.records} record(s) of {ws} from {source.display} "
            f"(ids {result.ids_digest})"
        )

    @app.command(
        "import-workspace",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors import-workspace postgresql+asyncpg://app@db/app/chunks "
            "-w 6f1c...e2 -i ws.jsonl --create"
        ),
    )
    def import_cmd(
        store: Annotated[str, typer.Argument(help="Connection string to import into.")],
        workspace: WorkspaceOption,
        input_file: Annotated[
            Path, typer.Option("--input", "-i", help="JSON lines from export-workspace.")
        ],
        create: CreateOption = False,
        batch_size: BatchOption = 500,
        sentinel_url: SentinelUrlOption = None,
        service_name: SentinelNameOption = None,
        service_key: SentinelKeyOption = None,
        resource_type: ResourceTypeOption = "document",
    ) -> None:
        """Import an export of WORKSPACE; every line must be stamped with it.

        The whole file is checked before anything is written. With Sentinel settings,
        every resource must be registered in the workspace.
        """
        ws = run_check(workspace)
        target = _one(store)
        settings = SentinelSettings(sentinel_url, service_name, service_key, resource_type)
        if not input_file.exists():
            fail(f"{input_file} does not exist")

        async def go() -> ImportResult:
            records: list[StoredRecord] = []
            with input_file.open(encoding="utf-8") as lines:
                for n, line in enumerate(lines, 1):
                    if line.strip():
                        records.append(parse_export_line(line, n, ws, target.resource_key))
            dim = len(records[0].embedding or ()) if records and create else None
            raw = await open_store(target, create_dim=dim)
            try:
                async with directory(settings) as known:
                    with progress() as bar:
                        task = bar.add_task("import", total=len(records))
                        return await import_records(
                            raw,
                            records,
                            ws,
                            directory=known,
                            batch_size=batch_size,
                            progress=lambda n: bar.advance(task, n),
                        )
            finally:
                await raw.aclose()

        result = run(go())
        console.print(
            f"imported {result.written} record(s) into {target.display}; it holds "
            f"{result.target_count} of {ws}"
        )

    @app.command(
        "migrate",
        epilog=(
            "Examples:\n\n"
            "  sentinel-vectors migrate chroma://localhost:8000/docs "
            "postgresql+asyncpg://app@db/app/chunks -w 6f1c...e2 --create\n\n"
            "  sentinel-vectors migrate qdrant+local:///data/q/docs qdrant://q:6333/docs "
            "-w 6f1c...e2 --sample 50 --json"
        ),
    )
    def migrate_cmd(
        source_url: Annotated[str, typer.Argument(metavar="SOURCE", help="Copy from.")],
        target_url: Annotated[str, typer.Argument(metavar="TARGET", help="Copy to.")],
        workspace: WorkspaceOption,
        create: CreateOption = False,
        sample: Annotated[
            int, typer.Option(min=0, help="Records whose nearest ids are compared.")
        ] = 10,
        k: Annotated[int, typer.Option(min=1, help="Nearest ids per sampled query.")] = 5,
        batch_size: BatchOption = 500,
        json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
        sentinel_url: SentinelUrlOption = None,
        service_name: SentinelNameOption = None,
        service_key: SentinelKeyOption = None,
        resource_type: ResourceTypeOption = "document",
    ) -> None:
        """Copy one workspace from SOURCE to TARGET (any two backends) and verify it.

        Ids, documents, metadata, stamps and resources are kept; each record is stored
        under TARGET's namespaced id. Verified by the counts on both sides and by
        sampled records' embeddings finding the same record first on both sides (the
        agreement of the k nearest ids is reported); exit 1 if not.
        """
        ws = run_check(workspace)
        src, dst = _one(source_url), _one(target_url)
        settings = SentinelSettings(sentinel_url, service_name, service_key, resource_type)

        async def go() -> MigrateResult:
            source = await open_store(src)
            try:
                dim = await _first_dimension(source, ws) if create else None
                target = await open_store(dst, create_dim=dim)
                try:
                    async with directory(settings) as known:
                        with progress() as bar:
                            task = bar.add_task("migrate", total=await source.count(ws))
                            return await migrate_workspace(
                                source,
                                target,
                                ws,
                                directory=known,
                                batch_size=batch_size,
                                sample=sample,
                                k=k,
                                progress=lambda n: bar.advance(task, n),
                            )
                finally:
                    await target.aclose()
            finally:
                await source.aclose()

        result = run(go())
        if json_out:
            emit_json(result.as_json())
        console.print(
            f"{result.source}: {result.source_count} -> {result.target}: {result.target_count} "
            f"(copied {result.copied}, skipped {len(result.skipped)}); sampled records found "
            f"first on both sides: {result.found_first}/{result.sampled}, same {k} nearest "
            f"ids: {result.matched}/{result.sampled}"
        )
        if not result.verified:
            fail("the copy did not verify (see counts and mismatches)", EXIT_FINDINGS)
        console.print("[green]verified[/]")
