"""Group deployments' captures into events (sessions), set-based.

Antenna's ``group_images_into_events`` (branch ``main``) loads every timestamp into Python, splits
them where the gap exceeds the project's ``session_time_gap_seconds``, then does a get-or-create
and an UPDATE per group. The same semantics here take a fixed number of statements:

1. one statement with data-modifying CTEs: ``lag`` over the ordered captures marks each gap
   larger than the session gap, a running ``sum`` numbers the groups, each group's ``group_by``
   is the ISO date of its first capture, ``INSERT ... ON CONFLICT (deployment_id, group_by) DO
   UPDATE`` finds or creates one event per date, and one ``UPDATE ... FROM`` sets the captures'
   ``event_id``;
2. occurrences pointing at events left without captures follow the event of their earliest
   detection's capture (Antenna's ORM delete would only set them to NULL and drop them from
   every "with an event" count);
3. events of the deployment left without captures are deleted;
4. the cached fields of the deployment, its events and captures are recomputed
   (``ami.main.cached_fields``, three statements);
5. the resulting events are loaded.

Captures without a timestamp keep their event, as in Antenna. ``regroup_events`` runs the same
statements for any number of deployments at once (each with its own project's gap);
``group_images_into_events`` is the one-deployment form Antenna callers know.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import connection, transaction

from ami.main.cached_fields import refresh_cached_fields

if TYPE_CHECKING:
    from ami.main.models import Deployment, Event

# Antenna takes the calendar date of the first capture; timestamps are stored in UTC. Every
# window is partitioned by deployment, so one statement groups any number of deployments.
_GROUP_CAPTURES = """
WITH settings AS (
    SELECT dp.id AS deployment_id, dp.project_id,
        COALESCE(%(gap)s::interval,
                 make_interval(secs => COALESCE(p.session_time_gap_seconds, %(default_gap)s)))
            AS gap
    FROM main_deployment dp LEFT JOIN main_project p ON p.id = dp.project_id
    WHERE dp.id = ANY(%(deployment_ids)s)
), marked AS (
    SELECT s.id, s.deployment_id, s.timestamp,
        CASE WHEN s.timestamp - lag(s.timestamp) OVER w > st.gap THEN 1 ELSE 0 END AS is_break
    FROM main_sourceimage s JOIN settings st ON st.deployment_id = s.deployment_id
    WHERE s.timestamp IS NOT NULL
    WINDOW w AS (PARTITION BY s.deployment_id ORDER BY s.timestamp, s.id)
), numbered AS (
    SELECT id, deployment_id, timestamp,
        sum(is_break) OVER (PARTITION BY deployment_id ORDER BY timestamp, id
                            ROWS UNBOUNDED PRECEDING) AS grp
    FROM marked
), grouped AS (
    SELECT id, deployment_id, timestamp,
        ((min(timestamp) OVER (PARTITION BY deployment_id, grp)) AT TIME ZONE 'UTC')::date::text
            AS group_by
    FROM numbered
), upserted AS (
    INSERT INTO main_event (
        created_at, updated_at, project_id, deployment_id, group_by, start, "end"
    )
    SELECT now(), now(), st.project_id, st.deployment_id, g.group_by,
        min(g.timestamp), max(g.timestamp)
    FROM grouped g JOIN settings st ON st.deployment_id = g.deployment_id
    GROUP BY st.project_id, st.deployment_id, g.group_by
    ON CONFLICT (deployment_id, group_by) DO UPDATE SET
        project_id = EXCLUDED.project_id,
        start = EXCLUDED.start,
        "end" = EXCLUDED."end",
        updated_at = now()
    RETURNING id, deployment_id, group_by
), assigned AS (
    UPDATE main_sourceimage s SET event_id = u.id
    FROM grouped g
    JOIN upserted u ON u.deployment_id = g.deployment_id AND u.group_by = g.group_by
    WHERE s.id = g.id AND s.event_id IS DISTINCT FROM u.id
    RETURNING s.id
)
SELECT u.id FROM upserted u ORDER BY u.deployment_id, u.group_by
"""
"""Writes ``main_event`` (insert or update) and ``main_sourceimage.event_id``."""

_EMPTY_EVENTS = """
    SELECT e.id FROM main_event e
    WHERE e.deployment_id = ANY(%(deployment_ids)s)
      AND NOT EXISTS (SELECT 1 FROM main_sourceimage s WHERE s.event_id = e.id)
"""

_REPOINT_OCCURRENCES = f"""
UPDATE main_occurrence o SET event_id = (
    SELECT s.event_id FROM main_detection d
    JOIN main_sourceimage s ON s.id = d.source_image_id
    WHERE d.occurrence_id = o.id AND s.event_id IS NOT NULL
    ORDER BY s.timestamp, s.id LIMIT 1
)
WHERE o.event_id IN ({_EMPTY_EVENTS})
"""
"""Writes ``main_occurrence.event_id`` for occurrences of events about to be deleted."""

_DELETE_EMPTY_EVENTS = f"DELETE FROM main_event WHERE id IN ({_EMPTY_EVENTS})"
"""Deletes the deployments' events that no capture points at."""


_NEEDS_REGROUP = """
SELECT dp.captures_count IS DISTINCT FROM (
        SELECT count(*) FROM main_sourceimage WHERE deployment_id = dp.id)
    OR EXISTS (
        SELECT 1 FROM main_sourceimage s LEFT JOIN main_event e ON e.id = s.event_id
        WHERE s.deployment_id = dp.id AND (
            s.event_id IS NULL
            OR e.deployment_id IS DISTINCT FROM dp.id
            OR s.updated_at > COALESCE(
                (SELECT max(updated_at) FROM main_event WHERE deployment_id = dp.id),
                dp.updated_at, '-infinity')))
FROM main_deployment dp WHERE dp.id = %(id)s
"""


def deployment_events_need_update(deployment_id: int) -> bool:
    """Antenna's test for "this deployment's captures need regrouping", in one query.

    True when the cached ``captures_count`` differs from the number of captures, or a capture
    has no event, belongs to another deployment's event, or was updated after the deployment's
    events last were. Like Antenna's, it does not notice deleted captures.
    """
    with connection.cursor() as cursor:
        cursor.execute(_NEEDS_REGROUP, {"id": deployment_id})
        row = cursor.fetchone()
    return bool(row and row[0])


def _default_gap_seconds() -> int:
    from ami.main.models import Project

    return int(Project._meta.get_field("session_time_gap_seconds").get_default())


def regroup_events(
    deployment_ids: Iterable[int], max_time_gap: datetime.timedelta | None = None
) -> list[int]:
    """Group the captures of several deployments into events and refresh the cached fields.

    The same statements as ``group_images_into_events``, for any number of deployments: each
    deployment is grouped with its own project's session gap, unless ``max_time_gap`` is given.

    Args:
        deployment_ids: the deployments to regroup; unknown ids are ignored.
        max_time_gap: overrides every project's ``session_time_gap_seconds``.

    Returns:
        Ids of the events holding timestamped captures, by deployment then date.
    """
    ids = sorted({int(pk) for pk in deployment_ids})
    if not ids:
        return []
    params = {
        "deployment_ids": ids,
        "gap": max_time_gap,
        "default_gap": _default_gap_seconds(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_GROUP_CAPTURES, params)
        event_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(_REPOINT_OCCURRENCES, params)
        cursor.execute(_DELETE_EMPTY_EVENTS, params)
        refresh_cached_fields(ids)
    return event_ids


def group_images_into_events(
    deployment: Deployment, max_time_gap: datetime.timedelta | None = None
) -> list[Event]:
    """Group the deployment's captures into events and refresh the cached fields.

    Works inside an outer transaction (it runs in a savepoint there). The number of statements
    does not depend on the number of captures.

    Args:
        deployment: the deployment whose captures are grouped. Its project (read in SQL, not
            from the instance) gives the events' project and the session gap.
        max_time_gap: overrides the project's ``session_time_gap_seconds``. A gap strictly
            larger than this starts a new group.

    Returns:
        The events that now hold the deployment's timestamped captures, ordered by date.
    """
    from ami.main.models import Event

    event_ids = regroup_events([deployment.pk], max_time_gap)
    return list(Event.objects.filter(pk__in=event_ids).order_by("start", "pk"))
