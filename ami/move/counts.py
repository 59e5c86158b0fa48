"""Grouped aggregate queries shared by the plan and the checks.

Each function is one query whatever the number of rows: counts grow with data, queries do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

from ami.move.structs import ProjectTotals

# Tables with their own deployment_id and project_id (what the move-* steps retag).
DIRECT = (
    ("events", "main_event"),
    ("source_images", "main_sourceimage"),
    ("occurrences", "main_occurrence"),
    ("jobs", "jobs_job"),
)

# One pass per table, grouped by deployment. ``retag``: rows whose project_id differs from the
# target (what the move-* steps change); ``foreign``: rows not in the source project.
_DIRECT_COUNTS = """
SELECT '{kind}', deployment_id, count(*),
    count(*) FILTER (WHERE project_id IS DISTINCT FROM %(t)s),
    count(*) FILTER (WHERE project_id IS DISTINCT FROM %(s)s)
FROM {table} WHERE deployment_id = ANY(%(d)s) GROUP BY deployment_id
"""
# Rows without a project of their own, counted through the captures and occurrences they
# hang off: (kind, table, query).
INDIRECT = (
    (
        "detections",
        "main_detection",
        """
SELECT 'detections', si.deployment_id, count(*), 0, 0
FROM main_detection de JOIN main_sourceimage si ON si.id = de.source_image_id
WHERE si.deployment_id = ANY(%(d)s) GROUP BY si.deployment_id
""",
    ),
    (
        "classifications",
        "main_classification",
        """
SELECT 'classifications', si.deployment_id, count(*), 0, 0
FROM main_classification c
JOIN main_detection de ON de.id = c.detection_id
JOIN main_sourceimage si ON si.id = de.source_image_id
WHERE si.deployment_id = ANY(%(d)s) GROUP BY si.deployment_id
""",
    ),
    (
        "identifications",
        "main_identification",
        """
SELECT 'identifications', o.deployment_id, count(*), 0, 0
FROM main_identification i JOIN main_occurrence o ON o.id = i.occurrence_id
WHERE o.deployment_id = ANY(%(d)s) GROUP BY o.deployment_id
""",
    ),
)
# The table of each indirect kind.
INDIRECT_TABLES = {kind: table for kind, table, _query in INDIRECT}
_QUERIES = {
    **{kind: _DIRECT_COUNTS.format(kind=kind, table=table) for kind, table in DIRECT},
    **{kind: query for kind, _table, query in INDIRECT},
}

COUNTED = (
    "events",
    "source_images",
    "occurrences",
    "detections",
    "classifications",
    "identifications",
    "jobs",
)
RETAGGED = tuple(kind for kind, _ in DIRECT)

_PROJECT_TOTALS = "UNION ALL".join(
    f"""
SELECT '{kind}', project_id, count(*) FROM {table}
WHERE project_id = ANY(%(p)s) GROUP BY project_id
"""
    for kind, table in (("deployments", "main_deployment"), *DIRECT)
)

# Project ids are positive, so 0 stands for "a project that does not exist yet".
NO_PROJECT = 0


def deployment_counts(
    deployment_ids: Sequence[int],
    source_id: int,
    target_id: int | None,
    kinds: Sequence[str] = COUNTED,
) -> tuple[dict[int, dict[str, int]], dict[str, int], dict[str, int]]:
    """Count the rows hanging off each deployment, of ``kinds`` (every kind of ``COUNTED``
    by default; the others are left at 0), in one query.

    Returns:
        (counts per deployment id and kind, rows to retag per kind, rows outside the source
        project per kind).
    """
    per_dep: dict[int, dict[str, int]] = {d: dict.fromkeys(COUNTED, 0) for d in deployment_ids}
    retag = dict.fromkeys(RETAGGED, 0)
    foreign = dict.fromkeys(RETAGGED, 0)
    params: dict[str, Any] = {
        "d": list(deployment_ids),
        "s": source_id,
        "t": target_id or NO_PROJECT,
    }
    with connection.cursor() as cur:
        cur.execute("UNION ALL".join(_QUERIES[kind] for kind in kinds), params)
        for kind, dep_id, n, n_retag, n_foreign in cur.fetchall():
            per_dep[dep_id][kind] = n
            if kind in retag:
                retag[kind] += n_retag
                foreign[kind] += n_foreign
    return per_dep, retag, foreign


def project_totals(project_ids: Sequence[int | None]) -> dict[int, ProjectTotals]:
    """Rows per project by ``project_id``; projects with no rows get zeros."""
    ids = [p for p in project_ids if p]
    found: dict[int, dict[str, int]] = {p: {} for p in ids}
    if ids:
        with connection.cursor() as cur:
            cur.execute(_PROJECT_TOTALS, {"p": ids})
            for kind, project_id, n in cur.fetchall():
                found[project_id][kind] = n
    return {p: ProjectTotals(**values) for p, values in found.items()}
