"""Choose the PostgreSQL server this project talks to.

Order of preference:
- ``DATABASE_URL``: any PostgreSQL 15+ server, parsed by dj-database-url;
- for the test suite only, the machine's server on 127.0.0.1:5432 (trust auth) when one answers;
- otherwise an embedded server started on demand from the ``pgserver`` package, with its data
  in the project-local, git-ignored ``.pgdata/`` folder.

``AMI_EMBEDDED_DB=1`` forces the embedded server even where a local one answers (to run the
suite on it).

Never SQLite: the ledger is built from PostgreSQL triggers.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DATA_DIR = PROJECT_ROOT / ".pgdata"
DATABASE_NAME = "ami"
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5432

# Kept for the life of the process: pgserver stops the server when its last handle goes away.
_embedded_server: Any = None


def database_config(*, for_tests: bool = False) -> dict[str, Any]:
    """Return Django's ``DATABASES["default"]`` for the server to use.

    Args:
        for_tests: prefer a local server on 127.0.0.1:5432 over the embedded one.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=0)
    elif for_tests and not force_embedded() and local_server_answers():
        config = dj_database_url.parse(
            f"postgres://postgres@{LOCAL_HOST}:{LOCAL_PORT}/{DATABASE_NAME}"
        )
    else:
        config = embedded_database_config()
    config.setdefault("ENGINE", "django.db.backends.postgresql")
    config["ATOMIC_REQUESTS"] = False
    return config


def force_embedded() -> bool:
    return os.environ.get("AMI_EMBEDDED_DB", "") == "1"


def local_server_answers(timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on the local PostgreSQL port."""
    try:
        with socket.create_connection((LOCAL_HOST, LOCAL_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def embedded_database_config() -> dict[str, Any]:
    """Start (or join) the embedded server and return a config for its ``ami`` database."""
    global _embedded_server
    if _embedded_server is None:
        # pgserver keeps a lock file in the user's runtime dir; platformdirs warns when
        # XDG_RUNTIME_DIR is unset (containers, CI), so name the usual fallback ourselves.
        if "XDG_RUNTIME_DIR" not in os.environ:
            runtime = Path(tempfile.gettempdir()) / f"ami-runtime-{os.getuid()}"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        import pgserver  # imported here: starting a server is only for when it is needed

        EMBEDDED_DATA_DIR.mkdir(exist_ok=True)
        _embedded_server = pgserver.get_server(EMBEDDED_DATA_DIR, cleanup_mode="stop")
        exists = _embedded_server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"
        )
        if "1 row" not in exists:
            _embedded_server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        logger.info("using the embedded PostgreSQL server in %s", EMBEDDED_DATA_DIR)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(EMBEDDED_DATA_DIR),
        "PORT": "",
    }
