"""Who owns the ledger, and what the application may do to it.

The role that runs ``migrate`` owns what it creates. Left as it is, the application's own role
owns the ledger: it could disable the append-only triggers, drop the tables, or replace a
ledger function. ``setup_roles`` hands every ledger object to a separate owner role (no login,
not held by the application) and leaves the application what recording, reading and verifying
need:

- SELECT on the ledger tables and the ``ledger_entry`` view;
- EXECUTE on the capture, fingerprint and seal functions. Sealing is ``ledger_seal_write``,
  which runs as the owner: the application needs no INSERT on the ledger tables.

Run it as a database administrator (``DATABASE_URL`` of a superuser, or of a role that owns
the ledger and may create roles), once after ``migrate`` and again after any ledger migration
(migrations of the ledger then run as a superuser: see docs/compliance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec
from django.db import DatabaseError, connections, transaction

from ledger import drop_guard
from ledger.dbapi import cursor as ledger_cursor
from ledger.dbapi import sql
from ledger.errors import LedgerError
from ledger.owned_sql import privilege_refusal
from ledger.protect import PROTECTED_TABLES
from ledger.rowindex import TABLES as ROW_INDEX_TABLES

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

VIEWS = ("ledger_entry",)
OWNED_TABLES = (*PROTECTED_TABLES, *ROW_INDEX_TABLES)
# (signature, granted to the application)
FUNCTIONS = (
    ("ledger_capture()", True),
    ("ledger_refuse_truncate()", True),
    ("ledger_fingerprint(text)", True),
    ("ledger_seal_write(jsonb, jsonb, bigint[], bigint[], text[], bigint)", True),
    ("ledger_index_rows(bigint)", True),
    ("ledger_refuse_change()", False),
    ("ledger_refuse_truncate_ledger()", False),
)


class RoleSetupError(LedgerError):
    """The roles cannot be set up as asked (the application holds the owner role, ...)."""


class LedgerOwnership(msgspec.Struct, frozen=True, kw_only=True):
    """What a role can do to the ledger, as read from the catalog."""

    role: str
    owners: list[str]
    owns_or_holds_owner: bool
    superuser: bool
    write_privileges: list[str]
    # Ledger tables and views the role cannot read (one made anew by a ledger migration run
    # as a superuser, before ``setup_roles`` runs again).
    unreadable: list[str] = []
    # The role owns the schema the ledger is in (it may drop any object there), and whether
    # the drop guard (``ledger.drop_guard``) stops it.
    owns_schema: bool = False
    drop_guarded: bool = False

    @property
    def droppable(self) -> bool:
        """The role may drop the ledger's objects: it owns their schema, and no guard stops it."""
        return self.owns_schema and not self.drop_guarded


def inspect(role: str | None = None, using: str = "default") -> LedgerOwnership:
    """The owners of the ledger tables and what ``role`` (default: the current role) may do."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT coalesce(%s::text, current_user)", [role])
        role = cursor.fetchone()[0]
        cursor.execute(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE c.oid = ANY(ARRAY(SELECT to_regclass(t) FROM unnest(%s::text[]) t)) "
            "ORDER BY 1",
            [list(PROTECTED_TABLES)],
        )
        owners = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT rolsuper, EXISTS (SELECT 1 FROM unnest(%s::text[]) o "
            "WHERE pg_has_role(%s, o, 'MEMBER')) FROM pg_roles WHERE rolname = %s",
            [owners, role, role],
        )
        superuser, holds_owner = cursor.fetchone()
        cursor.execute(
            "SELECT t || ':' || p FROM unnest(%s::text[]) t, "
            "unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) p "
            "WHERE has_table_privilege(%s, t, p) ORDER BY 1",
            [list(PROTECTED_TABLES), role],
        )
        writes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL "
            "AND NOT has_table_privilege(%s, t, 'SELECT') ORDER BY 1",
            [[*OWNED_TABLES, *VIEWS], role],
        )
        unreadable = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT coalesce(bool_or(pg_has_role(%s, n.nspowner, 'MEMBER')), false) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass('ledger_change')",
            [role],
        )
        owns_schema = bool(cursor.fetchone()[0])
        guarded = drop_guard.installed(cursor)
    return LedgerOwnership(
        role=role,
        owners=owners,
        owns_or_holds_owner=bool(holds_owner),
        superuser=bool(superuser),
        write_privileges=writes,
        unreadable=unreadable,
        owns_schema=owns_schema,
        drop_guarded=guarded,
    )


def setup_roles(owner: str, app_roles: Sequence[str], using: str = "default") -> bool:
    """Make ``owner`` own every ledger object and grant ``app_roles`` what they need only;
    run by a superuser, also install the drop guard (``ledger.drop_guard``).

    Returns:
        Whether the drop guard is installed (only a superuser can install it).

    Raises:
        RoleSetupError: an application role is the owner, holds it, or does not exist; or
            the role running this may not hand the ledger over (nothing was changed).
    """
    try:
        return _setup_roles(owner, app_roles, using)
    except DatabaseError as exc:
        # Run as the application's role (or another that owns too little), PostgreSQL
        # refuses part way ("must be owner of table ledger_move"): the transaction is
        # rolled back, and this says so in one line instead of a traceback.
        reason = privilege_refusal(exc)
        if reason is None:
            raise
        raise RoleSetupError(
            f"refused: {reason}. Run ledger_setup_roles as a database administrator (a "
            "superuser, to install the drop guard too); nothing was changed"
        ) from exc


def _setup_roles(owner: str, app_roles: Sequence[str], using: str) -> bool:
    with transaction.atomic(using=using), ledger_cursor(connections[using]) as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [owner])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(owner)))
        for app in app_roles:
            _check_app_role(cursor, owner, app)
        owner_id = sql.Identifier(owner)
        for table in (*OWNED_TABLES, *VIEWS):
            cursor.execute(
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table), owner_id)
            )
            cursor.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(sql.Identifier(table)))
        for signature, _granted in FUNCTIONS:
            function = sql.SQL(signature)
            cursor.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(function, owner_id))
            cursor.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function))
        for app in app_roles:
            _grant(cursor, app)
        return drop_guard.install(
            cursor,
            owner,
            relations=(*OWNED_TABLES, *VIEWS),
            functions=[signature.split("(", 1)[0] for signature, _granted in FUNCTIONS],
        )


def _check_app_role(cursor: Cursor, owner: str, app: str) -> None:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app])
    row = cursor.fetchone()
    if row is None:
        raise RoleSetupError(f"application role {app!r} does not exist: check --app-role")
    if app == owner:
        raise RoleSetupError("the owner must be another role than the application's")
    if row[0]:
        raise RoleSetupError(
            f"{app} is a superuser: nothing can protect the ledger from it; give the "
            "application an ordinary role"
        )
    cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [app, owner])
    if cursor.fetchone()[0]:
        raise RoleSetupError(
            f"{app} is a member of {owner}: it could act as the owner; revoke {owner} from it"
        )


def _grant(cursor: Cursor, app: str) -> None:
    app_id = sql.Identifier(app)
    for table in (*OWNED_TABLES, *VIEWS):
        cursor.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(table), app_id))
        cursor.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), app_id))
    for signature, granted in FUNCTIONS:
        if granted:
            cursor.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(signature), app_id)
            )
