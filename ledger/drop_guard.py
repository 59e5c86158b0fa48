"""No role but a superuser drops a ledger table, view or function: an event trigger.

PostgreSQL lets the owner of a schema drop any object in it, whoever owns the object. On
PostgreSQL 15 ``public`` belongs to ``pg_database_owner``, that is to the owner of the
database: where the application's role created its database (Antenna's does), it could drop
the ledger's tables after ``ledger_setup_roles`` gave them to an owner of their own.

``install`` (run by ``ledger_setup_roles`` as a superuser: only a superuser can make an event
trigger) adds an event trigger on ``sql_drop``: at the end of any statement that drops a
ledger table, view or function, directly or by ``CASCADE``, it raises unless a superuser runs
it (a ledger migration), and the whole statement is rolled back. Objects are known by their
names in any schema: the schema's owner could rename the schema, then drop. Its function lives in a
schema of its own, owned by the ledger's owner, so the application cannot drop it either; an
event trigger is dropped only by its owner (the superuser).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ledger.dbapi import sql

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

SCHEMA = "ledger_guard"
EVENT_TRIGGER = "ledger_refuse_drop"

_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.refuse_drop() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    dropped record;
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN;  -- a ledger migration, run as a superuser
    END IF;
    -- By name in any schema: the schema's owner may rename it first.
    FOR dropped IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
        IF (dropped.object_type IN ('table', 'view') AND dropped.object_name = ANY({relations}))
            OR (dropped.object_type = 'function' AND regexp_replace(
                split_part(dropped.object_identity, '(', 1), '^.*[.]', '') = ANY({functions}))
        THEN
            RAISE EXCEPTION 'ledger: % % belongs to the ledger: only a superuser may drop it',
                dropped.object_type, dropped.object_identity
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
END
$$
"""


def install(
    cursor: Cursor, owner: str, relations: Sequence[str], functions: Sequence[str]
) -> bool:
    """Install (or replace) the guard over the ledger's objects.

    Args:
        owner: the ledger's owner role, which owns the guard's schema and function.
        relations: the ledger's tables and views.
        functions: the ledger's functions, by name.

    Returns:
        False, having changed nothing, where the current role is not a superuser.
    """
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    (superuser,) = cursor.fetchone()
    if not superuser:
        return False
    schema, owner_id = sql.Identifier(SCHEMA), sql.Identifier(owner)
    cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
    cursor.execute(
        sql.SQL(_FUNCTION).format(
            schema=schema,
            relations=sql.Literal(list(relations)),
            functions=sql.Literal(list(functions)),
        )
    )
    cursor.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, owner_id))
    cursor.execute(sql.SQL("ALTER FUNCTION {}.refuse_drop() OWNER TO {}").format(schema, owner_id))
    # Anyone's DROP runs the function: it must stay executable by all.
    cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO PUBLIC").format(schema))
    cursor.execute(
        sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(EVENT_TRIGGER))
    )
    cursor.execute(
        sql.SQL("CREATE EVENT TRIGGER {} ON sql_drop EXECUTE FUNCTION {}.refuse_drop()").format(
            sql.Identifier(EVENT_TRIGGER), schema
        )
    )
    return True


def installed(cursor: Cursor) -> bool:
    """Whether the guard's event trigger is there and enabled."""
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = %s AND evtenabled <> 'D')",
        [EVENT_TRIGGER],
    )
    return bool(cursor.fetchone()[0])
