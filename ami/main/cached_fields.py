"""Set-based recomputation of the cached counts on Deployment, Event and SourceImage.

Antenna recomputes these row by row (``update_calculated_fields`` per event and deployment). Here
each table gets one ``UPDATE ... FROM (aggregate)`` statement whatever the number of rows, so a
move can refresh its deployments inside its own transaction. Filtered counts honour each row's
own project's default filters (``ami.main.filters``); a row without a project is unfiltered.

Rows whose values do not change are not written, so row-level triggers (the ledger) only see
real changes. ``Event.calculated_fields_updated_at`` is therefore stamped only on events whose
values changed (Antenna stamps every recomputed event).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from ami.main.filters import occurrence_default_filters_sql

# How the refreshed deployments are chosen; ``%(ids)s`` is an int array parameter.
_SCOPE_DEPLOYMENTS = "= ANY(%(ids)s)"
_SCOPE_PROJECTS = "IN (SELECT id FROM main_deployment WHERE project_id = ANY(%(ids)s))"

# A detection with a NULL or empty bbox means "processed, nothing found" and is never counted.
_REAL_BBOX = "d.bbox IS NOT NULL AND d.bbox <> '[]'::jsonb"

_IMAGE_VALUES = """
    SELECT s.id, count(d.id) AS n
    FROM main_sourceimage s
    LEFT JOIN main_project p ON p.id = s.project_id
    LEFT JOIN (main_detection d LEFT JOIN main_occurrence o ON o.id = d.occurrence_id)
        ON d.source_image_id = s.id AND {real_bbox} AND {filters_optional}
    WHERE s.{image_key} {scope}
    GROUP BY s.id
"""

_UPDATE_IMAGES = f"""
UPDATE main_sourceimage si SET detections_count = agg.n
FROM ({_IMAGE_VALUES}) agg
WHERE si.id = agg.id AND si.detections_count IS DISTINCT FROM agg.n
"""
"""Writes ``main_sourceimage.detections_count``."""

_EVENT_VALUES = """
    SELECT ev.id,
        COALESCE(cap.n, 0) AS captures_count,
        cap.first_ts, cap.last_ts,
        COALESCE(det.n, 0) AS detections_count,
        COALESCE(occ.n, 0) AS occurrences_count
    FROM main_event ev
    LEFT JOIN (
        SELECT s.event_id, count(*) AS n, min(s.timestamp) AS first_ts,
            max(s.timestamp) AS last_ts
        FROM main_sourceimage s JOIN main_event e2 ON e2.id = s.event_id
        WHERE e2.{event_key} {scope}
        GROUP BY s.event_id
    ) cap ON cap.event_id = ev.id
    LEFT JOIN (
        SELECT e2.id AS event_id, count(DISTINCT d.id) AS n
        FROM main_event e2
        JOIN main_sourceimage s ON s.event_id = e2.id
        JOIN main_detection d ON d.source_image_id = s.id AND {real_bbox}
        LEFT JOIN main_occurrence o ON o.id = d.occurrence_id
        LEFT JOIN main_project p ON p.id = e2.project_id
        WHERE e2.{event_key} {scope} AND {filters_optional}
        GROUP BY e2.id
    ) det ON det.event_id = ev.id
    LEFT JOIN (
        SELECT e2.id AS event_id, count(*) AS n
        FROM main_event e2
        JOIN main_occurrence o ON o.event_id = e2.id
        LEFT JOIN main_project p ON p.id = e2.project_id
        WHERE e2.{event_key} {scope} AND {filters_optional}
        GROUP BY e2.id
    ) occ ON occ.event_id = ev.id
    WHERE ev.{event_key} {scope}
"""

_UPDATE_EVENTS = f"""
UPDATE main_event e SET
    captures_count = agg.captures_count,
    detections_count = agg.detections_count,
    occurrences_count = agg.occurrences_count,
    start = COALESCE(agg.first_ts, e.start),
    "end" = COALESCE(agg.last_ts, e."end"),
    calculated_fields_updated_at = now()
FROM ({_EVENT_VALUES}) agg
WHERE e.id = agg.id AND (
    e.captures_count, e.detections_count, e.occurrences_count, e.start, e."end"
) IS DISTINCT FROM (
    agg.captures_count, agg.detections_count, agg.occurrences_count,
    COALESCE(agg.first_ts, e.start), COALESCE(agg.last_ts, e."end")
)
"""
"""Writes the cached columns of ``main_event``."""

_DEPLOYMENT_VALUES = """
    SELECT dp.id,
        COALESCE(evt.n, 0) AS events_count,
        COALESCE(cap.n, 0) AS captures_count,
        cap.total_size, cap.first_ts, cap.last_ts,
        COALESCE(occ.n, 0) AS occurrences_count,
        COALESCE(occ.taxa, 0) AS taxa_count,
        COALESCE(det.n, 0) AS detections_count
    FROM main_deployment dp
    LEFT JOIN (
        SELECT deployment_id, count(*) AS n FROM main_event
        WHERE deployment_id {scope} GROUP BY deployment_id
    ) evt ON evt.deployment_id = dp.id
    LEFT JOIN (
        SELECT deployment_id, count(*) AS n, sum(size) AS total_size,
            min(timestamp) AS first_ts, max(timestamp) AS last_ts
        FROM main_sourceimage WHERE deployment_id {scope} GROUP BY deployment_id
    ) cap ON cap.deployment_id = dp.id
    LEFT JOIN (
        SELECT dp2.id AS deployment_id, count(*) AS n,
            count(DISTINCT o.determination_id) AS taxa
        FROM main_deployment dp2
        JOIN main_occurrence o ON o.deployment_id = dp2.id AND o.event_id IS NOT NULL
        LEFT JOIN main_project p ON p.id = dp2.project_id
        WHERE dp2.id {scope} AND {filters_optional}
        GROUP BY dp2.id
    ) occ ON occ.deployment_id = dp.id
    LEFT JOIN (
        SELECT dp2.id AS deployment_id, count(DISTINCT d.id) AS n
        FROM main_deployment dp2
        JOIN main_sourceimage s ON s.deployment_id = dp2.id
        JOIN main_detection d ON d.source_image_id = s.id AND {real_bbox}
        LEFT JOIN main_occurrence o ON o.id = d.occurrence_id
        LEFT JOIN main_project p ON p.id = dp2.project_id
        WHERE dp2.id {scope} AND {filters_optional}
        GROUP BY dp2.id
    ) det ON det.deployment_id = dp.id
    WHERE dp.id {scope}
"""

_UPDATE_DEPLOYMENTS = f"""
UPDATE main_deployment dep SET
    events_count = agg.events_count,
    captures_count = agg.captures_count,
    data_source_total_files = agg.captures_count,
    data_source_total_size = agg.total_size,
    occurrences_count = agg.occurrences_count,
    taxa_count = agg.taxa_count,
    detections_count = agg.detections_count,
    first_capture_timestamp = agg.first_ts,
    last_capture_timestamp = agg.last_ts
FROM ({_DEPLOYMENT_VALUES}) agg
WHERE dep.id = agg.id AND (
    dep.events_count, dep.captures_count, dep.data_source_total_files,
    dep.data_source_total_size, dep.occurrences_count, dep.taxa_count, dep.detections_count,
    dep.first_capture_timestamp, dep.last_capture_timestamp
) IS DISTINCT FROM (
    agg.events_count, agg.captures_count, agg.captures_count, agg.total_size,
    agg.occurrences_count, agg.taxa_count, agg.detections_count, agg.first_ts, agg.last_ts
)
"""
"""Writes the cached columns of ``main_deployment``."""

_STATEMENTS = (_UPDATE_IMAGES, _UPDATE_EVENTS, _UPDATE_DEPLOYMENTS)


def _render(template: str, scope: str, key: str = "deployment_id") -> str:
    """``key``: the column of images and events that ``scope`` selects on."""
    return template.format(
        scope=scope,
        image_key=key,
        event_key=key,
        real_bbox=_REAL_BBOX,
        filters_optional=occurrence_default_filters_sql("o", "p", project_optional=True),
    )


def _refresh(scope: str, ids: Iterable[int]) -> int:
    id_list = sorted({int(pk) for pk in ids})
    if not id_list:
        return 0
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for template in _STATEMENTS:
            cursor.execute(_render(template, scope), {"ids": id_list})
            written += max(cursor.rowcount, 0)
    return written


def refresh_cached_fields(deployment_ids: Iterable[int]) -> int:
    """Recompute the cached fields of these deployments, their events and their captures.

    Three statements (captures, events, deployments) whatever the amount of data. Runs in a
    savepoint when called inside a transaction, so it can be part of a move.

    Args:
        deployment_ids: primary keys of the deployments to refresh. Events are those whose
            ``deployment_id`` is one of them; captures likewise. Unknown ids are ignored.

    Returns:
        The rows written (only rows whose values change are written).
    """
    return _refresh(_SCOPE_DEPLOYMENTS, deployment_ids)


def refresh_project_cached_fields(project_ids: Iterable[int]) -> int:
    """Recompute the cached fields of every deployment of these projects (set-based).

    Same three statements as ``refresh_cached_fields``, with the deployments selected by
    ``project_id`` inside the SQL rather than listed in Python.

    Args:
        project_ids: primary keys of the projects whose deployments to refresh.

    Returns:
        The rows written.
    """
    return _refresh(_SCOPE_PROJECTS, project_ids)


# One row's values, for the model methods Antenna callers know (``update_calculated_fields``).
_VALUES = {
    "deployment": (_DEPLOYMENT_VALUES, "deployment_id"),
    "event": (_EVENT_VALUES, "id"),
    "image": (_IMAGE_VALUES, "id"),
}


def calculated_values(kind: str, pk: int) -> dict[str, object]:
    """The cached values one row would get, read without writing (one query).

    The same aggregates as the refresh statements, scoped to a single row.

    Args:
        kind: ``"deployment"``, ``"event"`` or ``"image"``.
        pk: the row's primary key.

    Returns:
        Column name to value (``id`` included); empty when the row does not exist.
    """
    template, key = _VALUES[kind]
    with connection.cursor() as cursor:
        cursor.execute(_render(template, _SCOPE_DEPLOYMENTS, key), {"ids": [pk]})
        row = cursor.fetchone()
        names = [c.name for c in cursor.description]
    return dict(zip(names, row, strict=True)) if row else {}
