"""Generate the demo data set in one transaction and report what was written.

Order: refuse or reset, global catalog, layout (projects, stations, collections), captures,
events (``regroup_events``: one set of statements for every deployment),
observations, jobs, then one set-based refresh of the cached fields of the three projects.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
from django.db import connection, transaction

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.demo import bulk
from ami.main.demo.catalog import create_catalog, link_catalog
from ami.main.demo.jobs import create_jobs
from ami.main.demo.layout import create_layout
from ami.main.demo.reset import count_existing_demo_rows, delete_demo_data
from ami.main.demo.shapes import SCALES
from ami.main.events import regroup_events

WORK_MEM = "128MB"

# Tables reported after a run, parents first.
COUNTED_TABLES: tuple[str, ...] = (
    "users_user",
    "main_project",
    "main_userprojectmembership",
    "main_s3storagesource",
    "main_device",
    "main_site",
    "main_deployment",
    "main_event",
    "main_sourceimage",
    "main_occurrence",
    "main_detection",
    "main_classification",
    "main_identification",
    "main_taxon",
    "main_taxalist",
    "main_sourceimagecollection",
    "main_sourceimagecollection_images",
    "ml_algorithm",
    "ml_pipeline",
    "ml_projectpipelineconfig",
    "ml_processingservice",
    "jobs_job",
    "exports_dataexport",
)

_COUNT_MOVED = """
SELECT
    (SELECT count(*) FROM main_sourceimage WHERE deployment_id = ANY(%(ids)s)),
    (SELECT count(*) FROM main_event WHERE deployment_id = ANY(%(ids)s)),
    (SELECT count(*) FROM main_occurrence WHERE deployment_id = ANY(%(ids)s)),
    (SELECT count(*) FROM main_detection d JOIN main_sourceimage s ON s.id = d.source_image_id
     WHERE s.deployment_id = ANY(%(ids)s)),
    (SELECT count(*) FROM main_classification c JOIN main_detection d ON d.id = c.detection_id
     JOIN main_sourceimage s ON s.id = d.source_image_id WHERE s.deployment_id = ANY(%(ids)s)),
    (SELECT count(*) FROM main_identification i JOIN main_occurrence o ON o.id = i.occurrence_id
     WHERE o.deployment_id = ANY(%(ids)s))
"""
_MOVED_KEYS = (
    "captures",
    "events",
    "occurrences",
    "detections",
    "classifications",
    "identifications",
)


class DemoDataExistsError(Exception):
    """Demo data is already in the database and no reset was asked for."""


class DemoResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a run created: ids to copy into a move command, row counts and timings.

    Users are identified by id only (their e-mail addresses are personal data).
    """

    scale: str
    seed: int
    source_project_id: int
    target_project_id: int
    third_project_id: int
    moved_deployment_ids: tuple[int, ...]
    staying_deployment_ids: tuple[int, ...]
    target_deployment_ids: tuple[int, ...]
    third_deployment_ids: tuple[int, ...]
    user_ids: dict[str, int]
    moved_counts: dict[str, int]
    row_counts: dict[str, int]
    step_seconds: dict[str, float]
    elapsed_seconds: float


def generate_demo_data(
    scale_name: str,
    *,
    seed: int = 0,
    reset: bool = False,
    on_step: Callable[[str, float], None] | None = None,
) -> DemoResult:
    """Generate the demo data set in a single transaction.

    Args:
        scale_name: a key of ``SCALES`` (``tiny``, ``bci``, ``bci10``).
        seed: the same seed always gives the same data (ids and creation times aside).
        reset: delete previous demo data first instead of refusing.
        on_step: called with each step's label and duration in seconds, for progress output.

    Raises:
        KeyError: unknown scale.
        DemoDataExistsError: demo data exists and ``reset`` is False.
    """
    scale = SCALES[scale_name]
    started = time.perf_counter()
    steps: dict[str, float] = {}

    def step(label: str, since: float) -> float:
        now = time.perf_counter()
        steps[label] = round(now - since, 3)
        if on_step is not None:
            on_step(label, steps[label])
        return now

    with transaction.atomic():
        with connection.cursor() as cursor:
            # Transaction-local: lets the aggregates of the cached-field refresh stay in memory.
            cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
        existing = count_existing_demo_rows()
        if any(existing) and not reset:
            projects, users, taxa = existing
            raise DemoDataExistsError(
                f"demo data already exists ({projects} projects, {users} users, {taxa} taxa)"
            )
        mark = started
        if any(existing):
            delete_demo_data()
            mark = step("reset", mark)
        catalog = create_catalog()
        layout, projects = create_layout(scale, catalog)
        link_catalog(catalog, *projects)
        mark = step("small-rows", mark)
        params = bulk.bulk_params(scale, seed, layout, catalog)
        plan = bulk.build_plan(scale, layout)
        bulk.insert_captures(plan, params)
        mark = step("captures", mark)
        regroup_events([row.deployment_id for row in plan])
        mark = step("events", mark)
        bulk.insert_observations(params)
        create_jobs(layout, catalog)
        mark = step("observations", mark)
        project_ids = [p.pk for p in projects]
        refresh_project_cached_fields(project_ids)
        mark = step("cached-fields", mark)
        moved_counts, row_counts = _count_rows(layout.moved_deployment_ids)
    return DemoResult(
        scale=scale.name,
        seed=seed,
        source_project_id=layout.source_project_id,
        target_project_id=layout.target_project_id,
        third_project_id=layout.third_project_id,
        moved_deployment_ids=layout.moved_deployment_ids,
        staying_deployment_ids=layout.staying_deployment_ids,
        target_deployment_ids=layout.target_deployment_ids,
        third_deployment_ids=layout.third_deployment_ids,
        user_ids=layout.user_ids,
        moved_counts=moved_counts,
        row_counts=row_counts,
        step_seconds=steps,
        elapsed_seconds=round(time.perf_counter() - started, 3),
    )


def _count_rows(moved_ids: tuple[int, ...]) -> tuple[dict[str, int], dict[str, int]]:
    """Rows of the moved deployments, and whole-table counts (two statements)."""
    quote = connection.ops.quote_name
    totals_sql = "SELECT " + ", ".join(
        f"(SELECT count(*) FROM {quote(t)})" for t in COUNTED_TABLES
    )
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_MOVED, {"ids": list(moved_ids)})
        moved = dict(zip(_MOVED_KEYS, cursor.fetchone(), strict=True))
        cursor.execute(totals_sql)
        totals = dict(zip(COUNTED_TABLES, cursor.fetchone(), strict=True))
    return moved, totals
