"""The compatibility contract: names and behaviour that Antenna's move tests rely on."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection


def test_main_models_names_import():
    from ami.main import models

    for name in (
        "Project",
        "Deployment",
        "Event",
        "SourceImage",
        "Detection",
        "Classification",
        "Occurrence",
        "Identification",
        "Taxon",
        "TaxonRank",
        "TaxaList",
        "Device",
        "Site",
        "S3StorageSource",
        "SourceImageCollection",
        "Tag",
        "UserProjectMembership",
        "ProjectManager",
        "group_images_into_events",
    ):
        assert hasattr(models, name), name


def test_ml_models_are_reexported_from_their_modules():
    from ami.ml import models as ml
    from ami.ml.models.algorithm import Algorithm
    from ami.ml.models.pipeline import Pipeline
    from ami.ml.models.processing_service import ProcessingService
    from ami.ml.models.project_pipeline_config import ProjectPipelineConfig

    assert ml.Pipeline is Pipeline
    assert ml.ProjectPipelineConfig is ProjectPipelineConfig
    assert ml.ProcessingService is ProcessingService
    assert ml.Algorithm is Algorithm


def test_taxon_rank_stores_member_name():
    from ami.main.models import TaxonRank

    assert TaxonRank.ORDER.name == "ORDER"
    assert TaxonRank.SPECIES.name == "SPECIES"


def test_table_names_keep_django_defaults():
    from ami.exports.models import DataExport
    from ami.jobs.models import Job
    from ami.main.models import Project, SourceImageCollection, Taxon
    from ami.ml.models import ProcessingService

    assert Project._meta.db_table == "main_project"
    assert Job._meta.db_table == "jobs_job"
    assert DataExport._meta.db_table == "exports_dataexport"
    assert get_user_model()._meta.db_table == "users_user"
    assert ProcessingService.projects.through._meta.db_table == "ml_processingservice_projects"
    assert SourceImageCollection.images.through._meta.db_table == (
        "main_sourceimagecollection_images"
    )
    assert Taxon.projects.through._meta.db_table == "main_taxon_projects"


@pytest.mark.django_db
def test_column_sizes_as_antenna_in_tables_a_move_writes():
    """Antenna's sizes (RolnickLab/antenna: ``_POST_TITLE_MAX_LENGTH = 80`` for project, device
    and site names; ``Job.dispatch_mode`` 32), so an attached database passes the schema check
    and these tests fail where Antenna's database would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name || '.' || column_name, character_maximum_length "
            "FROM information_schema.columns WHERE (table_name, column_name) IN "
            "(('main_project', 'name'), ('main_device', 'name'), ('main_site', 'name'), "
            "('jobs_job', 'dispatch_mode')) ORDER BY 1"
        )
        assert cursor.fetchall() == [
            ("jobs_job.dispatch_mode", 32),
            ("main_device.name", 80),
            ("main_project.name", 80),
            ("main_site.name", 80),
        ]


@pytest.mark.django_db
def test_user_logs_in_by_email():
    user = get_user_model().objects.create_user(email="a@example.com", password="pw")
    assert get_user_model().USERNAME_FIELD == "email"
    assert user.check_password("pw")
    assert "example.com" not in str(user)


@pytest.mark.django_db
def test_project_create_with_defaults_calls_create_related_defaults_once(owner):
    from ami.main.models import Project, ProjectManager

    with mock.patch.object(ProjectManager, "create_related_defaults") as defaults:
        project = Project.objects.create(name="P", owner=owner, create_defaults=True)
    defaults.assert_called_once_with(project)
    with mock.patch.object(ProjectManager, "create_related_defaults") as defaults:
        Project.objects.create(name="Q", owner=owner, create_defaults=False)
    defaults.assert_not_called()


@pytest.mark.django_db
def test_project_defaults_are_created(owner):
    from ami.main.models import Project

    project = Project.objects.create(name="P", owner=owner, create_defaults=True)
    assert list(project.devices.values_list("name", flat=True)) == ["Default Device"]
    assert list(project.sites.values_list("name", flat=True)) == ["Default Site"]
    station = project.deployments.get()
    assert (station.name, station.latitude, station.longitude) == ("Default Station", 0, 0)
    assert station.device.name == "Default Device"
    assert station.research_site.name == "Default Site"
    collection = project.sourceimage_collections.get()
    assert (collection.name, collection.method, collection.images.count()) == (
        "All Images",
        "full",
        0,
    )


@pytest.mark.django_db
def test_pipeline_job_and_config_creatable_with_minimal_fields(owner):
    from ami.jobs.models import Job
    from ami.main.models import Deployment, Project, SourceImageCollection
    from ami.ml.models.pipeline import Pipeline
    from ami.ml.models.project_pipeline_config import ProjectPipelineConfig

    project = Project.objects.create(name="P", owner=owner, create_defaults=False)
    pipeline = Pipeline.objects.create(name="Moth detector")
    assert pipeline.slug
    config = ProjectPipelineConfig.objects.create(
        project=project, pipeline=pipeline, enabled=False, config={"batch_size": 32}
    )
    assert list(project.pipelines.all()) == [pipeline]
    assert config.config == {"batch_size": 32}
    deployment = Deployment.objects.create(name="D", project=project)
    collection = SourceImageCollection.objects.create(name="C", project=project)
    Job.objects.create(name="j1", project=project)
    Job.objects.create(name="j2", project=project, deployment=deployment, pipeline=pipeline)
    Job.objects.create(name="j3", project=project, source_image_collection=collection)
    assert project.jobs.count() == 3


@pytest.mark.django_db
def test_processing_service_accepts_antenna_raw_insert(owner):
    from ami.main.models import Project
    from ami.ml.models import ProcessingService

    project = Project.objects.create(name="P", owner=owner, create_defaults=False)
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO ml_processingservice (name, description, endpoint_url, created_at,"
            " updated_at) VALUES (%s, %s, %s, NOW(), NOW()) RETURNING id",
            ["svc", "", "http://localhost:2000"],
        )
        service_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO ml_processingservice_projects (processingservice_id, project_id)"
            " VALUES (%s, %s)",
            [service_id, project.pk],
        )
    assert list(project.processing_services.values_list("pk", flat=True)) == [service_id]
    assert ProcessingService.objects.get(pk=service_id).last_seen is None


@pytest.mark.django_db
def test_relations_named_as_in_antenna(owner):
    from ami.main.models import (
        Project,
        SourceImage,
        SourceImageCollection,
        TaxaList,
        Taxon,
    )

    project = Project.objects.create(name="P", owner=owner, create_defaults=False)
    taxon = Taxon.objects.create(name="Lepidoptera", rank="ORDER")
    taxon.projects.add(project)
    assert list(project.taxa.all()) == [taxon]
    taxa_list = TaxaList.objects.create(name="L")
    taxa_list.projects.add(project)
    assert list(project.taxa_lists.all()) == [taxa_list]
    image = SourceImage.objects.create(
        path="a.jpg", project=project, timestamp=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    collection = SourceImageCollection.objects.create(
        name="C", project=project, method="random", kwargs={"seed": 42}
    )
    collection.images.add(image)
    assert list(image.collections.all()) == [collection]
    assert (collection.method, collection.kwargs) == ("random", {"seed": 42})
    assert Project.get_settings_field_names() == [
        "default_processing_pipeline",
        "session_time_gap_seconds",
        "default_filters_score_threshold",
        "default_filters_include_taxa",
        "default_filters_exclude_taxa",
    ]


def test_every_model_but_user_has_timestamps():
    from django.apps import apps

    for model in apps.get_models():
        if model._meta.app_label not in {"main", "ml", "jobs", "exports"}:
            continue
        names = {f.name for f in model._meta.get_fields()}
        assert {"created_at", "updated_at"} <= names, model.__name__
