"""The README's one command, ``python -m examples.fastapi_service``, really serves.

Development mode: the process starts its own emulator, mints demo users and serves on
``PORT``; ``DEMO_TOKENS_FILE`` hands the tokens to this test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_python_m_examples_fastapi_service_serves_the_routes(tmp_path: Path) -> None:
    port = _free_port()
    tokens_file = tmp_path / "tokens.json"
    env = {
        **os.environ,
        "PORT": str(port),
        "DEMO_TOKENS_FILE": str(tokens_file),
        "LOG_LEVEL": "info",
        "EMULATOR_ACCESS_LOG": str(tmp_path / "emulator-access.log"),
        "VECTOR_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("IDENTITY_SERVICE_URL", None)
    log = (tmp_path / "service.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.fastapi_service"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "service.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not come up in 60 s"
            time.sleep(0.2)
        demo = json.loads(tokens_file.read_text())

        def auth(name: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {demo[name]['token']}"}

        with httpx.Client(base_url=base, timeout=30) as http:
            private = http.post(
                "/documents",
                json={"title": "Q3", "content": "quarterly plan", "visibility": "private"},
                headers=auth("alice"),
            )
            assert private.status_code == 201, private.text
            public = http.post(
                "/documents",
                json={"title": "Handbook", "content": "quarterly holidays"},
                headers=auth("alice"),
            )
            assert public.status_code == 201, public.text

            def found(name: str) -> set[str]:
                r = http.get("/documents/search", params={"q": "quarterly"}, headers=auth(name))
                assert r.status_code == 200, r.text
                return {hit["document_id"] for hit in r.json()["results"]}

            ids = private.json()["id"], public.json()["id"]
            assert found("bob") == {ids[1]}
            assert found("carol") == set(ids)
            assert found("dave") == set()
            r = http.post(
                f"/documents/{ids[0]}/share",
                json={"grantee_type": "user", "grantee_id": demo["bob"]["user_id"]},
                headers=auth("alice"),
            )
            assert r.status_code == 200, r.text
            assert found("bob") == set(ids)
            assert http.delete(f"/documents/{ids[0]}", headers=auth("bob")).status_code == 403
            assert http.delete(f"/documents/{ids[0]}", headers=auth("alice")).status_code == 204
            assert found("carol") == {ids[1]}
            assert http.get("/documents/search", params={"q": "x"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    # The service's log has its own access lines only; the emulator's went to their file.
    service_log = (tmp_path / "service.log").read_text()
    assert '"POST /documents HTTP/1.1" 201' in service_log
    assert "/permissions/" not in service_log
    emulator_log = (tmp_path / "emulator-access.log").read_text()
    assert '"POST /permissions/accessible HTTP/1.1" 200' in emulator_log
    assert '"POST /documents' not in emulator_log
