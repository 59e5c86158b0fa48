"""Antenna's model API on Deployment, Event and SourceImage: ``save(update_calculated_fields,
regroup_async)`` and ``update_calculated_fields(save)``."""

from __future__ import annotations

import logging

import pytest
from django.db.models.signals import post_save

from ami.main.cached_fields import refresh_cached_fields
from ami.main.models import (
    Deployment,
    Detection,
    Event,
    Project,
    S3StorageSource,
    SourceImage,
    Taxon,
)
from tests.builders import START, add_deployment, make_project, make_user

pytestmark = pytest.mark.django_db

CACHED = (
    "events_count",
    "captures_count",
    "detections_count",
    "occurrences_count",
    "taxa_count",
    "data_source_total_files",
    "data_source_total_size",
    "first_capture_timestamp",
    "last_capture_timestamp",
)


@pytest.fixture
def world():
    project = make_project("Moths", make_user("owner"))
    taxon = Taxon.objects.create(name="Actias luna")
    built = add_deployment(project, "Dep A", 3, taxon=taxon, occurrences=True)
    # Forget what creation computed, so every test sees what its own call recomputes.
    Deployment.objects.filter(pk=built.dep.pk).update(**dict.fromkeys(CACHED))
    Event.objects.filter(pk=built.event.pk).update(captures_count=None, occurrences_count=None)
    SourceImage.objects.filter(deployment=built.dep).update(detections_count=None)
    built.dep.refresh_from_db()
    return project, built


def _cached(dep: Deployment) -> tuple:
    dep.refresh_from_db()
    return tuple(getattr(dep, f) for f in CACHED)


def test_save_without_calculated_fields_is_a_plain_save(world):
    _project, built = world
    sent = []

    def receiver(sender, instance, **kwargs):
        sent.append(instance.pk)

    post_save.connect(receiver, sender=Deployment)
    try:
        built.dep.save(update_calculated_fields=False, regroup_async=False)
    finally:
        post_save.disconnect(receiver, sender=Deployment)
    assert sent == [built.dep.pk]
    assert _cached(built.dep) == (None,) * len(CACHED)
    assert Event.objects.get(pk=built.event.pk).group_by == built.event.group_by


@pytest.mark.parametrize("regroup_async", [False, True])
def test_full_save_regroups_and_recounts_inline(world, regroup_async):
    _project, built = world
    built.dep.save(regroup_async=regroup_async)
    # The builder's event was named "<date>-<pk>"; grouping names events by date, as Antenna.
    events = list(Event.objects.filter(deployment=built.dep))
    assert [e.group_by for e in events] == [str(START.date())]
    assert events[0].captures_count == 3
    dep = Deployment.objects.get(pk=built.dep.pk)
    assert (dep.events_count, dep.captures_count, dep.occurrences_count) == (1, 3, 3)
    assert dep.detections_count == 3
    assert dep.data_source_total_size == 3000
    assert dep.first_capture_timestamp == START


def test_full_save_gives_the_children_the_deployments_project(world, caplog):
    project, built = world
    other = make_project("Other")
    SourceImage.objects.filter(pk=built.images[0].pk).update(project=other)
    with caplog.at_level(logging.WARNING, logger="ami.main.models"):
        built.dep.save(regroup_async=False)
    projects = SourceImage.objects.filter(deployment=built.dep).values_list("project", flat=True)
    assert set(projects) == {project.pk}
    assert f"Deployment {built.dep.pk}: 1 SourceImage row(s) had another project" in caplog.text


def test_deployment_update_calculated_fields_without_save_writes_nothing(world):
    _project, built = world
    dep = built.dep
    dep.update_calculated_fields(save=False)
    assert (dep.captures_count, dep.events_count, dep.occurrences_count, dep.taxa_count) == (
        3,
        1,
        3,
        1,
    )
    assert _cached(Deployment.objects.get(pk=dep.pk)) == (None,) * len(CACHED)
    dep.update_calculated_fields(save=True)
    stored = _cached(dep)
    refresh_cached_fields([dep.pk])  # the set-based refresh agrees with the model method
    assert _cached(dep) == stored
    assert stored[:3] == (1, 3, 3)


def test_deployment_counts_follow_the_projects_default_filters(world):
    project, built = world
    Project.objects.filter(pk=project.pk).update(default_filters_score_threshold=0.95)
    dep = Deployment.objects.get(pk=built.dep.pk)
    dep.update_calculated_fields(save=True)
    dep.refresh_from_db()
    assert (dep.occurrences_count, dep.detections_count, dep.taxa_count) == (0, 0, 0)
    assert dep.captures_count == 3


def test_event_update_calculated_fields(world):
    _project, built = world
    event = Event.objects.get(pk=built.event.pk)
    event.update_calculated_fields(save=False)
    assert (event.captures_count, event.occurrences_count, event.detections_count) == (3, 3, 3)
    assert event.start == START
    assert Event.objects.get(pk=event.pk).captures_count is None
    event.update_calculated_fields(save=True)
    assert Event.objects.get(pk=event.pk).captures_count == 3
    assert Event.objects.get(pk=event.pk).calculated_fields_updated_at is not None


def test_new_event_takes_group_by_and_project_from_antennas_rules(world):
    project, built = world
    event = Event(deployment=built.dep, start=START)
    event.save(update_calculated_fields=False)
    assert event.group_by == ""
    assert event.project_id is None
    event.update_calculated_fields(save=True)
    event.refresh_from_db()
    assert (event.group_by, event.project_id, event.captures_count) == (
        str(START.date()),
        project.pk,
        0,
    )


def test_event_save_recomputes_by_default(world):
    _project, built = world
    event = Event.objects.get(pk=built.event.pk)
    event.save()
    assert Event.objects.get(pk=event.pk).captures_count == 3


def test_source_image_update_calculated_fields(world):
    project, built = world
    source = S3StorageSource.objects.create(name="S3", public_base_url="https://img.example")
    Deployment.objects.filter(pk=built.dep.pk).update(data_source=source)
    image = SourceImage.objects.get(pk=built.images[0].pk)
    Detection.objects.create(source_image=image, bbox=[])  # "processed, nothing found"
    image.project = None
    image.update_calculated_fields(save=False)
    assert (image.detections_count, image.project_id) == (1, project.pk)
    assert image.public_base_url == "https://img.example"
    assert SourceImage.objects.get(pk=image.pk).detections_count is None
    image.save()  # update_calculated_fields=True by default, as in Antenna
    stored = SourceImage.objects.get(pk=image.pk)
    assert (stored.detections_count, stored.project_id) == (1, project.pk)
    assert stored.public_base_url == "https://img.example"
