"""Demo jobs and the data export: with and without a deployment, as Antenna makes them.

Sync jobs carry a deployment; ML, collection and export jobs hang off a collection, an export or
a single capture with ``deployment=NULL``, which a move must still find. A dozen rows, ORM.
"""

from __future__ import annotations

import datetime as dt

from ami.exports.models import DataExport
from ami.jobs.models import Job, JobState
from ami.main.demo.catalog import Catalog
from ami.main.demo.layout import Layout
from ami.main.models import SourceImage

_FINISHED = dt.datetime(2024, 2, 1, 12, 0, tzinfo=dt.UTC)


def create_jobs(layout: Layout, catalog: Catalog) -> None:
    """Create the demo's jobs and its data export. Call after the captures exist."""
    source, target, third = (
        layout.source_project_id,
        layout.target_project_id,
        layout.third_project_id,
    )
    collections = layout.collection_ids
    regional, global_ = catalog.regional_pipeline_id, catalog.global_pipeline_id
    first_moved_image = (
        SourceImage.objects.filter(deployment_id=layout.moved_deployment_ids[0])
        .order_by("timestamp", "path")
        .values_list("pk", flat=True)
        .first()
    )
    export = DataExport.objects.create(
        project_id=source,
        user_id=layout.user_ids["researcher"],
        format="occurrences_simple_csv",
        filters={"collection_id": collections["mixed"]},
        filters_display={"collection": "All Images"},
        file_url="https://exports.demo.invalid/bci-occurrences.csv",
        record_count=1200,
        file_size=250_000,
    )
    specs: list[dict[str, object]] = [
        *(
            {"name": "Sync captures", "job_type_key": "data_storage_sync", "deployment_id": dep}
            for dep in (*layout.moved_deployment_ids, *layout.staying_deployment_ids)
        ),
        {"name": "Process all images", "job_type_key": "ml", "pipeline_id": regional,
         "source_image_collection_id": collections["mixed"]},
        {"name": "Process moved sample", "job_type_key": "ml", "pipeline_id": regional,
         "source_image_collection_id": collections["moved-exclusive"],
         "status": JobState.FAILURE},
        {"name": "Populate interval sample", "job_type_key": "populate_captures_collection",
         "source_image_collection_id": collections["staying-exclusive"]},
        {"name": "Export occurrences", "job_type_key": "data_export", "data_export": export},
        {"name": "Process one capture", "job_type_key": "ml", "pipeline_id": regional,
         "source_image_single_id": first_moved_image},
        {"name": "Re-run later", "job_type_key": "ml", "pipeline_id": global_,
         "source_image_collection_id": collections["mixed"], "status": JobState.CREATED},
    ]  # fmt: skip
    jobs = [Job(project_id=source, **_finished(spec)) for spec in specs]
    jobs += [
        Job(project_id=target, **_finished(spec))
        for spec in (
            {"name": "Sync captures", "job_type_key": "data_storage_sync",
             "deployment_id": layout.target_deployment_ids[0]},
            {"name": "Nightly sample", "job_type_key": "ml", "pipeline_id": global_,
             "source_image_collection_id": collections["target-own"]},
        )
    ]  # fmt: skip
    jobs.append(
        Job(
            project_id=third,
            **_finished(
                {
                    "name": "Process borrowed captures",
                    "job_type_key": "ml",
                    "pipeline_id": regional,
                    "source_image_collection_id": collections["foreign"],
                }
            ),
        )
    )
    Job.objects.bulk_create(jobs)


def _finished(spec: dict[str, object]) -> dict[str, object]:
    status = spec.get("status", JobState.SUCCESS)
    done = status in (JobState.SUCCESS, JobState.FAILURE)
    return {
        "status": status,
        "started_at": _FINISHED - dt.timedelta(hours=1) if done else None,
        "finished_at": _FINISHED if done else None,
        "progress": {"summary": {"status": status, "progress": 1.0 if done else 0.0}},
        **{k: v for k, v in spec.items() if k != "status"},
    }
