"""``LEDGER_*`` settings, one typed function each, read at call time so tests can override them."""

from __future__ import annotations

from django.conf import settings


def lock_key() -> int:
    """Advisory lock key that serialises recordings (``LEDGER_LOCK_KEY``).

    Default: ``0x1ED6E5`` ("ledger"). Two recordings never run at once, because the
    chain link of a move needs the digest of the move sealed just before it.
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
