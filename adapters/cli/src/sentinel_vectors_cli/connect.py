"""Connection strings: which store a command works on, and opening it.

=================================================  =========================================
``chroma://host:port/collection``                   a Chroma server (``chromas://`` for TLS)
``chroma+local:///path/to/dir/collection``          a Chroma ``PersistentClient`` directory
``qdrant://host:port/collection``                   a Qdrant server (``qdrants://`` for TLS;
                                                    the API key from ``QDRANT_API_KEY``)
``qdrant+local:///path/to/dir/collection``          Qdrant local mode (embedded, on disk)
``postgresql+asyncpg://user:pw@host:port/db/table``  a pgvector chunk table (``db/schema.table``)
=================================================  =========================================

Options as query parameters: ``resource_key`` (every backend), ``vector`` (Qdrant's named
vector), ``distance`` (pgvector: the ``nearest`` order; a new Chroma/Qdrant collection's
distance). Passwords never appear in output (:func:`redact`).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from sentinel_vectors.operations.errors import ConnectionStringError
from sentinel_vectors.operations.store import RawStore

__all__ = ["StoreURL", "open_store", "parse_store_url", "redact"]

Backend = Literal["chroma", "qdrant", "pgvector"]

_SCHEMES: dict[str, tuple[Backend, str]] = {
    "chroma": ("chroma", "http"),
    "chromas": ("chroma", "https"),
    "chroma+local": ("chroma", "local"),
    "qdrant": ("qdrant", "http"),
    "qdrants": ("qdrant", "https"),
    "qdrant+local": ("qdrant", "local"),
    "postgresql": ("pgvector", "sql"),
    "postgresql+asyncpg": ("pgvector", "sql"),
    "postgres": ("pgvector", "sql"),
}
_OPTIONS = {"resource_key", "vector", "distance"}
_DISTANCES = {"cosine", "l2", "ip", "l1"}


def redact(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class StoreURL:
    """A parsed connection string (see the module docstring)."""

    raw: str
    backend: Backend
    mode: str
    host: str = ""
    port: int | None = None
    path: str = ""
    collection: str = ""
    database_url: str = ""
    schema: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def resource_key(self) -> str:
        """The resource key option (``resource_id``)."""
        return self.options.get("resource_key", "resource_id")

    @property
    def display(self) -> str:
        """The connection string without its password."""
        return redact(self.raw)


def _fail(url: str, why: str) -> ConnectionStringError:
    return ConnectionStringError(
        f"bad connection string {redact(url)!r}: {why}. Expected e.g. "
        f"chroma://localhost:8000/docs, qdrant://localhost:6333/docs, "
        f"qdrant+local:///var/qdrant/docs or postgresql+asyncpg://user:pw@host/db/chunks"
    )


def parse_store_url(url: str) -> StoreURL:
    """Parse ``url``; :class:`ConnectionStringError` says what is wrong with it."""
    if not isinstance(url, str) or "://" not in url:
        raise _fail(str(url), "no scheme")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _fail(url, str(exc)) from exc
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise _fail(url, f"unknown scheme {scheme!r} (known: {', '.join(sorted(_SCHEMES))})")
    backend, mode = _SCHEMES[scheme]
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(options) - _OPTIONS
    if unknown:
        raise _fail(url, f"unknown option(s) {sorted(unknown)} (known: {sorted(_OPTIONS)})")
    if "distance" in options and options["distance"] not in _DISTANCES:
        raise _fail(url, f"distance must be one of {sorted(_DISTANCES)}")
    if options.get("resource_key") == "":
        raise _fail(url, "resource_key is empty")
    segments = [s for s in parts.path.split("/") if s]
    if mode == "local":
        if parts.netloc or len(segments) < 2:
            raise _fail(url, "a local store is <scheme>:///path/to/dir/collection")
        return StoreURL(
            url,
            backend,
            mode,
            path="/" + "/".join(segments[:-1]),
            collection=segments[-1],
            options=options,
        )
    if not parts.hostname:
        raise _fail(url, "no host")
    if mode == "sql":
        if len(segments) != 2:
            raise _fail(url, "the path must be /database/table (or /database/schema.table)")
        database, table = segments
        schema, _, name = table.rpartition(".")
        db_parts = parts._replace(
            scheme="postgresql+asyncpg", path=f"/{database}", query="", fragment=""
        )
        return StoreURL(
            url,
            backend,
            mode,
            host=parts.hostname,
            port=port,
            collection=name,
            database_url=urlunsplit(db_parts),
            schema=schema or None,
            options=options,
        )
    if len(segments) != 1:
        raise _fail(url, "the path must be /collection")
    return StoreURL(
        url,
        backend,
        mode,
        host=parts.hostname,
        port=port,
        collection=segments[0],
        options=options,
    )


async def open_store(target: StoreURL, *, create_dim: int | None = None) -> RawStore:
    """Open the store ``target`` names; with ``create_dim``, create a missing collection.

    The adapter is imported here, so only the adapters a command uses must be installed.
    """
    try:
        if target.backend == "chroma":
            return await _open_chroma(target, create_dim)
        if target.backend == "qdrant":
            return await _open_qdrant(target, create_dim)
        return await _open_pgvector(target, create_dim)
    except ImportError as exc:
        raise ConnectionStringError(
            f"{target.backend} needs its adapter: "
            f"pip install 'sentinel-vectors-cli[{target.backend}]' ({exc})"
        ) from exc


async def _open_chroma(target: StoreURL, create_dim: int | None) -> RawStore:
    import chromadb

    from sentinel_vectors_chroma.rawstore import ChromaRawStore

    def connect() -> Any:
        if target.mode == "local":
            client: Any = chromadb.PersistentClient(path=target.path)
        else:
            client = chromadb.HttpClient(
                host=target.host, port=target.port or 8000, ssl=target.mode == "https"
            )
        if create_dim is not None:
            space = target.options.get("distance", "cosine")
            if space == "l1":
                raise ConnectionStringError("Chroma has no l1 distance")
            return client.get_or_create_collection(
                target.collection,
                embedding_function=None,
                configuration={"hnsw": {"space": space}},
            )
        try:
            return client.get_collection(target.collection)
        except Exception as exc:
            if "does not exist" in str(exc) or "NotFound" in type(exc).__name__:
                raise ConnectionStringError(
                    f"Chroma collection {target.collection!r} does not exist at {target.display}"
                ) from exc
            raise

    collection = await asyncio.to_thread(connect)
    return ChromaRawStore(collection, resource_key=target.resource_key)


async def _open_qdrant(target: StoreURL, create_dim: int | None) -> RawStore:
    from qdrant_client import AsyncQdrantClient, models

    from sentinel_vectors_qdrant import ensure_collection
    from sentinel_vectors_qdrant.rawstore import QdrantRawStore

    if target.mode == "local":
        await asyncio.to_thread(Path(target.path).mkdir, parents=True, exist_ok=True)
        client = AsyncQdrantClient(path=target.path)
    else:
        client = AsyncQdrantClient(
            host=target.host,
            port=target.port or 6333,
            https=target.mode == "https",
            api_key=os.environ.get("QDRANT_API_KEY") or None,
        )
    name = target.collection
    vector = target.options.get("vector")
    if not await client.collection_exists(name):
        if create_dim is None:
            await client.close()
            raise ConnectionStringError(
                f"Qdrant collection {name!r} does not exist at {target.display}"
            )
        distance = {
            "cosine": models.Distance.COSINE,
            "l2": models.Distance.EUCLID,
            "ip": models.Distance.DOT,
            "l1": models.Distance.MANHATTAN,
        }[target.options.get("distance", "cosine")]
        params = models.VectorParams(size=create_dim, distance=distance)
        await ensure_collection(
            client,
            name,
            {vector: params} if vector else params,
            resource_key=target.resource_key,
        )
    return QdrantRawStore(client, name, resource_key=target.resource_key, vector_name=vector)


async def _open_pgvector(target: StoreURL, create_dim: int | None) -> RawStore:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import create_async_engine

    from sentinel_vectors.errors import InvalidInputError
    from sentinel_vectors_pgvector import chunk_table, hnsw_index
    from sentinel_vectors_pgvector.rawstore import PgvectorRawStore, reflect_chunk_table

    engine = create_async_engine(target.database_url)
    distance = target.options.get("distance", "cosine")
    try:
        table = await reflect_chunk_table(
            engine, target.collection, schema=target.schema, resource_key=target.resource_key
        )
    except InvalidInputError as exc:
        if create_dim is None or "does not exist" not in str(exc):
            await engine.dispose()
            raise ConnectionStringError(f"{target.display}: {exc}") from exc
        table = chunk_table(
            target.collection,
            MetaData(),
            dim=create_dim,
            resource_key=target.resource_key,
            schema=target.schema,
        )
        hnsw_index(table, distance)  # type: ignore[arg-type]
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
    return PgvectorRawStore(
        engine, table, resource_key=target.resource_key, distance=distance, dispose=True
    )
