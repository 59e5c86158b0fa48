"""``LEDGER_*`` settings, one typed function each, read at call time so tests can override them."""

from __future__ import annotations

import os

from django.conf import settings


def lock_key() -> int:
    """Advisory lock key that serialises sealing (``LEDGER_LOCK_KEY``).

    Default: ``0x1ED6E5`` ("ledger"). Recordings run side by side, but they seal one at a
    time, from the seal to the commit: the chain link of a move needs the digest of the move
    sealed just before it, and ids are given out without gaps.
    """
    value = getattr(settings, "LEDGER_LOCK_KEY", 0x1ED6E5)
    assert isinstance(value, int), "LEDGER_LOCK_KEY must be an int"
    return value


def fetch_size() -> int:
    """Rows fetched per round trip when reading entries (``LEDGER_FETCH_SIZE``, default 2000)."""
    value = getattr(settings, "LEDGER_FETCH_SIZE", 2000)
    assert isinstance(value, int), "LEDGER_FETCH_SIZE must be an int"
    assert value > 0, "LEDGER_FETCH_SIZE must be positive"
    return value


def capture_lock_key() -> int:
    """Advisory lock key shared by running recordings, taken exclusively by a release
    (``LEDGER_CAPTURE_LOCK_KEY``, default ``0x1ED6E6``)."""
    value = getattr(settings, "LEDGER_CAPTURE_LOCK_KEY", 0x1ED6E6)
    assert isinstance(value, int), "LEDGER_CAPTURE_LOCK_KEY must be an int"
    return value


def ddl_lock_timeout_ms() -> int:
    """How long one attempt to create or drop capture triggers may wait for its table lock,
    in milliseconds (``LEDGER_DDL_LOCK_TIMEOUT_MS``, default 50). Writers of that table wait
    at most this long behind the attempt; readers never wait for a create."""
    value = getattr(settings, "LEDGER_DDL_LOCK_TIMEOUT_MS", 50)
    assert isinstance(value, int), "LEDGER_DDL_LOCK_TIMEOUT_MS must be an int"
    assert value > 0, "LEDGER_DDL_LOCK_TIMEOUT_MS must be > 0"
    return value


def install_timeout() -> float:
    """Seconds a recording keeps retrying to install capture on a busy table before it gives
    up, changing nothing (``LEDGER_INSTALL_TIMEOUT``, default 30)."""
    value = getattr(settings, "LEDGER_INSTALL_TIMEOUT", 30)
    assert isinstance(value, int | float), "LEDGER_INSTALL_TIMEOUT must be a number"
    assert value >= 0, "LEDGER_INSTALL_TIMEOUT must be >= 0"
    return float(value)


def signing_key_file() -> str | None:
    """Path of the PEM Ed25519 private key that signs sealed moves
    (``LEDGER_SIGNING_KEY_FILE``, default None: look at ``signing_key_env()``)."""
    value = getattr(settings, "LEDGER_SIGNING_KEY_FILE", None)
    assert value is None or isinstance(value, str | os.PathLike), "a path or None"
    return str(value) if value else None


def signing_key_env() -> str | None:
    """Name of the environment variable holding that key as PEM text, when no file is set
    (``LEDGER_SIGNING_KEY_ENV``, default ``"LEDGER_SIGNING_KEY"``)."""
    value = getattr(settings, "LEDGER_SIGNING_KEY_ENV", "LEDGER_SIGNING_KEY")
    assert value is None or isinstance(value, str), "LEDGER_SIGNING_KEY_ENV must be a name"
    return value or None


def checkpoint_file() -> str | None:
    """File outside the database each sealed move's chain head is appended to, after commit
    (``LEDGER_CHECKPOINT_FILE``, default None: no checkpoint file; the head is still printed
    by the commands, for a ticket)."""
    value = getattr(settings, "LEDGER_CHECKPOINT_FILE", None)
    assert value is None or isinstance(value, str | os.PathLike), "a path or None"
    return str(value) if value else None


def fingerprint_key_file() -> str | None:
    """Path of the key that fingerprints secret columns, 64 hex digits
    (``LEDGER_FINGERPRINT_KEY_FILE``, default None: look at ``fingerprint_key_env()``)."""
    value = getattr(settings, "LEDGER_FINGERPRINT_KEY_FILE", None)
    assert value is None or isinstance(value, str | os.PathLike), "a path or None"
    return str(value) if value else None


def fingerprint_key_env() -> str | None:
    """Name of the environment variable holding that key as hex, when no file is set
    (``LEDGER_FINGERPRINT_KEY_ENV``, default ``"LEDGER_FINGERPRINT_KEY"``)."""
    value = getattr(settings, "LEDGER_FINGERPRINT_KEY_ENV", "LEDGER_FINGERPRINT_KEY")
    assert value is None or isinstance(value, str), "LEDGER_FINGERPRINT_KEY_ENV must be a name"
    return value or None


def argument_columns() -> tuple[tuple[str, str], ...]:
    """Arguments shown as columns of their own in the moves list of the admin and of
    ``list_moves``: ``(heading, argument key)`` pairs, in order (``LEDGER_ARGUMENT_COLUMNS``,
    default ``()``: the arguments are shown whole). The ledger never interprets them; the
    domain names what a reviewer looks for (e.g. ``("account", "account_id")``)."""
    value = getattr(settings, "LEDGER_ARGUMENT_COLUMNS", ())
    pairs = tuple(tuple(pair) for pair in value)
    assert all(
        len(pair) == 2 and all(isinstance(part, str) and part for part in pair) for pair in pairs
    ), "LEDGER_ARGUMENT_COLUMNS must be (heading, argument key) pairs of strings"
    return pairs


def public_key_file() -> str | None:
    """PEM public key (or the signing key, whose public half is used) that the reviewer pages
    check each move's signature with (``LEDGER_PUBLIC_KEY_FILE``, default None: the pages show
    whether a move is signed, and by which key, without checking the signature)."""
    value = getattr(settings, "LEDGER_PUBLIC_KEY_FILE", None)
    assert value is None or isinstance(value, str | os.PathLike), "a path or None"
    return str(value) if value else None


def revert_vacuum_min_rows() -> int | None:
    """A revert first vacuums each table its move updated or deleted at least this many rows
    of (``LEDGER_REVERT_VACUUM_MIN_ROWS``, default 10000; None: never). See
    ``ledger.replay.vacuum``."""
    value = getattr(settings, "LEDGER_REVERT_VACUUM_MIN_ROWS", 10_000)
    assert value is None or (isinstance(value, int) and value > 0), "a positive int or None"
    return value
