"""Keyed fingerprints of secret columns (HMAC-SHA256 with a key the database never holds).

A secret column (an S3 secret key, an access token) is recorded as a fingerprint, never in
clear. A plain SHA-256 would let anyone who reads the ledger confirm a guessed secret, so the
fingerprint is keyed: ``hmac-sha256:<hex>`` under a key read from ``LEDGER_FINGERPRINT_KEY_FILE``
or the environment variable named by ``LEDGER_FINGERPRINT_KEY_ENV`` (64 hex digits; create one
with ``manage.py ledger_keygen --fingerprint PATH``).

The database computes the HMAC (``ledger_fingerprint()``, in SQL) from the key's inner and
outer pads, which a recording (and a revert's scans) set for its own transaction only. They
are never stored. Each captured table with secrets records the key's id, so a revert under
another key says so instead of failing to match.
"""

from __future__ import annotations

import os
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING

from ledger import config
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

_BLOCK = 64  # SHA-256's block size, for the HMAC pads


class FingerprintKeyError(LedgerError):
    """Secrets would be recorded with no key, or the configured key cannot be read."""


def configured_key() -> bytes | None:
    """The fingerprint key, or None when none is configured.

    Raises:
        FingerprintKeyError: a key is configured but is not 32 bytes of hex.
    """
    path, env = config.fingerprint_key_file(), config.fingerprint_key_env()
    if path:
        try:
            text, where = Path(path).read_text(), f"the fingerprint key {path}"
        except OSError as exc:
            raise FingerprintKeyError(
                f"cannot read the fingerprint key {path} ({exc.strerror}): fix "
                "LEDGER_FINGERPRINT_KEY_FILE"
            ) from exc
    elif env and os.environ.get(env):
        text, where = os.environ[env], f"the environment variable {env}"
    else:
        return None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < 32:
        raise FingerprintKeyError(
            f"{where} must hold at least 32 bytes as hex: create one with "
            "`manage.py ledger_keygen --fingerprint PATH`"
        )
    return key


def key_id(key: bytes) -> str:
    """A name for the key, recorded with each move (it reveals nothing of the key)."""
    return "hmac-sha256:" + sha256(b"ami-move-ledger fingerprint key " + key).hexdigest()[:16]


def _pads(key: bytes) -> tuple[str, str]:
    block = sha256(key).digest() if len(key) > _BLOCK else key
    block = block.ljust(_BLOCK, b"\x00")
    inner = bytes(b ^ 0x36 for b in block)
    outer = bytes(b ^ 0x5C for b in block)
    return inner.hex(), outer.hex()


def activate(cursor: Cursor, *, required: bool) -> str | None:
    """Let ``ledger_fingerprint()`` key its HMAC for the rest of this transaction.

    Args:
        required: refuse when no key is configured (secrets are about to be recorded).

    Returns:
        The key's id, or None when no key is configured (and none is required).

    Raises:
        FingerprintKeyError: required and none configured, or the key cannot be read.
    """
    key = configured_key()
    if key is None:
        if required:
            raise FingerprintKeyError(
                "captured tables have secret columns and no fingerprint key is configured: "
                "create one with `manage.py ledger_keygen --fingerprint keys/fingerprint.key` "
                "and point LEDGER_FINGERPRINT_KEY_FILE at it (secrets are never recorded in "
                "clear, and unkeyed fingerprints could be confirmed by guessing)"
            )
        return None
    inner, outer = _pads(key)
    cursor.execute(
        "SELECT set_config('ledger.fp_inner', %s, true), set_config('ledger.fp_outer', %s, true)",
        [inner, outer],
    )
    return key_id(key)


def generate(path: Path) -> str:
    """Write a new random key (hex, readable by its owner only). Returns its id.

    Raises:
        FingerprintKeyError: the file exists (keys are never overwritten).
    """
    if path.exists():
        raise FingerprintKeyError(f"{path} exists: keys are never overwritten; pick a new path")
    key = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.hex() + "\n")
    return key_id(key)
