"""The integration guide's "Complete Example" with semantic search, done with sentinel-vectors.

Same skeleton as the guide: a lifespan that opens the ``PermissionClient``, the SDK's
``JWTAuthMiddleware`` with the identity service's RS256 public key, and routes that use
the request's ``RequestAuth``. What the guide did by hand (Step 7: stamp
``workspace_id``/``owner_id`` into metadata, remember the filter on every query,
register after writing) is done by the suite:

- ``POST /documents``: chunk, embed, then ``index_resource`` registers the document
  with the identity service and writes its stamped chunks (or neither);
- ``GET /documents/search?q=``: only chunks of documents the caller may view;
- ``DELETE /documents/{id}``: owner or workspace admin; chunks first, then deregister;
  404 alike for an unknown id, another workspace's document and one the caller cannot see;
- ``POST /documents/{id}/share``: through the SDK (the identity service checks that the
  caller owns the document or is a workspace admin), via ``sentinel_vectors.identity``
  so a second share to the same grantee is a 409 ("unshare first"), a grantee outside
  the workspace a 400 and a rate limit a 429, not "identity service unavailable".

Run it with ``python -m examples.fastapi_service`` (see ``README.md``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Response
from pydantic import BaseModel, Field
from sentinel_auth import RequestAuth
from sentinel_auth.middleware import JWTAuthMiddleware
from sentinel_auth.permissions import PermissionClient

from examples.fastapi_service.settings import Settings
from examples.fastapi_service.stores import open_backend
from examples.fastapi_service.text import chunk_text
from sentinel_vectors import identity
from sentinel_vectors.embedders import HashingEmbedder
from sentinel_vectors.fastapi import (
    VectorStores,
    add_exception_handlers,
    request_auth,
    resource_lifecycle,
    scoped_index,
)
from sentinel_vectors.index import Chunk, ChunkIndex
from sentinel_vectors.lifecycle import ResourceLifecycle

# --- Dependencies: the request's auth context, its scoped index and lifecycle ---

Auth = Annotated[RequestAuth, Depends(request_auth)]
Documents = Annotated[ResourceLifecycle, Depends(resource_lifecycle("documents"))]
Index = Annotated[ChunkIndex, Depends(scoped_index("documents"))]


class CreateDocument(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=200_000)
    visibility: Literal["private", "workspace"] = "workspace"


class ShareDocument(BaseModel):
    grantee_type: Literal["user", "group"]
    grantee_id: uuid.UUID
    permission: Literal["view", "edit"] = "view"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service (``uvicorn --factory examples.fastapi_service.app:create_app``)."""
    settings = settings or Settings.from_env()
    embedder = HashingEmbedder(settings.embedding_dimension)

    # --- Lifespan ---

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.permissions = PermissionClient(
            base_url=settings.identity_service_url,
            service_name=settings.service_name,
            service_key=settings.identity_service_key,
        )
        async with open_backend(settings) as backend:
            stores = VectorStores(app.state.permissions)
            stores.add("documents", backend)
            stores.install(app)
            await stores.check()  # refuse to start without the collection / table
            yield
        await app.state.permissions.close()

    # --- App ---

    app = FastAPI(title="Docs Service", lifespan=lifespan)
    app.add_middleware(
        JWTAuthMiddleware,
        public_key=settings.public_key,
        exclude_paths=["/health", "/docs", "/openapi.json"],
        allowed_workspaces=(
            None if settings.allowed_workspaces is None else set(settings.allowed_workspaces)
        ),
    )
    add_exception_handlers(app)

    # --- Routes ---

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/documents", status_code=201)
    async def create_document(body: CreateDocument, documents: Documents) -> dict[str, Any]:
        doc_id = uuid.uuid4()
        texts = chunk_text(f"{body.title}\n{body.content}")
        vectors = embedder.embed_documents(texts)
        chunks = [Chunk(t, v, {"title": body.title}) for t, v in zip(texts, vectors, strict=True)]
        result = await documents.index_resource(doc_id, chunks, visibility=body.visibility)
        return {
            "id": result.resource_id,
            "chunks": result.chunks,
            "visibility": result.record.visibility,
        }

    @app.get("/documents/search")
    async def search_documents(
        q: Annotated[str, Query(min_length=1, max_length=1000)],
        index: Index,
        k: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        hits = await index.search(embedder.embed_query(q), k)
        return {
            "results": [
                {
                    "document_id": hit.resource_id,
                    "chunk_id": hit.id,
                    "title": hit.metadata.get("title"),
                    "text": hit.text,
                    "distance": hit.distance,
                }
                for hit in hits
            ]
        }

    @app.delete("/documents/{doc_id}", status_code=204)
    async def delete_document(doc_id: uuid.UUID, documents: Documents) -> Response:
        # Unknown, another workspace's, or hidden from the caller: ResourceNotFoundError,
        # one 404 for all (the exception handlers answer it).
        await documents.delete_resource(doc_id)
        return Response(status_code=204)

    @app.post("/documents/{doc_id}/share")
    async def share_document(doc_id: uuid.UUID, body: ShareDocument, auth: Auth) -> dict[str, str]:
        await identity.share(
            auth, "document", doc_id, body.grantee_type, body.grantee_id, body.permission
        )
        return {"status": "ok"}

    return app
