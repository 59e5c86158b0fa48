"""Choose the PostgreSQL server this project talks to, and explain when it cannot be reached.

Order of preference:
- ``DATABASE_URL``: any PostgreSQL 15+ server, as ``postgres://USER:PASSWORD@HOST:PORT/NAME``;
- for the test suite only, the machine's server on 127.0.0.1:5432 (trust auth) when one answers;
- otherwise an embedded server started on demand from the ``pgserver`` package, with its data
  in the project-local, git-ignored ``.pgdata/`` folder (``AMI_EMBEDDED_DATA_DIR`` moves it).

``AMI_EMBEDDED_DB=1`` forces the embedded server even where a local one answers (to run the
suite on it).

Never SQLite: the ledger is built from PostgreSQL triggers. Messages about a bad URL or a
failed connection never contain the URL's password.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DATA_DIR = PROJECT_ROOT / ".pgdata"
DATABASE_NAME = "ami"
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5432

# The schemes dj-database-url maps to Django's own PostgreSQL backend; postgis, timescale and
# the like need backends this project does not install.
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "pgsql"})
URL_SHAPE = "postgres://USER:PASSWORD@HOST:5432/NAME"
# RFC 3986 scheme syntax: text before "://" that does not match it (and might hold a password,
# as in "bob:pw@host://") is never echoed.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

# pgserver's list of the processes using a server, kept in its data directory.
HANDLE_PIDS_FILE = ".handle_pids.json"

# Kept for the life of the process: pgserver stops the server when its last handle goes away.
_embedded_server: Any = None


class DatabaseConfigError(ImproperlyConfigured):
    """``DATABASE_URL`` cannot be used; the message says what to set instead, without secrets."""


def database_config(*, for_tests: bool = False) -> dict[str, Any]:
    """Return Django's ``DATABASES["default"]`` for the server to use.

    Args:
        for_tests: prefer a local server on 127.0.0.1:5432 over the embedded one.

    Raises:
        DatabaseConfigError: ``DATABASE_URL`` is set but is not a usable PostgreSQL URL.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        config = parse_database_url(url)
    elif for_tests and not force_embedded() and local_server_answers():
        config = dj_database_url.parse(
            f"postgres://postgres@{LOCAL_HOST}:{LOCAL_PORT}/{DATABASE_NAME}"
        )
    else:
        config = embedded_database_config()
    config.setdefault("ENGINE", "django.db.backends.postgresql")
    config["ATOMIC_REQUESTS"] = False
    return config


def parse_database_url(url: str) -> dict[str, Any]:
    """Parse a PostgreSQL URL into Django's database settings.

    Raises:
        DatabaseConfigError: the URL is not a URL, names another database engine, cannot be
            parsed or names no database. The message never repeats the password.
    """
    scheme, separator, _ = url.strip().partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        raise DatabaseConfigError(
            f"DATABASE_URL is not a URL: set it to {URL_SHAPE}, "
            "or unset it to use the embedded server"
        )
    if scheme.lower() not in POSTGRES_SCHEMES:
        raise DatabaseConfigError(
            f"DATABASE_URL is a {scheme}:// URL, but only PostgreSQL is supported (the ledger "
            f"is built from its triggers): set it to {URL_SHAPE}"
        )
    try:
        config = dj_database_url.parse(url.strip(), conn_max_age=0)
    except ValueError:
        raise DatabaseConfigError(
            f"DATABASE_URL cannot be parsed: expected {URL_SHAPE}, with a numeric port and "
            "any '@', ':' or '/' in the user or password %-encoded"
        ) from None
    if not config.get("NAME"):
        raise DatabaseConfigError(
            f"DATABASE_URL names no database: add it after the host, as in {URL_SHAPE}"
        )
    return config


def describe_connection_failure(error: BaseException, config: Mapping[str, Any]) -> str | None:
    """One line saying why connecting to the server failed and what to do, or None.

    Args:
        error: the exception raised while connecting (Django's or the driver's
            ``OperationalError``).
        config: the connection's settings (``HOST``, ``PORT``, ``NAME``, ``USER``,
            ``PASSWORD``); the password is only used to blank it out of the server's text.

    Returns:
        None when ``error`` is not a failure to connect (a query failing on an open
        connection, a server gone mid-command): those keep their traceback.
    """
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    # libpq's own wording (psycopg2), and psycopg 3's "connection failed: <libpq's reason>".
    if not first.startswith(
        ("connection to server ", "could not translate host name", "connection failed:")
    ):
        return None
    lowered = text.lower()
    where = _server_address(config)
    cannot = f"cannot connect to PostgreSQL at {where}"
    name, user, hint = config.get("NAME") or "", config.get("USER") or "", _hint()
    shown_user = _shown_user(user)
    if "could not translate host name" in lowered:
        return f"cannot resolve the host {config.get('HOST')!r} of PostgreSQL: {hint}"
    if "connection refused" in lowered:
        return f"{cannot}: connection refused — is the server running? {hint}"
    if "no such file or directory" in lowered:
        return f"{cannot}: no server socket there — is the server running? {hint}"
    if "timeout expired" in lowered:
        return f"{cannot}: timed out — is the host reachable? {hint}"
    if f'database "{name}" does not exist' in text:
        return (
            f"database {name!r} does not exist on the PostgreSQL server at {where}: create it "
            f"(createdb {name}) or fix the database name; {hint}"
        )
    if f'role "{user}" does not exist' in text:
        return f"PostgreSQL at {where} has no user {shown_user}: {hint}"
    if "authentication failed" in lowered or "no password supplied" in lowered:
        return f"PostgreSQL at {where} refused user {shown_user}: check user and password; {hint}"
    fatal = [line.strip() for line in text.splitlines() if line.strip().startswith("FATAL:")]
    reason = fatal[-1] if fatal else (first.partition(" failed: ")[2] or first)
    return f"{cannot}: {_redact(reason, config)}; {hint}"


def _server_address(config: Mapping[str, Any]) -> str:
    host, port = config.get("HOST") or "", config.get("PORT") or 5432
    if not host:
        return f"the default local socket (port {port})"
    if host.startswith("/"):
        return f"{host} (socket)"
    return f"{host}:{port}"


def _hint() -> str:
    if os.environ.get("DATABASE_URL"):
        return "check DATABASE_URL"
    return f"the embedded server is not answering: see {embedded_data_dir() / 'log'}"


def _redact(text: str, config: Mapping[str, Any]) -> str:
    """The server's text without the password, nor a user name that is an e-mail address."""
    password, user = config.get("PASSWORD"), config.get("USER") or ""
    if password:
        text = text.replace(password, "***")
    if "@" in user:
        text = text.replace(user, _shown_user(user))
    return text


def _shown_user(user: str) -> str:
    """A user name as messages show it: an e-mail address (some managed servers' IAM users)
    is personal data, and is not shown."""
    return "(an e-mail address, not shown)" if "@" in user else repr(user)


def force_embedded() -> bool:
    return os.environ.get("AMI_EMBEDDED_DB", "") == "1"


def local_server_answers(timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on the local PostgreSQL port."""
    try:
        with socket.create_connection((LOCAL_HOST, LOCAL_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def embedded_data_dir() -> Path:
    """Where the embedded server keeps its data: ``AMI_EMBEDDED_DATA_DIR``, else ``.pgdata/``."""
    configured = os.environ.get("AMI_EMBEDDED_DATA_DIR")
    return Path(configured).resolve() if configured else EMBEDDED_DATA_DIR


def embedded_database_config() -> dict[str, Any]:
    """Start (or join) the embedded server and return a config for its ``ami`` database."""
    global _embedded_server
    data_dir = embedded_data_dir()
    if _embedded_server is None:
        # pgserver keeps a lock file in the user's runtime dir; platformdirs warns when
        # XDG_RUNTIME_DIR is unset (containers, CI), so name the usual fallback ourselves.
        if "XDG_RUNTIME_DIR" not in os.environ:
            runtime = Path(tempfile.gettempdir()) / f"ami-runtime-{os.getuid()}"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        import pgserver  # imported here: starting a server is only for when it is needed

        data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(data_dir)
        _embedded_server = pgserver.get_server(data_dir, cleanup_mode="stop")
        stop_on_sigterm()
        exists = _embedded_server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"
        )
        if "1 row" not in exists:
            _embedded_server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        logger.info("using the embedded PostgreSQL server in %s", data_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(data_dir),
        "PORT": "",
    }


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Remove the pids of dead processes from pgserver's list of a server's users.

    pgserver stops the server when the last process listed in ``.handle_pids.json`` exits.
    A process killed with SIGKILL never takes itself off the list, so without this every
    later process would see a user left and leave the server running.

    A pid reused by an unrelated live process is kept: the server then stays up until that
    process is gone, which is safer than stopping it under a live user.

    Args:
        data_dir: the embedded server's data directory.

    Returns:
        The pids removed.
    """
    import pgserver

    path = data_dir / HANDLE_PIDS_FILE
    # pgserver reads and writes the file under this inter-process lock (pgserver 0.1.4).
    with pgserver.PostgresServer._lock:
        try:
            listed = json.loads(path.read_text())
        except FileNotFoundError:
            return []
        except ValueError:  # half-written by a process killed mid-write: rewritten below
            listed = None
        pids = [pid for pid in listed if isinstance(pid, int)] if isinstance(listed, list) else []
        alive = [pid for pid in pids if _process_alive(pid)]
        if alive != listed:
            path.write_text(json.dumps(alive))
    dead = [pid for pid in pids if pid not in alive]
    if dead:
        logger.info("embedded server: forgot the handles of dead processes %s", dead)
    return dead


def _process_alive(pid: int) -> bool:
    import psutil  # a dependency of pgserver

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def stop_on_sigterm() -> None:
    """Make SIGTERM exit through ``SystemExit``, so the embedded server is released at exit.

    The default action of SIGTERM ends the process without running ``atexit`` handlers, and
    pgserver stops the server (or takes this process off its list) in one. Left alone when
    another handler is installed, or outside the main thread (where Python cannot install one).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM while cleaning up ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)
