"""Alembic revision: a chunk table for sentinel-vectors-pgvector, next to your documents.

Copy into your project's ``alembic/versions/`` and adjust the names, the dimension and
``down_revision``. Alembic is your project's dependency, not this package's.

It creates the table the ``ChunkMixin`` describes (primary key ``(workspace_id, id)``:
ids never collide across workspaces), the tenancy index, the HNSW index for the distance
your queries use, and, opt in, row-level security for the application role. Run it as the
migration role that owns the table; the application connects as ``docs_app``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from sentinel_vectors_pgvector import chunk_table, disable_rls, enable_rls, grant_app_role

revision = "0002_document_chunks"
down_revision = "0001_documents"
branch_labels = None
depends_on = None

TABLE = "document_chunks"
DIM = 384
APP_ROLE = "docs_app"  # LOGIN, NOSUPERUSER, NOBYPASSRLS, not the table owner


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        TABLE,
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
        sa.Column("embedding", Vector(DIM), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index(f"ix_{TABLE}_workspace_resource", TABLE, ["workspace_id", "resource_id"])
    # Build the HNSW index after a bulk backfill if you have one: it is much faster
    # than maintaining it row by row. The operator class must match query(distance=...).
    op.create_index(
        f"ix_{TABLE}_embedding_hnsw_cosine",
        TABLE,
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    # Optional: GIN index for metadata equality filters (compiled to `metadata @> ...`).
    op.create_index(
        f"ix_{TABLE}_metadata_gin",
        TABLE,
        ["metadata"],
        postgresql_using="gin",
        postgresql_ops={"metadata": "jsonb_path_ops"},
    )
    # Opt-in second fence: row-level security for the application role.
    table = chunk_table(TABLE, sa.MetaData(), dim=DIM)
    for statement in [*grant_app_role(table, APP_ROLE), *enable_rls(table, role=APP_ROLE)]:
        op.execute(statement)


def downgrade() -> None:
    table = chunk_table(TABLE, sa.MetaData(), dim=DIM)
    for statement in disable_rls(table):
        op.execute(statement)
    op.drop_table(TABLE)
