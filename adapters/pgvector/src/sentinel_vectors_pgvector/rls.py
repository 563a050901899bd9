"""Row-level security as a second fence, opt in.

:func:`enable_rls` returns the DDL that turns on RLS for a chunk table with one policy::

    workspace_id = NULLIF(current_setting('sentinel.workspace_id', true), '')::uuid

for every command (``USING`` and ``WITH CHECK``). The scoped store runs
``SELECT set_config('sentinel.workspace_id', :ws, true)`` (a ``SET LOCAL``, with a bound
parameter) at the start of every transaction it runs, so under a role the policy
applies to, a query that forgot its ``WHERE workspace_id = ...`` still sees only the
caller's workspace, and a transaction that never set the variable sees nothing.

Who is NOT subject to the policy: superusers and roles with ``BYPASSRLS`` always; the
table's owner too, unless ``force=True`` (``FORCE ROW LEVEL SECURITY``). So the
application must connect as a role that is none of those: create the table as a
migration role, and grant the application role ``SELECT, INSERT, UPDATE, DELETE``
(:func:`grant_app_role`).
"""

from __future__ import annotations

from sqlalchemy import TextClause, text

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors_pgvector.model import table_of

__all__ = ["POLICY_NAME", "WORKSPACE_SETTING", "disable_rls", "enable_rls", "grant_app_role"]

WORKSPACE_SETTING = "sentinel.workspace_id"
"""The transaction-local setting that carries the scope's workspace id."""

POLICY_NAME = "sentinel_workspace_isolation"
"""Name of the policy :func:`enable_rls` creates."""


def _quote(identifier: str) -> str:
    """A PostgreSQL quoted identifier (always quoted, so any name is safe)."""
    if "\x00" in identifier:
        raise InvalidInputError("identifiers may not contain NUL")
    return '"' + identifier.replace('"', '""') + '"'


def _table_name(model: object) -> str:
    table = table_of(model)
    name = _quote(table.name)
    return f"{_quote(table.schema)}.{name}" if table.schema else name


def _role(role: str) -> str:
    if not isinstance(role, str) or not role:
        raise InvalidInputError("role must be a non-empty role name")
    return "PUBLIC" if role.upper() == "PUBLIC" else _quote(role)


def enable_rls(model: object, *, role: str = "PUBLIC", force: bool = False) -> list[TextClause]:
    """DDL enabling RLS on a chunk table with the workspace policy for ``role``.

    Run the statements in a migration (or ``conn.execute`` each). ``role`` is the
    application's role (``PUBLIC`` by default: everyone the policy can apply to);
    ``force=True`` subjects the table owner as well.
    """
    table = _table_name(model)
    check = f"workspace_id = NULLIF(current_setting('{WORKSPACE_SETTING}', true), '')::uuid"
    statements = [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}",
        f"CREATE POLICY {POLICY_NAME} ON {table} AS PERMISSIVE FOR ALL TO {_role(role)} "
        f"USING ({check}) WITH CHECK ({check})",
    ]
    if force:
        statements.append(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    return [text(s) for s in statements]


def disable_rls(model: object) -> list[TextClause]:
    """DDL undoing :func:`enable_rls` (for a migration's downgrade)."""
    table = _table_name(model)
    return [
        text(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}"),
        text(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"),
        text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"),
    ]


def grant_app_role(model: object, role: str) -> list[TextClause]:
    """DDL granting the application role what the store needs on the table, no more."""
    return [text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {_table_name(model)} TO {_role(role)}")]
