"""An injected validation failure rolls back every write of the move, ledger included."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ami.jobs.models import Job
from ami.main.models import (
    Deployment,
    Device,
    Event,
    Occurrence,
    Project,
    S3StorageSource,
    Site,
    SourceImage,
    SourceImageCollection,
    UserProjectMembership,
)
from ami.ml.models import ProjectPipelineConfig
from ami.move import checks
from ami.move.structs import CheckResult
from ledger.models import Move
from tests.builders import (
    add_deployment,
    make_collection,
    make_job,
    make_pipeline,
    make_pipeline_config,
    make_project,
    make_user,
    setup_source,
)

pytestmark = pytest.mark.django_db


def _failing_check(ctx, after) -> CheckResult:
    return CheckResult(name="injected", ok=False, messages=("injected failure for the test",))


def _snapshot(project: Project) -> dict[str, object]:
    return {
        "deployments": sorted(
            Deployment.objects.filter(project=project).values_list(
                "pk", "data_source_id", "device_id", "research_site_id", "captures_count"
            )
        ),
        "events": Event.objects.filter(project=project).count(),
        "images": SourceImage.objects.filter(project=project).count(),
        "occurrences": Occurrence.objects.filter(project=project).count(),
        "jobs": sorted(
            Job.objects.filter(project=project).values_list("pk", "source_image_collection_id")
        ),
        "collections": sorted(
            (c.pk, c.name, sorted(c.images.values_list("pk", flat=True)))
            for c in SourceImageCollection.objects.filter(project=project)
        ),
        "s3": sorted(S3StorageSource.objects.filter(project=project).values_list("pk", flat=True)),
        "devices": sorted(Device.objects.filter(project=project).values_list("pk", flat=True)),
        "sites": sorted(Site.objects.filter(project=project).values_list("pk", flat=True)),
        "members": sorted(
            UserProjectMembership.objects.filter(project=project).values_list("user_id", flat=True)
        ),
        "configs": ProjectPipelineConfig.objects.filter(project=project).count(),
        "taxa": sorted(project.taxa.values_list("pk", flat=True)),
        "threshold": Project.objects.get(pk=project.pk).default_filters_score_threshold,
    }


@pytest.fixture
def world(monkeypatch):
    s = setup_source(3, with_identifications=True)
    target = make_project("Target", make_user("target-owner"))
    b = add_deployment(s.project, "Dep B", 2, device=s.device)
    coll = make_collection(s.project, s.images + b.images, "Mixed")
    make_job(s.project, deployment=s.dep, source_image_collection=coll)
    make_pipeline_config(s.project, make_pipeline())
    Project.objects.filter(pk=s.project.pk).update(default_filters_score_threshold=0.7)
    monkeypatch.setattr(checks, "CHECKS", (*checks.CHECKS, _failing_check))
    return s, target


def _execute(*args: str) -> str:
    out = StringIO()
    with pytest.raises(
        CommandError,
        match=r"^Post-move validation failed; transaction rolled back, nothing was changed\. "
        r"Failed: injected \(the ✗ lines above; with --format json, the report's checks\)$",
    ):
        call_command("move_project_data", *args, "--execute", "--reason", "t", stdout=out)
    return out.getvalue()


def test_injected_failure_rolls_back_a_move_to_an_existing_target(world):
    s, target = world
    before = (_snapshot(s.project), _snapshot(target), Move.objects.count())
    out = _execute(
        "--source-project", str(s.project.pk), "--target-project", str(target.pk),
        "--deployment-ids", str(s.dep.pk),
    )  # fmt: skip
    assert "VALIDATION FAILED — ROLLING BACK" in out
    assert "✗ injected failure for the test" in out
    assert (_snapshot(s.project), _snapshot(target), Move.objects.count()) == before


def test_injected_failure_rolls_back_a_created_project(world):
    s, _ = world
    before = (_snapshot(s.project), Project.objects.count(), Move.objects.count())
    _execute(
        "--source-project", str(s.project.pk), "--create-project", "Never",
        "--deployment-ids", str(s.dep.pk),
    )  # fmt: skip
    assert not Project.objects.filter(name="Never").exists()
    assert (_snapshot(s.project), Project.objects.count(), Move.objects.count()) == before
