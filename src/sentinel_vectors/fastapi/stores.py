"""Named stores configured at start-up, and the dependencies that scope them per request.

At start-up (in the lifespan) the app builds one :class:`VectorStores` with its
``PermissionClient`` and one :class:`~sentinel_vectors.binding.StoreBackend` per named
collection, and installs it on ``app.state``. Routes then ask for what they need by
name; the dependency builds it from the request's ``RequestAuth``::

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        permissions = PermissionClient(url, "docs-service", service_key)
        stores = VectorStores(permissions)
        stores.add("documents", ChromaBackend(collection, resource_type="document"))
        stores.install(app)
        yield
        await permissions.close()

    @app.get("/search")
    async def search(docs: ScopedCollection = Depends(scoped_store("documents"))):
        return await docs.query(query_embeddings=[...], n_results=5)

The request's ``RequestAuth`` comes from the SDK: by default from
``sentinel_auth.dependencies.get_request_auth_factory`` with the installed
``PermissionClient``; pass ``auth=`` to use your own dependency (``Sentinel.get_auth``).
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request
from sentinel_auth import PermissionClient, RequestAuth
from sentinel_auth.dependencies import get_current_user, get_request_auth_factory
from sentinel_auth.types import AuthenticatedUser
from starlette.datastructures import State

from sentinel_vectors import audit
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.binding import StoreBackend
from sentinel_vectors.index import ChunkIndex
from sentinel_vectors.lifecycle import ResourceLifecycle, SentinelRegistry

__all__ = [
    "STATE_ATTR",
    "VectorStores",
    "get_vector_stores",
    "request_auth",
    "resource_lifecycle",
    "scoped_index",
    "scoped_store",
]

STATE_ATTR: Final = "sentinel_vectors"
"""The ``app.state`` attribute :meth:`VectorStores.install` sets."""

_log = logging.getLogger("sentinel_vectors.fastapi")

_REQUESTED: set[str] = set()
"""Store names the dependency factories of this process were asked for (start-up check)."""

AuthDependency = Callable[..., Any]
"""A FastAPI dependency returning the request's auth context (``RequestAuth``)."""


class VectorStores:
    """The app's named stores, built once at start-up.

    Args:
        permissions: the app's ``sentinel_auth.PermissionClient`` (``Sentinel.permissions``
            if you use the ``Sentinel`` class). The default auth dependency builds each
            request's ``RequestAuth`` with it, and the resource lifecycle registers and
            deregisters resources through it.
        audit: where the audit events of the stores' calls go, as one setting:
            ``"logging"``, ``"jsonl:<path>"``, ``"otel"``, comma-separated, plus
            ``"fail-closed"`` (see :func:`sentinel_vectors.audit.parse_setting`), or an
            :class:`~sentinel_vectors.audit.Auditor`. ``None``: the process's auditor
            (logging by default). Either way every event carries the request id (the
            app's ``request.state.request_id``, else the ``X-Request-ID`` header, else a
            new one). Call :meth:`close` in the lifespan's shutdown to flush it.
    """

    def __init__(
        self,
        permissions: PermissionClient | None = None,
        *,
        audit: str | audit.Auditor | None = None,
    ) -> None:
        self.permissions = permissions
        self.auditor = _audit_setting(audit)
        self._backends: dict[str, StoreBackend[Any]] = {}

    def __repr__(self) -> str:
        return f"VectorStores({sorted(self._backends)})"

    def close(self) -> None:
        """Deliver the audit events still queued and close this app's auditor (if any)."""
        if self.auditor is not None:
            self.auditor.close()

    def bind(self, request: Request, auth: AuthContext) -> str:
        """Tie ``auth`` to this app's auditor and the request's id; returns the id."""
        return audit.bind_request(auth, self.auditor, request_id_of(request))

    def __contains__(self, name: object) -> bool:
        return name in self._backends

    def __iter__(self) -> Iterator[str]:
        return iter(self._backends)

    def add(self, name: str, backend: StoreBackend[Any]) -> None:
        """Register ``backend`` under ``name`` (once per name)."""
        if not isinstance(name, str) or not name:
            raise ValueError("a store name must be a non-empty string")
        if name in self._backends:
            raise ValueError(f"a store named {name!r} is already configured")
        if not isinstance(backend, StoreBackend):
            raise TypeError(
                f"{type(backend).__name__} is not a StoreBackend: it needs resource_type, "
                f"scoped(auth) and index(auth) (see sentinel_vectors.binding)"
            )
        self._backends[name] = backend

    def backend(self, name: str) -> StoreBackend[Any]:
        """The backend configured under ``name``."""
        try:
            return self._backends[name]
        except KeyError:
            known = ", ".join(sorted(self._backends)) or "none"
            raise LookupError(
                f"no vector store named {name!r} is configured (configured: {known}); "
                f"call VectorStores.add({name!r}, ...) at start-up"
            ) from None

    def scoped(self, name: str, auth: AuthContext) -> Any:
        """The backend's scoped wrapper of ``name`` for ``auth``."""
        return self.backend(name).scoped(auth)

    def index(self, name: str, auth: AuthContext) -> ChunkIndex:
        """The chunk index of ``name`` for ``auth``."""
        return self.backend(name).index(auth)

    def lifecycle(self, name: str, auth: AuthContext) -> ResourceLifecycle:
        """The resource lifecycle of ``name`` for ``auth`` (needs ``permissions``)."""
        if self.permissions is None:
            raise RuntimeError(
                "VectorStores(permissions=...) is required for the resource lifecycle: it "
                "registers and deregisters resources with the identity service"
            )
        index = self.index(name, auth)
        return ResourceLifecycle(index, SentinelRegistry(self.permissions, index.scope))

    def install(self, app: FastAPI) -> None:
        """Put these stores on ``app.state`` for the dependencies of this module.

        Refuses (``ValueError``) when no ``PermissionClient`` was given: every request
        would otherwise fail, and only at the first request.
        """
        if self.permissions is None:
            raise ValueError(
                "VectorStores.install() needs the app's PermissionClient: "
                "VectorStores(PermissionClient(base_url=..., service_name=..., "
                "service_key=...)), or VectorStores(sentinel.permissions) with the SDK's "
                "Sentinel class"
            )
        missing = sorted(_REQUESTED - set(self._backends))
        if missing:
            # Dependencies are declared at import time, before the lifespan runs; a name
            # no store answers to would fail every request that uses it.
            _log.warning(
                "dependencies ask for vector stores %s, but only %s are configured",
                missing,
                sorted(self._backends),
            )
        setattr(app.state, STATE_ATTR, self)

    async def check(self) -> list[str]:
        """Check each store at start-up, before the first request depends on it.

        Asks every backend that has a ``check()`` (the bundled ones do): a missing Chroma
        collection, Qdrant collection or pgvector table raises ``ValueError`` naming the
        store and what to create; a degraded store (a Qdrant collection without its
        ``workspace_id`` tenant index) is logged as a warning and returned. A store that
        cannot be reached raises ``StoreUnavailableError``. Call it in the lifespan::

            stores.install(app)
            await stores.check()
        """
        fatal: list[str] = []
        warnings: list[str] = []
        for name, backend in self._backends.items():
            check = getattr(backend, "check", None)
            if check is None:
                continue
            for problem in await check():
                (fatal if problem.fatal else warnings).append(f"store {name!r}: {problem.message}")
        for warning in warnings:
            _log.warning("%s", warning)
        if fatal:
            raise ValueError("vector stores not ready:\n- " + "\n- ".join(fatal))
        return warnings


_REQUEST_ID_HEADER = "x-request-id"


def request_id_of(request: Request) -> str:
    """The request's id for audit events.

    The app's own (``request.state.request_id``, set by a request-id middleware), else
    the ``X-Request-ID`` header when it is a short printable token, else a new UUID
    (kept on ``request.state.request_id`` so the app can log the same id).
    """
    state_id = getattr(request.state, "request_id", None)
    if isinstance(state_id, str) and state_id:
        return state_id
    given = request.headers.get(_REQUEST_ID_HEADER, "")
    if 0 < len(given) <= 128 and given.isprintable() and " " not in given:
        rid = given
    else:
        rid = uuid.uuid4().hex
    request.state.request_id = rid
    return rid


def _audit_setting(setting: str | audit.Auditor | None) -> audit.Auditor | None:
    return audit.parse_setting(setting)


def get_vector_stores(request: Request) -> VectorStores:
    """The :class:`VectorStores` installed on the request's app (a dependency, too)."""
    state: State = request.app.state
    stores = getattr(state, STATE_ATTR, None)
    if not isinstance(stores, VectorStores):
        raise RuntimeError(
            "no VectorStores installed on app.state: build one in the lifespan and call "
            "stores.install(app)"
        )
    return stores


def request_auth(
    request: Request, user: Annotated[AuthenticatedUser, Depends(get_current_user)]
) -> RequestAuth:
    """The request's ``RequestAuth``, built by the SDK's ``get_request_auth_factory``.

    Uses the ``PermissionClient`` of the installed :class:`VectorStores`. Depend on this
    in a route to get the same object the store dependencies use (FastAPI builds it once
    per request, so ``accessible()`` answers are shared).
    """
    stores = get_vector_stores(request)
    if stores.permissions is None:
        raise RuntimeError("VectorStores(permissions=...) is required to build RequestAuth")
    factory = get_request_auth_factory(permissions=stores.permissions)
    auth: RequestAuth = factory(request, user)
    return auth


def _check_auth_dependency(auth: AuthDependency) -> None:
    """Refuse, when the dependency is declared, an SDK auth factory built without a client.

    ``get_request_auth_factory()`` with no ``permissions`` builds ``RequestAuth`` objects
    that cannot ask ``accessible()``; every request would fail. The SDK keeps the client
    in the factory's closure, which is where this looks (anything else passes: the scoped
    store still refuses such a ``RequestAuth`` per request, as ``MissingAuthError``).
    """
    code = getattr(auth, "__code__", None)
    cells = getattr(auth, "__closure__", None) or ()
    if code is None or "permissions" not in code.co_freevars:
        return
    value = cells[code.co_freevars.index("permissions")].cell_contents
    if value is None:
        raise ValueError(
            "this auth dependency builds RequestAuth without a PermissionClient: use "
            "get_request_auth_factory(permissions=PermissionClient(...)), Sentinel(...).get_auth, "
            "or the default (sentinel_vectors.fastapi.request_auth with VectorStores(permissions))"
        )


def scoped_store(name: str, *, auth: AuthDependency = request_auth) -> Callable[..., Any]:
    """Dependency: the backend's scoped wrapper named ``name``, for this request.

    ``docs: ScopedCollection = Depends(scoped_store("documents"))``. ``auth`` is the
    dependency that yields the request's ``RequestAuth`` (default :func:`request_auth`;
    or ``Sentinel.get_auth``: read that property once and reuse the same callable, so
    FastAPI builds one ``RequestAuth`` per request).
    """
    return _per_request(name, auth, "scoped_store", lambda stores, n, ctx: stores.scoped(n, ctx))


def _per_request[T](
    name: str,
    auth: AuthDependency,
    kind: str,
    build: Callable[[VectorStores, str, AuthContext], T],
) -> Callable[..., T]:
    """The dependency of :func:`scoped_store`, :func:`scoped_index` and
    :func:`resource_lifecycle`: ``build(stores, name, ctx)`` for the request's auth, once
    the stores are bound to the request (``build`` calls the method on the instance, so
    a ``VectorStores`` subclass's override applies)."""
    _check_auth_dependency(auth)
    _REQUESTED.add(name)

    def dependency(request: Request, ctx: Annotated[AuthContext, Depends(auth)]) -> T:
        stores = get_vector_stores(request)
        stores.bind(request, ctx)
        return build(stores, name, ctx)

    dependency.__name__ = f"{kind}_{name}"
    return dependency


def scoped_index(name: str, *, auth: AuthDependency = request_auth) -> Callable[..., ChunkIndex]:
    """Dependency: the backend-neutral :class:`~sentinel_vectors.index.ChunkIndex` of ``name``."""
    return _per_request(name, auth, "scoped_index", lambda stores, n, ctx: stores.index(n, ctx))


def from_scoped_index[T](
    name: str, build: Callable[[ChunkIndex], T], *, auth: AuthDependency, kind: str
) -> Callable[..., Awaitable[T]]:
    """Dependency: ``build(index)`` over the request's :func:`scoped_index` of ``name``.

    What the RAG plug-ins' ``scoped_retriever`` dependencies share (``build`` makes the
    framework's retriever); the dependency is named ``f"{kind}_{name}"``.
    """
    index_dependency = scoped_index(name, auth=auth)

    async def dependency(index: Annotated[ChunkIndex, Depends(index_dependency)]) -> T:
        return build(index)

    dependency.__name__ = f"{kind}_{name}"
    return dependency


def resource_lifecycle(
    name: str, *, auth: AuthDependency = request_auth
) -> Callable[..., ResourceLifecycle]:
    """Dependency: the :class:`~sentinel_vectors.lifecycle.ResourceLifecycle` of ``name``."""
    return _per_request(
        name, auth, "resource_lifecycle", lambda stores, n, ctx: stores.lifecycle(n, ctx)
    )
