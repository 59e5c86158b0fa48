"""The domain's invariants over whole projects, checked after a revert before it commits.

The move checks its own rows against its plan (``ami.move.checks``); a revert has no plan of
its own and may skip drifted rows, carry new ones, or run months later with other work done
since. So after the replay it checks the state itself, over both projects of the move and the
moved deployments wherever they are now:

- ``rows-follow-deployment``: every event, capture, occurrence and job of a moved deployment
  is in the deployment's project, and so is the occurrence of every detection on its captures
  (a split state, such as a deployment kept in the target while its rows went back, or a row a
  racing writer inserted with the stale project). A table whose project-follows-deployment
  key holds (``ami.main.consistency``, validated) is not scanned: no row of it can commit
  split, and the seal's check of the deferred keys refuses the revert naming the key;
- ``deployment-resources``: no deployment of either project points at a device, site or
  storage source of the other one because of the revert;
- ``job-cross-links``: no job of either project points at a collection, export or capture
  (``source_image_single``) of the other one because of the revert, as the move's check of
  that name forbids.

"Because of the revert": Antenna data may hold such a pair from before the move (a station on
another project's device, which the move's plan leaves as it is; rows a station had in another
project). A revert that restores both rows of a pair to their recorded before-projects brings
back what was there; a pair where one row did not get its before-project back (skipped, or
changed under the revert), or a row the move never wrote that joined the moved rows, fails.
So does a moved station or job pointing at a row of the project the data leave that it did
not point at when the move ran: the move records what they pointed at, under its locks
(``resources_of``, ``job_links_across``), as a later link is no drift where the move never
wrote the column, and ``--skip-drifted`` keeps it where it did.

Each check is one set-based statement whatever the size of the projects (two where the first,
read without the move's keys, finds a row: see ``_screened``); a failure names the deployment
(or job) and sample ids, and rolls the revert back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ami.main import consistency
from ami.move.plan import RESOURCES
from ami.move.sql import rows as _rows
from ledger.replay import CheckOutcome

SAMPLE = 5


# The exceptions of every check rest on the replayed move's keys (``pg_temp.ami_move_keys``,
# ``ami.move.references.load_keys``). Each check is read first with the keys left out (a row
# "restored" never, "not restored" and "touched" always): that finds every row the full check
# can find, and more. Only where it finds any are the keys of the tables involved loaded and
# the check read again in full, so a revert whose projects hold no split pair never copies
# the keys of its captures.


# A row the replayed move re-tagged and that holds its recorded before-project again: the
# revert restored it exactly.
def _restored(table: str, alias: str, keyed: bool) -> str:
    if not keyed:
        return "FALSE"
    return (
        f"EXISTS (SELECT 1 FROM pg_temp.ami_move_keys k WHERE k.table_name = '{table}' "
        f"AND k.pk = {alias}.id::text AND k.before_project IS NOT DISTINCT FROM "
        f"{alias}.project_id::text)"
    )


# A row the replayed move re-tagged that does not hold its recorded before-project (a drifted
# row the revert skipped, or one changed under it).
def _not_restored(table: str, alias: str, keyed: bool) -> str:
    if not keyed:
        return "TRUE"
    return (
        f"EXISTS (SELECT 1 FROM pg_temp.ami_move_keys k WHERE k.table_name = '{table}' "
        f"AND k.pk = {alias}.id::text AND k.before_project IS NOT NULL "
        f"AND k.before_project IS DISTINCT FROM {alias}.project_id::text)"
    )


def _touched(table: str, alias: str, keyed: bool) -> str:
    if not keyed:
        return "TRUE"
    return (
        f"EXISTS (SELECT 1 FROM pg_temp.ami_move_keys k WHERE k.table_name = '{table}' "
        f"AND k.pk = {alias}.id::text AND k.moved)"
    )


_SPLIT_TABLES = ("main_event", "main_sourceimage", "main_occurrence", "jobs_job")

# Rows of the moved deployments in another project than their deployment, chosen by the
# deployment column of the row's own table (the planner does not carry `= ANY` across a
# join: filtered on dep.id, a check of one small station read every capture, detection and
# occurrence of the platform: 0.48 s against 0.15 s at bci10). Allowed only where
# both were re-tagged by the move and hold their before-projects again (such a row was in
# another project than its deployment before the move, as Antenna data can be): a new row (a
# racing writer's, with the stale project) or a deployment the revert left must agree.
_SPLIT = """
SELECT '{table}', dep.id, dep.project_id, count(*), (array_agg(x.id ORDER BY x.id))[1:%(n)s],
    array_agg(DISTINCT x.project_id)
FROM {table} x JOIN main_deployment dep ON dep.id = x.deployment_id
WHERE x.deployment_id = ANY(%(d)s) AND x.project_id IS DISTINCT FROM dep.project_id
AND NOT ({restored_x} AND {restored_dep})
GROUP BY dep.id, dep.project_id"""


def _rows_split(keyed: bool, tables: Collection[str] = _SPLIT_TABLES) -> str:
    return (
        "".join(
            _SPLIT.format(
                table=table,
                restored_x=_restored(table, "x", keyed),
                restored_dep=_restored("main_deployment", "dep", keyed),
            )
            + " UNION ALL "
            for table in tables
        )
        + f"""
SELECT 'main_detection', dep.id, dep.project_id, count(*),
    (array_agg(x.id ORDER BY x.id))[1:%(n)s], array_agg(DISTINCT o.project_id)
FROM main_detection x JOIN main_sourceimage si ON si.id = x.source_image_id
JOIN main_deployment dep ON dep.id = si.deployment_id
JOIN main_occurrence o ON o.id = x.occurrence_id
WHERE si.deployment_id = ANY(%(d)s) AND o.project_id IS DISTINCT FROM dep.project_id
AND NOT ({_restored("main_occurrence", "o", keyed)}
         AND {_restored("main_deployment", "dep", keyed)})
GROUP BY dep.id, dep.project_id
ORDER BY 2, 1
"""
    )


# Deployments of either project pointing at a resource of the other one (pointing at another
# project's device, as the move's plan leaves it, is allowed: it was so before the move),
# where:
# - the move re-tagged one of them and the revert did not restore it;
# - a moved deployment points at another resource than at the move (``resources``: what the
#   move recorded under its locks; a move recorded before it has none, and the clause holds
#   for none): the station was given a device of the project the data leave since, and the
#   revert takes the station back without it (``--skip-drifted`` keeps a later device_id);
# - a deployment the move never wrote, in the project the data leave, points at a resource
#   the move re-tagged: it came after the move, and the revert takes the resource back.
def _resource_split(keyed: bool) -> str:
    return " UNION ALL ".join(
        f"""
SELECT '{kind}', d.id, d.project_id, r.id, r.project_id
FROM main_deployment d JOIN {table} r ON r.id = d.{fk}
WHERE (d.project_id = ANY(%(p)s) OR d.id = ANY(%(d)s)) AND r.project_id = ANY(%(p)s)
AND r.project_id <> d.project_id
AND ({_not_restored("main_deployment", "d", keyed)} OR {_not_restored(table, "r", keyed)}
     OR (d.id = ANY(%(d)s) AND %(resources)s::jsonb IS NOT NULL
         AND d.{fk}::text IS DISTINCT FROM %(resources)s::jsonb -> d.id::text ->> '{kind}')
     OR (d.project_id = %(left)s AND NOT {_touched_or_false("main_deployment", "d", keyed)}
         AND {_touched(table, "r", keyed)}))"""
        for kind, table, fk in RESOURCES
    )


def _touched_or_false(table: str, alias: str, keyed: bool) -> str:
    """``_touched`` where the screen, read without the keys, must keep every row: there
    "NOT touched" is read as true."""
    return _touched(table, alias, keyed) if keyed else "FALSE"


_JOB_LINKED = (
    ("source_image_collection", "main_sourceimagecollection", "source_image_collection_id"),
    ("data_export", "exports_dataexport", "data_export_id"),
    ("source_image_single", "main_sourceimage", "source_image_single_id"),
)

# Jobs of either project pointing at a collection, export or capture of the other one: where
# the move re-tagged one of the two and the revert did not restore it; where a job the move
# never wrote, in the project the data left, points at a row the move re-tagged (it came after
# the move, and the revert would leave it across projects); or where a job the move re-tagged
# points at a row of the project the data leave and did not when the move ran
# (``job_links_across``, recorded by the move; a move recorded before it has none, and the
# clause holds for none): it was pointed there since, and the revert takes the job back.
_JOB_LINK = """
SELECT j.id, j.project_id, '{link}', r.id, r.project_id
FROM jobs_job j JOIN {table} r ON r.id = j.{fk}
WHERE j.project_id = ANY(%(p)s) AND r.project_id = ANY(%(p)s) AND r.project_id <> j.project_id
AND ({not_restored_j} OR {not_restored_r}
     OR (j.project_id = %(to)s AND NOT {touched_j} AND {touched_r})
     OR (%(across)s::jsonb IS NOT NULL AND r.project_id = %(to)s AND {moved_j}
         AND NOT %(across)s::jsonb
             @> jsonb_build_array(jsonb_build_array(j.id, '{link}', r.id))))"""


def _job_links(keyed: bool) -> str:
    return (
        " UNION ALL ".join(
            _JOB_LINK.format(
                link=link,
                table=table,
                fk=fk,
                not_restored_j=_not_restored("jobs_job", "j", keyed),
                not_restored_r=_not_restored(table, "r", keyed),
                touched_j=_touched_or_false("jobs_job", "j", keyed),
                touched_r=_touched(table, "r", keyed),
                moved_j=_touched("jobs_job", "j", keyed),
            )
            for link, table, fk in _JOB_LINKED
        )
        + " ORDER BY 1, 3"
    )


LoadKeys = Callable[[Collection[str]], object]


def _screened(
    query: Callable[[bool], str],
    params: dict[str, object],
    tables: Collection[str],
    keys: LoadKeys,
) -> list[tuple[Any, ...]]:
    """The rows of ``query(keyed=True)``, read without the keys first (see above)."""
    if not _rows(query(False), params):
        return []
    keys(tables)
    return _rows(query(True), params)


def _outcome(name: str, failures: list[str], ok_detail: str) -> CheckOutcome:
    shown = failures[:SAMPLE]
    more = f"; and {len(failures) - SAMPLE} more" if len(failures) > SAMPLE else ""
    return CheckOutcome(
        name=name, ok=not failures, detail="; ".join(shown) + more if failures else ok_detail
    )


def rows_follow_deployment(
    projects: list[int], deployments: list[int], keys: LoadKeys
) -> CheckOutcome:
    """Every row of a deployment (events, captures, occurrences, jobs, the occurrences of the
    detections on its captures) is in the deployment's project."""
    params: dict[str, object] = {"p": projects, "d": deployments, "n": SAMPLE}
    # Where the database's key holds, the seal's check of deferred keys stands in for the
    # scan (at bci, 90 of its 140 ms right after a move, its rows' old versions not yet
    # vacuumed). A key added NOT VALID does not vouch for the rows written before it.
    enforced = {table for table, state in consistency.installed().items() if state == "valid"}
    scanned = tuple(table for table in _SPLIT_TABLES if table not in enforced)
    # The detections' part reads the occurrences' keys whatever is scanned.
    tables = {*scanned, "main_occurrence", "main_deployment"}
    failures = [
        f"deployment {dep} is in project {project} but {count} {table} row(s) of it are in "
        f"project {', '.join(map(str, elsewhere))} (e.g. {', '.join(map(str, sample))})"
        for table, dep, project, count, sample, elsewhere in _screened(
            lambda keyed: _rows_split(keyed, scanned), params, tables, keys
        )
    ]
    by_keys = ", ".join(table for table in _SPLIT_TABLES if table in enforced)
    return _outcome(
        "rows-follow-deployment",
        failures,
        "every row of the moved deployments is in its deployment's project"
        + (f" ({by_keys}: by the database's keys)" if by_keys else ""),
    )


def deployment_resources(
    projects: list[int],
    left: int,
    deployments: list[int],
    keys: LoadKeys,
    resources: dict[str, dict[str, int | None]] | None = None,
) -> CheckOutcome:
    """No deployment points at a device, site or storage source of the move's other project
    because of the revert (``left``: the project the data leave; ``resources``: each moved
    deployment's resources when the move ran, as ``resources_of`` gives them)."""
    tables = ("main_deployment", *(table for _kind, table, _fk in RESOURCES))
    params = {
        "p": projects,
        "d": deployments,
        "left": left,
        "resources": None if resources is None else json.dumps(resources),
    }
    failures = [
        f"deployment {dep} is in project {project} but its {kind} {rid} is in project {owner}"
        for kind, dep, project, rid, owner in _screened(_resource_split, params, tables, keys)
    ]
    return _outcome(
        "deployment-resources",
        failures,
        "no deployment points at a device, site or storage source of the other project "
        "unless it did when the move ran",
    )


def job_cross_links(
    projects: list[int], left: int, keys: LoadKeys, across: list[list[Any]] | None = None
) -> CheckOutcome:
    """No job of either project points at a collection, export or capture of the other
    because of the revert (``left``: the project the data leave; ``across``: the moved jobs'
    links to another project's rows when the move ran, as ``job_links_across`` gives them)."""
    tables = ("jobs_job", *(table for _link, table, _fk in _JOB_LINKED))
    params = {
        "p": projects,
        "to": left,
        "across": None if across is None else json.dumps(across),
    }
    failures = [
        f"job {job} of project {project} references {link} {rid} of project {owner}"
        for job, project, link, rid, owner in _screened(_job_links, params, tables, keys)
    ]
    return _outcome(
        "job-cross-links",
        failures,
        "no job of either project references a collection, export or capture of the other "
        "unless it did when the move ran",
    )


def project_invariants(
    back: int,
    left: int,
    deployments: list[int],
    keys: LoadKeys,
    at_move: Mapping[str, Any] | None = None,
) -> list[CheckOutcome]:
    """Every invariant over both projects of a move and its deployments: ``back`` the project
    the revert takes the data back to, ``left`` the one they leave. ``keys(tables)`` puts the
    replayed move's keys of those tables in ``pg_temp.ami_move_keys``
    (``ami.move.references.load_keys``), called only where a check needs them; ``at_move``
    is what the move recorded of the links its rows had (``deployment_resources``,
    ``job_links_across`` in its arguments; None, or either missing, for a move without)."""
    projects = [back, left]
    recorded = at_move or {}
    return [
        rows_follow_deployment(projects, deployments, keys),
        deployment_resources(
            projects, left, deployments, keys, recorded.get("deployment_resources")
        ),
        job_cross_links(projects, left, keys, recorded.get("job_links_across")),
    ]


def job_links_across(deployments: Collection[int], jobs: Collection[int]) -> list[list[Any]]:
    """``[job, link, row]`` for each link of the jobs a move re-tags (those of ``deployments``,
    and the project-level ``jobs``) to a collection, export or capture of another project:
    what a move records under its locks, so that its revert can tell a link it had before
    (Antenna data may hold one) from one made since. Usually none."""
    sql = " UNION ALL ".join(
        f"""
SELECT j.id, '{link}', r.id FROM jobs_job j JOIN {table} r ON r.id = j.{fk}
WHERE (j.deployment_id = ANY(%(d)s) OR j.id = ANY(%(j)s))
AND r.project_id IS DISTINCT FROM j.project_id"""
        for link, table, fk in _JOB_LINKED
    )
    found = _rows(sql + " ORDER BY 1, 2, 3", {"d": list(deployments), "j": list(jobs)})
    return [[job, link, row] for job, link, row in found]


def resources_of(deployments: Collection[int]) -> dict[str, dict[str, int | None]]:
    """Each deployment's storage source, device and site, by id (kinds as ``RESOURCES``
    names them): what a move records under its locks, so that its revert can tell a
    deployment given another project's resource since from one that had it before."""
    columns = ", ".join(fk for _kind, _table, fk in RESOURCES)
    found = _rows(
        f"SELECT id, {columns} FROM main_deployment WHERE id = ANY(%(d)s) ORDER BY id",
        {"d": list(deployments)},
    )
    return {
        str(dep): {kind: rid for (kind, _t, _fk), rid in zip(RESOURCES, ids, strict=True)}
        for dep, *ids in found
    }
