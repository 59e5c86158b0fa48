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

# The only way the application writes the ledger: one call per sealed move. It runs as the
# ledger's owner, so the application role needs no INSERT on the ledger tables, and it refuses
# a move that does not extend the chain as the next move (id, step ids, entry ids, link).
# Hashes and digests are the caller's: signatures, made with a key the database never holds,
# are what make them trustworthy (ledger.signing).
SEAL_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION ledger_seal_write(
    move jsonb, steps jsonb, seqs bigint[], ids bigint[], hashes text[], first_step bigint
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    m ledger_move := jsonb_populate_record(NULL::ledger_move, move);
    next_move bigint := (SELECT coalesce(max(id), 0) + 1 FROM ledger_move);
    next_step bigint := (SELECT coalesce(max(id), 0) + 1 FROM ledger_step);
    next_entry bigint := (SELECT coalesce(max(id + row_count), 1) FROM ledger_change);
    last_digest text := (SELECT digest FROM ledger_move ORDER BY id DESC LIMIT 1);
    written bigint;
    entries bigint;
    contiguous boolean;
BEGIN
    IF m.id IS DISTINCT FROM next_move THEN
        RAISE EXCEPTION 'ledger: a sealed move takes the next id, %, not %', next_move, m.id;
    END IF;
    IF m.prev_digest IS DISTINCT FROM last_digest THEN
        RAISE EXCEPTION 'ledger: move % must link to the digest of the move sealed last', m.id;
    END IF;
    IF first_step IS DISTINCT FROM next_step THEN
        RAISE EXCEPTION 'ledger: the steps of move % take the next step ids', m.id;
    END IF;
    IF cardinality(ids) > 0 AND (ids[1] IS DISTINCT FROM next_entry
            OR m.first_entry_id IS DISTINCT FROM next_entry) THEN
        RAISE EXCEPTION 'ledger: the entries of move % take the next entry ids', m.id;
    END IF;
    INSERT INTO ledger_move SELECT (m).*;
    INSERT INTO ledger_step (id, move_id, seq, label, action, expected_rows, captured_rows)
    SELECT first_step + s.seq - 1, m.id, s.seq, s.label, s.action, s.expected_rows,
        s.captured_rows
    FROM jsonb_to_recordset(steps)
        AS s(seq integer, label text, action text, expected_rows bigint, captured_rows bigint);
    INSERT INTO ledger_change (id, move_id, step_id, table_name, op, row_count, pks, before,
        after, hash)
    SELECT h.id, m.id, first_step + s.step - 1, s.table_name, s.op, s.row_count, s.pks,
        s.before, s.after, h.hash
    FROM pg_temp.ledger_staging AS s
    JOIN unnest(seqs, ids, hashes) AS h(seq, id, hash) USING (seq)
    ORDER BY h.id;
    GET DIAGNOSTICS written = ROW_COUNT;
    SELECT coalesce(sum(row_count), 0),
        coalesce(bool_and(following IS NULL OR following = id + row_count), true)
    INTO entries, contiguous
    FROM (SELECT id, row_count, lead(id) OVER (ORDER BY id) AS following
          FROM ledger_change WHERE move_id = m.id) AS c;
    IF written <> cardinality(ids) OR entries <> m.entry_count OR NOT contiguous THEN
        RAISE EXCEPTION 'ledger: the changes of move % do not match its header', m.id;
    END IF;
END
$$;

DO $$ BEGIN
    -- Resolve names in the ledger's own schema, and the caller's temporary objects only where
    -- they are named (pg_temp last): a caller cannot shadow a ledger table.
    EXECUTE format('ALTER FUNCTION ledger_seal_write(jsonb, jsonb, bigint[], bigint[], text[], '
                   'bigint) SET search_path = %I, pg_temp', current_schema());
END $$;
"""

DROP_SEAL_FUNCTION_V1 = """
DROP FUNCTION IF EXISTS ledger_seal_write(jsonb, jsonb, bigint[], bigint[], text[], bigint);
"""

# Version 2 reads the next entry id off the last change group, found by its key (an index
# scan). Version 1 took max(id + row_count) over every group of the ledger: a scan of the
# whole table at every seal, under the chain lock (0.2-0.5 s at 2M groups, growing with
# the ledger). Both give the same id: the groups' entry ranges follow one another in id
# order, as this function checks of every move it writes.
_NEXT_ENTRY_V1 = "(SELECT coalesce(max(id + row_count), 1) FROM ledger_change)"
NEXT_ENTRY = "coalesce((SELECT id + row_count FROM ledger_change ORDER BY id DESC LIMIT 1), 1)"
SEAL_FUNCTION_V2 = SEAL_FUNCTION_V1.replace(_NEXT_ENTRY_V1, NEXT_ENTRY)
assert SEAL_FUNCTION_V2.count(NEXT_ENTRY) == 1, "SEAL_FUNCTION_V1 no longer holds _NEXT_ENTRY_V1"
