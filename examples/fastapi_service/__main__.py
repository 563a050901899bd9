"""``python -m examples.fastapi_service``: run the docs service.

With ``IDENTITY_SERVICE_URL`` set, it is configured from the environment (see
``settings.py``) and talks to that identity service. Without it (development), it starts
the test kit's Sentinel emulator on a free port, writes the emulator's RS256 public key
to ``keys/public.pem`` in a temporary directory, mints tokens for a few demo users and
prints ``curl`` commands to try. ``PORT`` (default 8200) and ``HOST`` (127.0.0.1) say
where to listen; ``DEMO_TOKENS_FILE`` also writes the demo users and tokens there as JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

import uvicorn

from examples.fastapi_service.app import create_app
from examples.fastapi_service.settings import Settings


def _serve(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8200")),
        log_level=os.environ.get("LOG_LEVEL", "info"),
    )


def _development() -> None:
    from sentinel_vectors.testing import SigningKeys, make_user, run_emulator

    keys = SigningKeys.generate()
    service_key = "sk_docs_service_dev"
    with (
        run_emulator(keys, service_name="docs-service", service_key=service_key) as sentinel,
        tempfile.TemporaryDirectory(prefix="docs-service-") as tmp,
    ):
        key_file = Path(tmp) / "keys" / "public.pem"
        key_file.parent.mkdir()
        key_file.write_text(keys.public_pem)
        settings = Settings(
            identity_service_url=sentinel.url,
            identity_service_key=service_key,
            public_key=key_file.read_text(),
            backend=os.environ.get("VECTOR_BACKEND", "chroma"),
            data_dir=os.environ.get("VECTOR_DATA_DIR") or str(Path(tmp) / "data"),
            store_url=os.environ.get("VECTOR_STORE_URL") or None,
        )
        acme, globex = uuid.uuid4(), uuid.uuid4()
        people = {
            "alice": make_user(keys, workspace_id=acme, role="editor", name="Alice",
                               workspace_slug="acme", ttl_seconds=12 * 3600),
            "bob": make_user(keys, workspace_id=acme, role="viewer", name="Bob",
                             workspace_slug="acme", ttl_seconds=12 * 3600),
            "carol": make_user(keys, workspace_id=acme, role="admin", name="Carol",
                               workspace_slug="acme", ttl_seconds=12 * 3600),
            "dave": make_user(keys, workspace_id=globex, role="editor", name="Dave",
                              workspace_slug="globex", ttl_seconds=12 * 3600),
        }  # fmt: skip
        demo = {
            name: {
                "user_id": str(user.user_id),
                "workspace_id": str(user.workspace_id),
                "role": user.workspace_role,
                "token": token,
            }
            for name, (user, token) in people.items()
        }
        tokens_file = os.environ.get("DEMO_TOKENS_FILE")
        if tokens_file:
            Path(tokens_file).write_text(json.dumps(demo, indent=2))
        port = os.environ.get("PORT", "8200")
        print(f"Sentinel emulator (identity service): {sentinel.url}")
        print(f"Vector backend: {settings.backend}, data in {settings.data_dir}")
        print("Demo users (workspace acme: alice editor, bob viewer, carol admin; globex: dave):")
        for name, info in demo.items():
            print(f"  export {name.upper()}={info['token']}")
        base = f"http://127.0.0.1:{port}"
        print(
            "Try:\n"
            f'  curl -s -X POST {base}/documents -H "Authorization: Bearer $ALICE" '
            "-H 'Content-Type: application/json' "
            '-d \'{"title": "Q3 plan", "content": "quarterly revenue plan", '
            '"visibility": "private"}\'\n'
            f"  curl -s '{base}/documents/search?q=quarterly' -H \"Authorization: Bearer $BOB\"\n"
            f"  curl -s '{base}/documents/search?q=quarterly' -H \"Authorization: Bearer $CAROL\""
        )
        _serve(settings)


def main() -> None:
    """Production mode if ``IDENTITY_SERVICE_URL`` is set, development mode otherwise."""
    if os.environ.get("IDENTITY_SERVICE_URL"):
        _serve(Settings.from_env())
    else:
        _development()


if __name__ == "__main__":
    main()
