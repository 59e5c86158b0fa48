"""Set-based grouping of captures into events (ami.main.events)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ami.main.events import regroup_events
from ami.main.models import (
    Deployment,
    Detection,
    Event,
    Occurrence,
    Project,
    SourceImage,
    group_images_into_events,
)

T0 = dt.datetime(2024, 6, 1, 20, 0, tzinfo=dt.UTC)


def make_deployment(gap_seconds: int = 7200) -> Deployment:
    project = Project.objects.create(
        name="Grouping", session_time_gap_seconds=gap_seconds, create_defaults=False
    )
    return Deployment.objects.create(name="Station", project=project)


def add_captures(deployment: Deployment, *offsets_minutes: float) -> list[SourceImage]:
    return SourceImage.objects.bulk_create(
        SourceImage(
            deployment=deployment,
            project=deployment.project,
            path=f"img-{i}.jpg",
            timestamp=T0 + dt.timedelta(minutes=m),
            size=100,
        )
        for i, m in enumerate(offsets_minutes)
    )


def event_of(image: SourceImage) -> int | None:
    return SourceImage.objects.values_list("event_id", flat=True).get(pk=image.pk)


@pytest.mark.django_db
def test_gap_larger_than_session_gap_splits():
    deployment = make_deployment(gap_seconds=3600)
    # 23:30 -> 00:30 is exactly the gap: same group (the gap must be strictly larger), so the
    # after-midnight capture stays in the event dated the evening before. 61 minutes splits.
    a, b, c, d = add_captures(deployment, 0, 210, 270, 270 + 61 + 24 * 60)
    events = group_images_into_events(deployment)
    assert [e.group_by for e in events] == ["2024-06-01", "2024-06-03"]
    assert event_of(a) == event_of(b) == event_of(c) == events[0].pk
    assert event_of(d) == events[1].pk
    first = events[0]
    assert first.start == T0
    assert first.end == T0 + dt.timedelta(minutes=270)
    assert first.project_id == deployment.project_id
    assert first.captures_count == 3


@pytest.mark.django_db
def test_groups_starting_on_same_date_share_one_event():
    deployment = make_deployment(gap_seconds=600)
    # Two groups (gap 30 min > 10 min) both starting on 2024-06-01.
    a, b = add_captures(deployment, 0, 30)
    events = group_images_into_events(deployment)
    assert len(events) == 1
    assert event_of(a) == event_of(b) == events[0].pk
    assert events[0].start == T0
    assert events[0].end == T0 + dt.timedelta(minutes=30)
    assert events[0].captures_count == 2


@pytest.mark.django_db
def test_project_gap_is_honoured_and_overridden():
    deployment = make_deployment(gap_seconds=24 * 3600 * 3)
    # Two nights: one event under the 3-day project gap.
    add_captures(deployment, 0, 24 * 60)
    assert len(group_images_into_events(deployment)) == 1
    assert len(group_images_into_events(deployment, max_time_gap=dt.timedelta(hours=1))) == 2


@pytest.mark.django_db
def test_empty_events_are_deleted_and_occurrences_follow():
    deployment = make_deployment()
    (image,) = add_captures(deployment, 0)
    stale = Event.objects.create(
        deployment=deployment, project=deployment.project, group_by="1999-01-01", start=T0
    )
    image.event = stale
    image.save()
    occurrence = Occurrence.objects.create(
        deployment=deployment, project=deployment.project, event=stale, determination_score=1
    )
    Detection.objects.create(source_image=image, occurrence=occurrence, bbox=[0, 0, 1, 1])
    (event,) = group_images_into_events(deployment)
    assert not Event.objects.filter(pk=stale.pk).exists()
    occurrence.refresh_from_db()
    assert occurrence.event_id == event.pk
    assert event.occurrences_count == 1
    deployment.refresh_from_db()
    assert deployment.events_count == 1


@pytest.mark.django_db
def test_existing_event_is_reused_and_other_deployments_untouched():
    deployment = make_deployment()
    other = Deployment.objects.create(name="Other", project=deployment.project)
    (other_image,) = add_captures(other, 0)
    add_captures(deployment, 0)
    (first,) = group_images_into_events(deployment)
    (again,) = group_images_into_events(deployment)
    assert first.pk == again.pk
    assert event_of(other_image) is None
    assert Event.objects.filter(deployment=other).count() == 0


@pytest.mark.django_db
def test_works_inside_outer_transaction():
    deployment = make_deployment()
    add_captures(deployment, 0, 5)
    with transaction.atomic():
        events = group_images_into_events(deployment)
        assert Event.objects.filter(pk=events[0].pk).exists()
        transaction.set_rollback(True)
    assert not Event.objects.exists()


def count_statements(n_images: int) -> int:
    deployment = make_deployment(gap_seconds=3600)
    # A new night every 10 images, so the number of events grows with the images too.
    add_captures(deployment, *[(i // 10) * 24 * 60 + i for i in range(n_images)])
    with CaptureQueriesContext(connection) as ctx:
        events = group_images_into_events(deployment)
    assert len(events) == (n_images + 9) // 10
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_statement_count_independent_of_image_count():
    assert count_statements(3) == count_statements(300)


@pytest.mark.django_db
def test_regroup_events_uses_each_deployments_project_gap():
    tight, loose = make_deployment(gap_seconds=3600), make_deployment(gap_seconds=3 * 3600)
    # tight: 23:00 -> 00:30 (90 min > 1 h) splits across midnight into two events.
    # loose: 23:45 -> 02:00 (135 min < 3 h) stays one event (the 2 h default would split it).
    # Interleaved, loose's 23:45 would hide tight's gap from a window not partitioned by
    # deployment.
    add_captures(tight, 180, 270)
    add_captures(loose, 225, 360)
    event_ids = regroup_events([tight.pk, loose.pk])
    assert len(event_ids) == 3
    assert sorted(Event.objects.filter(deployment=tight).values_list("group_by", flat=True)) == [
        "2024-06-01",
        "2024-06-02",
    ]
    assert Event.objects.filter(deployment=loose).count() == 1
    assert set(Event.objects.filter(pk__in=event_ids).values_list("project_id", flat=True)) == {
        tight.project_id,
        loose.project_id,
    }
    assert regroup_events([]) == []


@pytest.mark.django_db
def test_regroup_statement_count_independent_of_deployment_count():
    few = [make_deployment()]
    many = [make_deployment() for _ in range(5)]
    for deployment in [*few, *many]:
        add_captures(deployment, 0, 10)

    def statements(deployments: list[Deployment]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            regroup_events([d.pk for d in deployments])
        return len(ctx.captured_queries)

    assert statements(few) == statements(many)
