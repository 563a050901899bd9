"""The layering of docs/architecture.md holds at run time, not only for import-linter.

``make lint`` runs the import-linter contracts of ``pyproject.toml`` over the import
statements; this test imports every module of the core in a fresh interpreter where no
adapter distribution and no store client can be imported, as after
``pip install sentinel-vectors`` alone.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = (
    "sentinel_vectors_chroma",
    "sentinel_vectors_qdrant",
    "sentinel_vectors_pgvector",
    "sentinel_vectors_langchain",
    "sentinel_vectors_llamaindex",
    "chromadb",
    "qdrant_client",
    "sqlalchemy",
    "asyncpg",
    "pgvector",
    "psycopg",
)

_SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    BLOCKED = {blocked!r}

    class Absent(importlib.abc.MetaPathFinder):
        # Refuse every blocked distribution as if it were not installed.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Absent())
    import sentinel_vectors

    failed = []
    for info in pkgutil.walk_packages(sentinel_vectors.__path__, "sentinel_vectors."):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            failed.append(f"{{info.name}}: {{exc}}")
    print("\\n".join(failed))
    sys.exit(1 if failed else 0)
    """
)


def test_every_core_module_imports_without_any_adapter_or_store_client() -> None:
    script = _SCRIPT.format(blocked=BLOCKED)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (
        f"core modules that need an adapter or a store client:\n{done.stdout}{done.stderr}"
    )
