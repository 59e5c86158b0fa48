"""Plain builder functions for tests, mirroring the original command's ``_setup_source``."""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

from django.db import connection

from ami.jobs.models import Job
from ami.main.models import (
    Classification,
    Deployment,
    Detection,
    Device,
    Event,
    Identification,
    Occurrence,
    Project,
    S3StorageSource,
    Site,
    SourceImage,
    SourceImageCollection,
    TaxaList,
    Taxon,
)
from ami.ml.models import Pipeline, ProjectPipelineConfig
from ami.users.models import User

_seq = itertools.count(1)
START = dt.datetime(2024, 6, 1, 22, 0, tzinfo=dt.UTC)


def make_user(label: str = "user") -> User:
    return User.objects.create_user(email=f"{label}-{next(_seq)}@example.com")


def make_project(name: str = "Project", owner: User | None = None) -> Project:
    return Project.objects.create(name=name, owner=owner, create_defaults=False)


def add_deployment(
    project: Project,
    name: str = "Dep B",
    n_images: int = 2,
    *,
    data_source: S3StorageSource | None = None,
    device: Device | None = None,
    site: Site | None = None,
    taxon: Taxon | None = None,
    occurrences: bool = False,
    identifier: User | None = None,
) -> SimpleNamespace:
    """A deployment with ``n_images`` captures 10 minutes apart, grouped into one event."""
    dep = Deployment.objects.create(
        name=name, project=project, data_source=data_source, device=device, research_site=site
    )
    event = Event.objects.create(
        project=project, deployment=dep, group_by=f"{START.date()}-{dep.pk}", start=START
    )
    images = SourceImage.objects.bulk_create(
        SourceImage(
            project=project,
            deployment=dep,
            event=event,
            path=f"{name}/{i}.jpg",
            timestamp=START + dt.timedelta(minutes=10 * i),
            size=1000,
        )
        for i in range(n_images)
    )
    occs: list[Occurrence] = []
    if occurrences and n_images:
        occs = Occurrence.objects.bulk_create(
            Occurrence(
                determination=taxon,
                event=event,
                deployment=dep,
                project=project,
                determination_score=0.9,
            )
            for _ in images
        )
        detections = Detection.objects.bulk_create(
            Detection(
                source_image=img, occurrence=occ, bbox=[0, 0, 10, 10], timestamp=img.timestamp
            )
            for img, occ in zip(images, occs, strict=True)
        )
        Classification.objects.bulk_create(
            Classification(detection=d, taxon=taxon, score=0.85) for d in detections
        )
        if identifier is not None:
            Identification.objects.bulk_create(
                Identification(user=identifier, taxon=taxon, occurrence=o) for o in occs
            )
    return SimpleNamespace(dep=dep, event=event, images=images, occurrences=occs)


def setup_source(
    n_images: int = 3,
    *,
    with_occurrences: bool = True,
    with_identifications: bool = False,
) -> SimpleNamespace:
    """Owner, source project (no defaults), S3 source, device and site owned by the source,
    "Dep A" with ``n_images`` captures in one event, an order and a species taxon linked to the
    source; optionally an occurrence per image (score 0.9) with a detection and a
    classification (0.85), and an identification per occurrence by an identifier user."""
    owner = make_user("owner")
    project = make_project("Source Project", owner)
    s3 = S3StorageSource.objects.create(
        name="Source bucket",
        project=project,
        bucket="bucket",
        access_key="AKIA-DO-NOT-PRINT",
        secret_key="SECRET-DO-NOT-PRINT",
    )
    device = Device.objects.create(name="Trap camera", project=project)
    site = Site.objects.create(name="Field site", project=project)
    order = Taxon.objects.create(name=f"Lepidoptera {next(_seq)}", rank="ORDER")
    species = Taxon.objects.create(
        name=f"Actias luna {next(_seq)}",
        rank="SPECIES",
        parent=order,
        parents_json=[{"id": order.pk, "name": order.name, "rank": "ORDER"}],
    )
    order.projects.add(project)
    species.projects.add(project)
    identifier = make_user("identifier") if with_identifications else None
    a = add_deployment(
        project,
        "Dep A",
        n_images,
        data_source=s3,
        device=device,
        site=site,
        taxon=species,
        occurrences=with_occurrences,
        identifier=identifier,
    )
    return SimpleNamespace(
        owner=owner,
        project=project,
        s3=s3,
        device=device,
        site=site,
        order=order,
        species=species,
        identifier=identifier,
        dep=a.dep,
        event=a.event,
        images=a.images,
        occurrences=a.occurrences,
    )


def make_collection(
    project: Project, images: list[SourceImage], name: str = "Sample", **kwargs: object
) -> SourceImageCollection:
    coll = SourceImageCollection.objects.create(name=name, project=project, **kwargs)
    coll.images.set(images)
    return coll


def make_job(project: Project, **kwargs: object) -> Job:
    return Job.objects.create(name=f"job {next(_seq)}", project=project, **kwargs)


def make_pipeline(name: str = "Pipeline") -> Pipeline:
    return Pipeline.objects.create(name=f"{name} {next(_seq)}")


def make_pipeline_config(
    project: Project, pipeline: Pipeline, **kwargs: object
) -> ProjectPipelineConfig:
    return ProjectPipelineConfig.objects.create(project=project, pipeline=pipeline, **kwargs)


def make_processing_service(*projects: Project, name: str = "Service") -> int:
    """Insert a service with raw SQL (as Antenna's tests do, avoiding its HTTP status call)
    and link it to ``projects``."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO ml_processingservice (name, description, endpoint_url, created_at,"
            " updated_at) VALUES (%s, '', 'http://ps.invalid', now(), now()) RETURNING id",
            [name],
        )
        (service_id,) = cur.fetchone()
        for p in projects:
            cur.execute(
                "INSERT INTO ml_processingservice_projects (processingservice_id, project_id)"
                " VALUES (%s, %s)",
                [service_id, p.pk],
            )
    return service_id


def service_links(service_id: int, project: Project) -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM ml_processingservice_projects"
            " WHERE processingservice_id = %s AND project_id = %s",
            [service_id, project.pk],
        )
        return cur.fetchone()[0]


def make_taxa_list(name: str, *projects: Project, taxa: tuple[Taxon, ...] = ()) -> TaxaList:
    tl = TaxaList.objects.create(name=name)
    tl.projects.add(*projects)
    tl.taxa.add(*taxa)
    return tl
