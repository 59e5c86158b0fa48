"""Hash, rather than probe, where a statement reads a large part of a table by the move's keys.

The replay and its checks reach a table's rows through ``unnest(pks)`` of the move's change
groups. Postgres estimates such an unnest at ten rows whatever the array holds, so it probes
the primary key once per key: right for a few rows, slow for a move that re-tagged most of a
table (an index descent per key, through every version a recent move left beside each row).
Where the keys are a quarter or more of the table, one sequential scan hashed against them
reads it faster (at ``bci``: the replay's reads of its three large tables 30% less, the check
that rows hold their before-values 0.21 s -> 0.10 s), given the memory to hash the keys in one
batch (at ``bci10``: a revert 54 s -> 49 s).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

# Keys at least this part of the table's rows (``pg_class.reltuples``): hashed.
LARGE_PART = 0.25
# Fewer keys than this are probed whatever the table (the size is not even looked up).
FEW = 1000
# Memory the hash of the keys is given: this much per key (a replayed key takes about 76
# bytes in the hash, its group's recorded values included; hash_mem_multiplier doubles it by
# default), up to the cap, never less than the session's work_mem.
WORK_MEM_PER_KEY = 128
WORK_MEM_CAP_KB = 256 * 1024


@contextlib.contextmanager
def hashed_where_large(cursor: Cursor, table: str, rows: int) -> Iterator[bool]:
    """Within the block, no nested loop where ``rows`` keys are a large part of ``table``.

    Yields whether it applies. Nested loops are turned off (and JIT with them: disabled paths
    cost enough to pass its threshold, and compiling costs more than it saves), and work_mem
    raised so the hash of the keys fits in memory (``WORK_MEM_PER_KEY``, at most
    ``WORK_MEM_CAP_KB``: at ``bci10`` the 730k keys of the captures spilled in 8 batches
    under the default 4 MB, and their replay took 15 s instead of 11 s); all are set back as
    found once the block ends. A block that raises leaves them to the rollback that follows
    (the transaction can run nothing more), as ``set_config(..., true)`` does.
    """
    if rows < FEW:
        yield False
        return
    cursor.execute(
        "SELECT reltuples FROM pg_class WHERE oid = to_regclass(quote_ident(%s))", [table]
    )
    found = cursor.fetchone()
    # reltuples is -1 until the table is first analysed: nothing known, nothing changed.
    if found is None or found[0] <= 0 or rows < LARGE_PART * found[0]:
        yield False
        return
    needed_kb = min(rows * WORK_MEM_PER_KEY // 1024 + 1, WORK_MEM_CAP_KB)
    cursor.execute(
        "SELECT current_setting('enable_nestloop'), current_setting('jit'), "
        "current_setting('work_mem'), "
        "set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true), "
        "set_config('work_mem', greatest(%s, (SELECT setting::bigint FROM pg_settings "
        "WHERE name = 'work_mem')) || 'kB', true)",
        [needed_kb],
    )
    nestloop, jit, work_mem, *_ = cursor.fetchone()
    yield True
    cursor.execute(
        "SELECT set_config('enable_nestloop', %s, true), set_config('jit', %s, true), "
        "set_config('work_mem', %s, true)",
        [nestloop, jit, work_mem],
    )
