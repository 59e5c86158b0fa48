"""Append-only protection of the ledger tables, as SQL a migration installs.

Statement-level triggers refuse every UPDATE and DELETE, whoever runs them, and TRUNCATE of a
non-empty table by anyone but a member of the table's owner (a test runner's flush, run as the
owner, may empty them). Unlike pgtrigger's ``Protect``, nothing a session can set switches them
off: only the owner of a ledger table can disable or drop its triggers, and
``ledger_setup_roles`` makes that owner a role the application does not hold.
"""

from __future__ import annotations

PROTECTED_TABLES = ("ledger_move", "ledger_step", "ledger_change")
TRIGGER_NAMES = ("ledger_append_only", "ledger_no_truncate")

PROTECT_V1 = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % is append-only, % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION ledger_refuse_truncate_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner oid := (SELECT relowner FROM pg_class WHERE oid = TG_RELID);
    filled boolean;
BEGIN
    IF pg_has_role(current_user, owner, 'MEMBER') THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO filled;
    IF filled THEN
        RAISE EXCEPTION 'ledger: % is append-only, TRUNCATE is refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;
""" + "".join(
    f"""
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate_ledger();
"""
    for table in PROTECTED_TABLES
)

DROP_PROTECT_V1 = (
    "".join(
        f"""
DROP TRIGGER IF EXISTS ledger_append_only ON {table};
DROP TRIGGER IF EXISTS ledger_no_truncate ON {table};
"""
        for table in PROTECTED_TABLES
    )
    + """
DROP FUNCTION IF EXISTS ledger_refuse_change();
DROP FUNCTION IF EXISTS ledger_refuse_truncate_ledger();
"""
)
