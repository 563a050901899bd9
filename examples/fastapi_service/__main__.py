"""``python -m examples.fastapi_service``: run the docs service.

With ``IDENTITY_SERVICE_URL`` set, it is configured from the environment (see
``settings.py``) and talks to that identity service. Without it (development), it starts
the test kit's Sentinel emulator on a free port, writes the emulator's RS256 public key
to ``keys/public.pem`` in a temporary directory, mints tokens for a few demo users and
prints ``curl`` commands to try. ``PORT`` (default 8200) and ``HOST`` (127.0.0.1) say
where to listen; ``DEMO_TOKENS_FILE`` also writes the demo users and tokens there as JSON.

The emulator's access log is kept apart from the service's: it goes to
``EMULATOR_ACCESS_LOG`` (default ``emulator-access.log`` in the temporary directory, whose
path is printed at start-up), the service's to the console as usual.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import uuid
from pathlib import Path

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from examples.fastapi_service.app import create_app
from examples.fastapi_service.settings import Settings

EMULATOR_THREAD_PREFIX = "emulator-"
"""The test kit's ``EmulatorServer`` serves in a thread named ``emulator-<port>``."""


class EmulatorThreadFilter(logging.Filter):
    """Pass only the records logged in the emulator's thread (or, ``exclude``, all others).

    Both servers log their access lines to ``uvicorn.access``; the thread tells them apart.
    """

    def __init__(self, exclude: bool = False) -> None:
        super().__init__()
        self.exclude = exclude

    def filter(self, record: logging.LogRecord) -> bool:
        from_emulator = record.threadName.startswith(EMULATOR_THREAD_PREFIX)
        return from_emulator != self.exclude


def _log_config(emulator_log: Path | None) -> dict[str, object]:
    """uvicorn's logging, with the emulator's access lines sent to ``emulator_log``."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if emulator_log is None:
        return config
    here = f"{__name__}.EmulatorThreadFilter"
    config["filters"] = {
        "service_only": {"()": here, "exclude": True},
        "emulator_only": {"()": here, "exclude": False},
    }
    config["handlers"]["access"]["filters"] = ["service_only"]
    config["handlers"]["emulator_access"] = {
        "class": "logging.FileHandler",
        "filename": str(emulator_log),
        "formatter": "access",
        "filters": ["emulator_only"],
    }
    config["formatters"]["access"]["use_colors"] = False
    config["loggers"]["uvicorn.access"]["handlers"] = ["access", "emulator_access"]
    return config


def _serve(settings: Settings, emulator_log: Path | None = None) -> None:
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8200")),
        log_level=os.environ.get("LOG_LEVEL", "info"),
        log_config=_log_config(emulator_log),
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
        emulator_log = Path(
            os.environ.get("EMULATOR_ACCESS_LOG") or Path(tmp) / "emulator-access.log"
        )
        print(f"Sentinel emulator (identity service): {sentinel.url}")
        print(f"Emulator access log (kept apart from this service's): {emulator_log}")
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
        _serve(settings, emulator_log)


def main() -> None:
    """Production mode if ``IDENTITY_SERVICE_URL`` is set, development mode otherwise."""
    if os.environ.get("IDENTITY_SERVICE_URL"):
        _serve(Settings.from_env())
    else:
        _development()


if __name__ == "__main__":
    main()
