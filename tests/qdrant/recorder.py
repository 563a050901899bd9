"""A recording stand-in for a Qdrant server's REST API: tests "at the level of the requests sent".

No Qdrant server runs in CI, and shard keys exist only on a server (local mode ignores
them, qdrant-edge has none). :class:`Recorder` is a small HTTP server in a thread that a
real ``QdrantClient(url=...)`` / ``AsyncQdrantClient(url=...)`` talks to: it records every
request (method, path, JSON body) and answers with minimal valid Qdrant responses, keeping
upserted points by id so that the scoped client's write workflows (probe, conditional
write, read-back) run to their end. It evaluates no filter beyond ``has_id`` and knows
nothing of shards: it proves what the scoped client *sends*, never what a server does with
it (that is ``QDRANT_URL``'s tests, ``tests/qdrant/test_placement_server.py``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Recorder", "Request"]

_OK = {"operation_id": 0, "status": "completed"}


def collection_info(sharding: str) -> dict[str, Any]:
    """A minimal valid ``GET /collections/{name}`` result: one unnamed 4-d cosine vector."""
    return {
        "status": "green",
        "optimizer_status": "ok",
        "segments_count": 1,
        "points_count": 0,
        "indexed_vectors_count": 0,
        "payload_schema": {},
        "config": {
            "params": {
                "vectors": {"size": 4, "distance": "Cosine"},
                "shard_number": 1,
                "sharding_method": sharding,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": True,
            },
            "hnsw_config": {
                "m": 0,
                "ef_construct": 100,
                "full_scan_threshold": 10000,
                "payload_m": 16,
            },
            "optimizer_config": {
                "deleted_threshold": 0.2,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 0,
                "indexing_threshold": 20000,
                "flush_interval_sec": 5,
            },
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
        },
    }


@dataclass(frozen=True)
class Request:
    """One recorded request."""

    method: str
    path: str
    body: Any

    @property
    def endpoint(self) -> str:
        """The path without ``/collections/<name>`` (``/points/scroll``, ...)."""
        return re.sub(r"^/collections/[^/]+", "", self.path) or "/"

    @property
    def on_points(self) -> bool:
        """Whether it reads or writes points (``/points...`` and ``/facet``)."""
        return self.endpoint.startswith("/points") or self.endpoint == "/facet"


@dataclass
class Recorder:
    """The server (see the module docstring). Use as a context manager."""

    sharding: str = "custom"
    requests: list[Request] = field(default_factory=list)
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    shards: dict[str, str] = field(default_factory=dict)
    """Shard key -> replica state, for the promotion's cluster calls."""
    answer_override: tuple[int, str] | None = None
    """An error (status, message) to answer every point request with."""
    polls_until_active: int = 2
    """How many ``GET .../cluster`` a Partial shard stays Partial after a replicate."""
    _pending: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Recorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size) if size else b""
                body = json.loads(raw) if raw else None
                status, result = recorder.answer(self.command, self.path.split("?")[0], body)
                if self.path == "/":  # the client's version check: not wrapped
                    out = json.dumps(result).encode()
                else:
                    out = json.dumps(
                        {"result": result, "status": "ok", "time": 0.0}
                        if status == 200
                        else {"status": {"error": result}, "time": 0.0}
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def clear(self) -> None:
        """Forget the recorded requests (the stored points stay)."""
        with self._lock:
            self.requests.clear()

    def point_requests(self) -> Iterator[Request]:
        """The recorded requests on points (every read and write)."""
        return (r for r in self.requests if r.on_points)

    # -- answers -------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """Record the request and answer it (status, result)."""
        req = Request(method, path, body)
        with self._lock:
            self.requests.append(req)
            if self.answer_override is not None and req.on_points:
                return self.answer_override
            return self._answer(req)

    def _answer(self, req: Request) -> tuple[int, Any]:
        ep, body, verb = req.endpoint, req.body or {}, req.method
        if req.path == "/":  # the client's version check
            return 200, {"title": "qdrant", "version": "1.20.0"}
        if ep == "/" and verb == "GET" and req.path != "/":
            return 200, collection_info(self.sharding)
        if ep == "/exists":
            return 200, {"exists": True}
        if ep in ("/index", "/shards") or (ep == "/" and verb == "PUT"):
            if ep == "/shards":
                self.shards[str(body["shard_key"])] = body.get("initial_state") or "Active"
            return 200, True if ep != "/index" else _OK
        if ep == "/cluster":
            return self._cluster(verb, body)
        if ep == "/points" and verb == "PUT":
            for p in body["points"]:
                self.points[str(p["id"])] = {
                    "id": p["id"],
                    "payload": p.get("payload") or {},
                    "vector": p.get("vector"),
                }
            return 200, _OK
        if ep == "/points" and verb == "POST":  # retrieve
            wanted = {str(i) for i in body["ids"]}
            return 200, [self._record(p) for k, p in self.points.items() if k in wanted]
        if ep == "/points/scroll":
            found = self._select(body.get("filter"))[: body.get("limit") or 10]
            return 200, {"points": [self._record(p) for p in found], "next_page_offset": None}
        if ep == "/points/query":
            found = self._select(body.get("filter"))[: body.get("limit") or 10]
            return 200, {"points": [self._scored(p) for p in found]}
        if ep == "/points/query/batch":
            return 200, [
                {"points": [self._scored(p) for p in self._select(s.get("filter"))]}
                for s in body["searches"]
            ]
        if ep == "/points/query/groups":
            return 200, {"groups": []}
        if ep == "/points/count":
            return 200, {"count": len(self._select(body.get("filter")))}
        if ep == "/facet":
            return 200, {"hits": []}
        if ep == "/points/delete":
            for p in self._select(body.get("filter"), ids=body.get("points")):
                self.points.pop(str(p["id"]), None)
            return 200, _OK
        if ep == "/points/batch":
            return 200, [_OK for _ in body["operations"]]
        if ep.startswith("/points"):  # payload and vector updates: recorded, nothing kept
            return 200, _OK
        return 404, f"the recorder does not answer {req.method} {req.path}"

    def _cluster(self, verb: str, body: Any) -> tuple[int, Any]:
        if verb == "POST":  # a cluster operation: a replicate completes after some polls
            op = body.get("replicate_points")
            if op is not None:
                self._pending[str(op["to_shard_key"])] = self.polls_until_active
            return 200, True
        for key, left in list(self._pending.items()):
            if left <= 0:
                self.shards[key] = "Active"
                del self._pending[key]
            else:
                self._pending[key] = left - 1
        local = [
            {"shard_id": i, "shard_key": key, "points_count": 0, "state": state}
            for i, (key, state) in enumerate(self.shards.items())
        ]
        return 200, {
            "peer_id": 1,
            "shard_count": len(local),
            "local_shards": local,
            "remote_shards": [],
            "shard_transfers": [],
        }

    def _select(self, flt: Any, ids: Any = None) -> list[dict[str, Any]]:
        wanted = {str(i) for i in ids} if ids is not None else _has_ids(flt)
        if wanted is None:
            return list(self.points.values())
        return [p for k, p in self.points.items() if k in wanted]

    @staticmethod
    def _record(p: dict[str, Any]) -> dict[str, Any]:
        return {"id": p["id"], "payload": p["payload"], "vector": None}

    @staticmethod
    def _scored(p: dict[str, Any]) -> dict[str, Any]:
        return {"id": p["id"], "version": 0, "score": 1.0, "payload": p["payload"]}


def _has_ids(flt: Any) -> set[str] | None:
    """The ids of the ``has_id`` conditions anywhere in a filter (``None``: none)."""
    found: set[str] | None = None
    stack = [flt]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "has_id" in node:
                ids = {str(i) for i in node["has_id"]}
                found = ids if found is None else found & ids
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
