"""Deferred constraints, checked before the commit that would check them.

``SET CONSTRAINTS ALL IMMEDIATE`` runs every pending deferred check at once (the foreign keys
Django declares ``DEFERRABLE INITIALLY DEFERRED``); deferring again those that are deferred by
default keeps the rest of the transaction as it was. A violation raises ``IntegrityError``
there, as it would have at commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

_DEFERRED = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.conname) FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.condeferrable AND c.condeferred AND n.nspname = ANY(current_schemas(false))
ORDER BY 1
"""


def deferred_by_default(cursor: Cursor) -> list[str]:
    """The qualified names of the constraints declared ``INITIALLY DEFERRED``."""
    cursor.execute(_DEFERRED)
    return [row[0] for row in cursor.fetchall()]


def check_now(cursor: Cursor) -> None:
    """Check every pending deferred constraint now.

    Raises:
        IntegrityError: one does not hold (the transaction is aborted, unless a savepoint
            the caller holds is rolled back).
    """
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def defer_again(cursor: Cursor, names: list[str]) -> None:
    """Defer ``names`` (``deferred_by_default``) again for the rest of the transaction."""
    if names:  # quoted by the server (quote_ident): text as they are
        cursor.execute(f"SET CONSTRAINTS {', '.join(names)} DEFERRED")
