"""The demo data generator (ami.main.demo) at the ``tiny`` scale."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count

from ami.exports.models import DataExport
from ami.jobs.models import Job
from ami.main.demo import DemoDataExistsError, DemoResult, generate_demo_data
from ami.main.models import (
    Deployment,
    Device,
    Identification,
    Project,
    S3StorageSource,
    Site,
    SourceImage,
    SourceImageCollection,
    Taxon,
)
from ami.ml.models import ProcessingService, ProjectPipelineConfig
from ami.users import roles
from ami.users.models import User


@pytest.fixture
def demo(db) -> DemoResult:
    return generate_demo_data("tiny", seed=1)


def shared_between(model, field: str, moved: tuple[int, ...], staying: tuple[int, ...]):
    """Rows of ``model`` used by a moved and by a staying deployment."""
    return model.objects.filter(
        pk__in=Deployment.objects.filter(pk__in=moved).values(field),
    ).filter(pk__in=Deployment.objects.filter(pk__in=staying).values(field))


def test_shared_resources(demo):
    moved, staying = demo.moved_deployment_ids, demo.staying_deployment_ids
    assert shared_between(Device, "device", moved, staying).exists()
    assert shared_between(Site, "research_site", moved, staying).exists()
    assert shared_between(S3StorageSource, "data_source", moved, staying).exists()
    # A moved station uses a device owned by the target project; some devices have no project.
    assert Device.objects.filter(
        deployments__pk__in=moved, project_id=demo.target_project_id
    ).exists()
    assert Device.objects.filter(project=None, deployments__isnull=False).exists()


def collection_deployments(collection: SourceImageCollection) -> set[int]:
    return set(collection.images.values_list("deployment_id", flat=True))


def test_collections_exclusive_mixed_and_foreign(demo):
    moved, staying = set(demo.moved_deployment_ids), set(demo.staying_deployment_ids)
    source = SourceImageCollection.objects.filter(project_id=demo.source_project_id)
    mixed = collection_deployments(source.get(name="All Images"))
    assert mixed & moved
    assert mixed & staying
    assert collection_deployments(source.get(name="Moved station 1 sample")) == {
        demo.moved_deployment_ids[0]
    }
    assert collection_deployments(source.get(name="Staying stations by interval")) <= staying
    foreign = SourceImageCollection.objects.get(project_id=demo.third_project_id)
    foreign_deps = collection_deployments(foreign)
    assert foreign_deps & moved
    assert foreign_deps & set(demo.third_deployment_ids)


def test_jobs_with_and_without_deployment(demo):
    jobs = Job.objects.filter(project_id=demo.source_project_id)
    assert jobs.filter(deployment_id__in=demo.moved_deployment_ids).count() == 2
    project_level = jobs.filter(deployment=None)
    assert project_level.filter(source_image_collection__isnull=False).count() >= 2
    export_job = project_level.get(data_export__isnull=False)
    assert DataExport.objects.get(pk=export_job.data_export_id).project_id == (
        demo.source_project_id
    )
    single = project_level.get(source_image_single__isnull=False)
    assert single.source_image_single.deployment_id in demo.moved_deployment_ids
    assert Job.objects.filter(
        project_id=demo.third_project_id, source_image_collection__project_id=demo.third_project_id
    ).exists()


def test_identifications_by_several_roles(demo):
    source = Project.objects.get(pk=demo.source_project_id)
    identifiers = User.objects.filter(
        identifications__occurrence__deployment_id__in=demo.moved_deployment_ids
    ).distinct()
    primary = {roles.Role.get_primary_role(source, user) for user in identifiers}
    assert {roles.Identifier, roles.Researcher, roles.ProjectManager} <= primary
    target = Project.objects.get(pk=demo.target_project_id)
    shared = User.objects.get(pk=demo.user_ids["shared-identifier"])
    assert roles.Identifier.has_role(shared, source)
    assert roles.Researcher.has_role(shared, target)
    assert Identification.objects.filter(agreed_with_identification__isnull=False).exists()
    assert Identification.objects.filter(agreed_with_prediction__isnull=False).exists()


def test_non_default_project_settings(demo):
    source = Project.objects.get(pk=demo.source_project_id)
    target = Project.objects.get(pk=demo.target_project_id)
    for project in (source, target):
        assert project.default_filters_score_threshold != 0.5
        assert project.session_time_gap_seconds != 7200
        assert project.default_processing_pipeline_id is not None
        assert project.default_filters_exclude_taxa.exists()
    assert source.default_filters_include_taxa.exists()
    assert source.default_processing_pipeline_id != target.default_processing_pipeline_id
    assert ProjectPipelineConfig.objects.filter(project=source).count() == 2
    assert ProjectPipelineConfig.objects.filter(project=target).exists()
    services = ProcessingService.objects.annotate(n=Count("projects"))
    assert services.filter(projects=source).filter(projects=target).exists()


def test_taxa_tree_and_cached_fields(demo):
    species = Taxon.objects.filter(rank="SPECIES", occurrences__isnull=False).first()
    assert [p["rank"] for p in species.parents_json] == ["ORDER", "FAMILY", "GENUS"]
    for dep in Deployment.objects.filter(pk__in=demo.moved_deployment_ids):
        assert dep.captures_count == dep.captures.count() > 0
        assert dep.events_count == dep.events.count() > 0
        assert 0 < dep.occurrences_count <= dep.occurrences.count()
    assert not SourceImage.objects.filter(
        deployment_id__in=demo.moved_deployment_ids, event=None
    ).exists()
    assert demo.moved_counts["captures"] == 100


def test_refuses_to_run_twice_without_reset(demo):
    with pytest.raises(DemoDataExistsError, match=r"already exists \(3 projects"):
        generate_demo_data("tiny", seed=1)
    with pytest.raises(CommandError, match="pass --reset"):
        call_command("generate_demo_data", "--scale", "tiny", stdout=io.StringIO())
    out = io.StringIO()
    call_command("generate_demo_data", "--scale", "tiny", "--reset", stdout=out)
    assert Project.objects.count() == 3
    assert "move_project_data --source-project" in out.getvalue()


def test_unknown_scale_is_a_command_error(db):
    with pytest.raises(CommandError, match="invalid choice: 'huge'"):
        call_command("generate_demo_data", "--scale", "huge")


def test_json_output_has_ids_and_no_email(db):
    out = io.StringIO()
    call_command("generate_demo_data", "--scale", "tiny", "--format", "json", stdout=out)
    payload = json.loads(out.getvalue())
    assert len(payload["moved_deployment_ids"]) == 2
    assert payload["row_counts"]["main_sourceimage"] == 195
    assert "@" not in out.getvalue()


def fingerprint() -> str:
    """A digest of the generated content that ignores ids and creation times."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT md5(string_agg(line, ';' ORDER BY line)) FROM (
                SELECT s.path || s.timestamp::text || s.size || e.group_by AS line
                FROM main_sourceimage s JOIN main_event e ON e.id = s.event_id
                UNION ALL
                SELECT s.path || coalesce(t.name, '-') || o.determination_score
                    || coalesce(d.bbox::text, 'null') || coalesce(u.name, '')
                FROM main_detection d
                JOIN main_sourceimage s ON s.id = d.source_image_id
                LEFT JOIN main_occurrence o ON o.id = d.occurrence_id
                LEFT JOIN main_taxon t ON t.id = o.determination_id
                LEFT JOIN main_identification i ON i.occurrence_id = o.id
                LEFT JOIN users_user u ON u.id = i.user_id
            ) x
            """
        )
        return cursor.fetchone()[0]


def test_same_seed_same_data(db):
    generate_demo_data("tiny", seed=5)
    first = fingerprint()
    generate_demo_data("tiny", seed=5, reset=True)
    assert fingerprint() == first
    generate_demo_data("tiny", seed=6, reset=True)
    assert fingerprint() != first
