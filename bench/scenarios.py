"""The bare-SQL work the benchmark compares the ledger against; runs inside ``bench.probe``.

- ``run_floor(plan)``: the row changes of a move, as bare statements in one transaction, with
  no ledger recording, no plan, no locks, no validation and no cached-field refresh. The
  plan is the ``--format json`` dry run of the move being measured, so the floor changes the
  same rows: the shared S3 source, device and site clones and reassignments, the deployments'
  project and FKs, ``project_id`` of their events, captures, occurrences and jobs, and each
  source collection (reassigned; split: a copy of the collection row and its moved images'
  link rows re-pointed with one ``UPDATE``, as ``ami/move/steps/collections.py`` does since
  136d398; or emptied of the moved images with ``DELETE ... USING``).
  Not in the floor: the few dozen rows of pipeline configs, service and taxa links, members,
  roles and default settings, and job reference clean-up (O(1) in the data size).
- ``run_writes()``: ordinary application writes, no move: bulk insert 100k detections and 100k
  classifications (copies of existing rows), bulk update 100k occurrences. Each in its own
  transaction, timed from BEGIN to the end of COMMIT.
"""

from __future__ import annotations

import time

from django.db import connection, transaction
from psycopg2 import sql

WRITE_ROWS = 100_000

_RESOURCES = {
    "s3": ("main_s3storagesource", "data_source_id"),
    "device": ("main_device", "device_id"),
    "site": ("main_site", "research_site_id"),
}

_RETAG = (
    "UPDATE {table} SET project_id = %(t)s"
    " WHERE deployment_id = ANY(%(d)s) AND project_id IS DISTINCT FROM %(t)s"
)
_RETAG_JOBS = (
    "UPDATE jobs_job SET project_id = %(t)s WHERE (deployment_id = ANY(%(d)s) OR id = ANY(%(j)s))"
    " AND project_id IS DISTINCT FROM %(t)s"
)
_COLLECTION_REASSIGN = (
    "UPDATE main_sourceimagecollection SET project_id = %(t)s, updated_at = now() WHERE id = %(c)s"
)
_COLLECTION_REPOINT_IMAGES = """
UPDATE main_sourceimagecollection_images ci SET sourceimagecollection_id = %(new)s
FROM main_sourceimage si
WHERE si.id = ci.sourceimage_id AND ci.sourceimagecollection_id = %(c)s
AND si.deployment_id = ANY(%(d)s)
"""
_COLLECTION_REMOVE_IMAGES = """
DELETE FROM main_sourceimagecollection_images ci USING main_sourceimage si
WHERE si.id = ci.sourceimage_id AND ci.sourceimagecollection_id = %(c)s
AND si.deployment_id = ANY(%(d)s)
"""
_MOVE_DEPLOYMENTS = """
UPDATE main_deployment d SET project_id = %(t)s, updated_at = now(),
    data_source_id = COALESCE((SELECT n FROM unnest(%(s3_o)s::bigint[], %(s3_n)s::bigint[])
        AS m(o, n) WHERE m.o = d.data_source_id), d.data_source_id),
    device_id = COALESCE((SELECT n FROM unnest(%(device_o)s::bigint[], %(device_n)s::bigint[])
        AS m(o, n) WHERE m.o = d.device_id), d.device_id),
    research_site_id = COALESCE((SELECT n FROM unnest(%(site_o)s::bigint[],
        %(site_n)s::bigint[]) AS m(o, n) WHERE m.o = d.research_site_id), d.research_site_id)
WHERE d.id = ANY(%(d)s)
"""


def _columns(cur, table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND column_name <> 'id' ORDER BY ordinal_position",
        [table],
    )
    return [row[0] for row in cur.fetchall()]


def _copy_row(cur, table: str, row_id: int, target: int) -> int:
    """INSERT a copy of one row with ``project_id`` set to the target; returns the new id."""
    cols = _columns(cur, table)
    values = [sql.Placeholder("t") if c == "project_id" else sql.Identifier(c) for c in cols]
    query = sql.SQL(
        "INSERT INTO {t} ({cols}) SELECT {vals} FROM {t} WHERE id = %(r)s RETURNING id"
    )
    cur.execute(
        query.format(
            t=sql.Identifier(table),
            cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
            vals=sql.SQL(", ").join(values),
        ).as_string(cur.connection),
        {"t": target, "r": row_id},
    )
    return cur.fetchone()[0]


def _floor_resources(cur, plan: dict, target: int) -> dict[str, object]:
    maps: dict[str, object] = {}
    for kind, (table, _column) in _RESOURCES.items():
        old, new = [], []
        for r in plan["resources"]:
            if r["kind"] != kind:
                continue
            if r["action"] == "clone":
                old.append(r["resource_id"])
                new.append(_copy_row(cur, table, r["resource_id"], target))
            elif r["action"] == "reassign":
                cur.execute(
                    sql.SQL("UPDATE {} SET project_id = %s WHERE id = %s")
                    .format(sql.Identifier(table))
                    .as_string(cur.connection),
                    [target, r["resource_id"]],
                )
        maps[f"{kind}_o"], maps[f"{kind}_n"] = old, new
    return maps


def _floor_collections(cur, plan: dict, params: dict) -> None:
    for c in plan["collections"]:
        p = {**params, "c": c["collection_id"]}
        if c["action"] == "reassign":
            cur.execute(_COLLECTION_REASSIGN, p)
            continue
        if c["action"] == "split":
            p["new"] = _copy_row(cur, "main_sourceimagecollection", c["collection_id"], p["t"])
            cur.execute(_COLLECTION_REPOINT_IMAGES, p)
            continue
        cur.execute(_COLLECTION_REMOVE_IMAGES, p)


def run_floor(plan: dict) -> float:
    """The move's bulk row changes as bare SQL in one transaction; seconds BEGIN..COMMIT."""
    target = plan["target"]["id"]
    deployments = plan["request"]["deployment_ids"]
    project_jobs = [
        j["job_id"] for j in plan["jobs"] if j["deployment_id"] is None and j["action"] == "move"
    ]
    params = {"t": target, "d": deployments, "j": project_jobs}
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        maps = _floor_resources(cur, plan, target)
        cur.execute(_MOVE_DEPLOYMENTS, {**params, **maps})
        for table in ("main_event", "main_sourceimage", "main_occurrence"):
            cur.execute(_RETAG.format(table=table), params)
        cur.execute(_RETAG_JOBS, params)
        _floor_collections(cur, plan, params)
    return time.perf_counter() - start


def _insert_copies(cur, table: str) -> None:
    """INSERT exactly WRITE_ROWS copies of existing rows (repeating them if the table is
    smaller), new ids from the identity column."""
    cols = sql.SQL(", ").join(map(sql.Identifier, _columns(cur, table)))
    query = sql.SQL(
        "INSERT INTO {t} ({cols}) SELECT {cols} FROM {t} "
        "CROSS JOIN generate_series(1, 1 + %(n)s / GREATEST((SELECT count(*) FROM {t}), 1)) "
        "LIMIT %(n)s"
    ).format(t=sql.Identifier(table), cols=cols)
    cur.execute(query.as_string(cur.connection), {"n": WRITE_ROWS})


_UPDATE_OCCURRENCES = """
UPDATE main_occurrence SET determination_score = COALESCE(determination_score, 0) + 0.001,
    updated_at = now()
WHERE id IN (SELECT id FROM main_occurrence ORDER BY id LIMIT %s)
"""


def _update_occurrences(cur) -> None:
    """UPDATE WRITE_ROWS occurrence rows (more passes if the table is smaller; at most 4, so
    the ``tiny`` scale stays a smoke test)."""
    remaining = WRITE_ROWS
    for _ in range(4):
        cur.execute(_UPDATE_OCCURRENCES, [remaining])
        remaining -= max(cur.rowcount, 0)
        if remaining <= 0 or cur.rowcount <= 0:
            return


def run_writes() -> dict[str, float]:
    """Ordinary bulk writes outside any move; seconds per write, BEGIN..COMMIT."""
    work = {
        "insert 100k detections": lambda cur: _insert_copies(cur, "main_detection"),
        "insert 100k classifications": lambda cur: _insert_copies(cur, "main_classification"),
        "update 100k occurrences": _update_occurrences,
    }
    timings = {}
    for label, write in work.items():
        start = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            write(cur)
        timings[label] = time.perf_counter() - start
    return timings
