"""The row index: which entries touched a given row, found by lookup, not by scanning.

A change group stores its keys in one array, so "every entry of row 42 of main_sourceimage"
would scan every group of the ledger. The row index holds one row per entry (table, key,
change, entry id) under a b-tree, so ``row_history`` is one index lookup whatever the size of
the ledger.

It is derived data, written after a move commits and never inside it (a million-key move
would otherwise pay for a million index insertions in its transaction): ``index_missing()``
indexes every sealed move not indexed yet, and ``row_history`` calls it first, so the index is
always complete when read. Rows are written by ``ledger_index_rows`` (migration 0003), which
runs as the ledger's owner; the index is append-only like the ledger.
"""

from __future__ import annotations

from django.db import connections, transaction

# The tables are models (ledger.models.RowIndex, RowIndexDone); this adds their protection
# and the function that fills them.
ROW_INDEX_V1 = """
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_row_index
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger_row_index
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate_ledger();
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_row_index_done
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger_row_index_done
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate_ledger();

-- Index one sealed move, once: the claim on ledger_row_index_done makes a second caller wait
-- for the first and then find the move done.
CREATE FUNCTION ledger_index_rows(move bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    written bigint := 0;
BEGIN
    INSERT INTO ledger_row_index_done (move_id) SELECT id FROM ledger_move WHERE id = move
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    INSERT INTO ledger_row_index (table_name, row_pk, change_id, entry_id)
    SELECT c.table_name, u.pk, c.id, c.id + u.ord - 1
    FROM ledger_change c CROSS JOIN LATERAL unnest(c.pks) WITH ORDINALITY AS u(pk, ord)
    WHERE c.move_id = move;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION ledger_index_rows(bigint) SET search_path = %I, pg_temp',
                   current_schema());
END $$;
"""

DROP_ROW_INDEX_V1 = """
DROP FUNCTION IF EXISTS ledger_index_rows(bigint);
DROP TRIGGER IF EXISTS ledger_append_only ON ledger_row_index;
DROP TRIGGER IF EXISTS ledger_no_truncate ON ledger_row_index;
DROP TRIGGER IF EXISTS ledger_append_only ON ledger_row_index_done;
DROP TRIGGER IF EXISTS ledger_no_truncate ON ledger_row_index_done;
"""

TABLES = ("ledger_row_index", "ledger_row_index_done")


def index_missing(using: str = "default") -> int:
    """Index every sealed move the row index lacks, each in a transaction of its own.

    Returns:
        The entries indexed.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ledger_move m WHERE NOT EXISTS "
            "(SELECT 1 FROM ledger_row_index_done d WHERE d.move_id = m.id) ORDER BY id"
        )
        missing = [row[0] for row in cursor.fetchall()]
    written = 0
    for move_id in missing:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("SELECT ledger_index_rows(%s)", [move_id])
            written += cursor.fetchone()[0]
    return written
