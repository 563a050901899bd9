"""Connection strings: every backend's forms parse; bad ones get a clear typed error."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.errors import ConnectionStringError
from sentinel_vectors_cli.connect import parse_store_url


def test_the_forms_parse() -> None:
    chroma = parse_store_url("chroma://localhost:8000/docs")
    assert (chroma.backend, chroma.host, chroma.port, chroma.collection) == (
        "chroma",
        "localhost",
        8000,
        "docs",
    )
    qdrant = parse_store_url("qdrant+local:///var/lib/q/docs?vector=dense")
    assert (qdrant.mode, qdrant.path, qdrant.collection) == ("local", "/var/lib/q", "docs")
    assert qdrant.options == {"vector": "dense"}
    pg = parse_store_url("postgresql+asyncpg://app:s3cret@db:5433/app/rag.chunks?resource_key=doc")
    assert (pg.backend, pg.schema, pg.collection, pg.resource_key) == (
        "pgvector",
        "rag",
        "chunks",
        "doc",
    )
    assert pg.database_url == "postgresql+asyncpg://app:s3cret@db:5433/app"
    assert "s3cret" not in pg.display


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:8000/docs", "no scheme"),
        ("mongodb://h/db", "unknown scheme"),
        ("chroma://localhost:8000", "/collection"),
        ("chroma://localhost:8000/a/b", "/collection"),
        ("chroma://localhost:port/docs", "Port could not be cast"),
        ("qdrant:///docs", "no host"),
        ("qdrant+local://docs", "local store"),
        ("postgresql+asyncpg://u:secret@h/db", "/database/table"),
        ("chroma://h:1/docs?colour=red", "unknown option"),
        ("postgresql://h/db/t?distance=hamming", "distance"),
    ],
)
def test_bad_connection_strings_get_a_clear_typed_error(url: str, why: str) -> None:
    with pytest.raises(ConnectionStringError, match=why) as caught:
        parse_store_url(url)
    assert isinstance(caught.value, InvalidInputError)
    assert "secret" not in str(caught.value)


def test_the_command_line_reports_a_bad_connection_string(cli: Any) -> None:
    result = cli("check", "mongodb://h/db")
    assert result.exit_code == 2
    assert "unknown scheme" in result.stderr


def test_a_missing_collection_is_a_clear_error(cli: Any, chroma_http: Any) -> None:
    result = cli("check", f"chroma://{chroma_http.host}:{chroma_http.port}/no-such-collection")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_every_command_has_help_with_examples(cli: Any) -> None:
    from sentinel_vectors_cli.app import app

    for command in app.registered_commands:
        result = cli(command.name or "", "--help")
        assert result.exit_code == 0
        assert "Examples" in result.stdout, command.name
