"""Operations on tenant data, outside any request: the typed API under the command line.

``sentinel-vectors`` (the ``sentinel-vectors-cli`` distribution) is a thin layer over
these functions; call them yourself from a migration script or a job:

- :func:`check_store`: configuration and data problems (:class:`CheckReport`);
- :func:`purge_workspace`: delete one workspace's records, with a receipt
  (:class:`PurgeResult`);
- :func:`export_workspace` / :func:`import_records` / :func:`migrate_workspace`:
  move one workspace's records between stores, keeping ids, stamps and resources;
- :func:`backfill`: stamp legacy records (checkpointed, verified before any original is
  removed);
- :func:`reconcile`: chunks whose resource the identity service no longer knows.

Each store is reached through :class:`RawStore`, the small unscoped protocol each
adapter implements (``sentinel_vectors_chroma.rawstore.ChromaRawStore``, ...); the
core imports no adapter.
"""

from sentinel_vectors.operations.check import CheckReport, check_store
from sentinel_vectors.operations.directory import ResourceDirectory
from sentinel_vectors.operations.purge import PurgeResult, ids_digest, purge_workspace
from sentinel_vectors.operations.stamps import Stamp, read_stamp
from sentinel_vectors.operations.store import Finding, RawStore, RecordId, StoredRecord
from sentinel_vectors.operations.transfer import (
    ExportResult,
    ImportResult,
    MigrateResult,
    export_workspace,
    import_records,
    migrate_workspace,
    parse_export_line,
)

__all__ = [
    "CheckReport",
    "ExportResult",
    "Finding",
    "ImportResult",
    "MigrateResult",
    "PurgeResult",
    "RawStore",
    "RecordId",
    "ResourceDirectory",
    "Stamp",
    "StoredRecord",
    "check_store",
    "export_workspace",
    "ids_digest",
    "import_records",
    "migrate_workspace",
    "parse_export_line",
    "purge_workspace",
    "read_stamp",
]
