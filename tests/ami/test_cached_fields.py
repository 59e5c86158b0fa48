"""Set-based cached counts (ami.main.cached_fields) and the default filters (ami.main.filters)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ami.main.cached_fields import refresh_cached_fields, refresh_project_cached_fields
from ami.main.filters import build_occurrence_default_filters_q, occurrence_default_filters_sql
from ami.main.models import (
    Deployment,
    Detection,
    Event,
    Occurrence,
    Project,
    SourceImage,
    Taxon,
)

T0 = dt.datetime(2024, 6, 1, 20, 0, tzinfo=dt.UTC)
BOX = [0, 0, 10, 10]


def make_tree() -> dict[str, Taxon]:
    """order -> family F1 -> genus G1 -> species S1, S2; F1 -> G2 -> S3; family F2 -> S4."""
    taxa: dict[str, Taxon] = {}

    def add(name: str, rank: str, parent: str | None) -> None:
        parent_taxon = taxa.get(parent) if parent else None
        parents = [*parent_taxon.parents_json, {"id": parent_taxon.pk}] if parent_taxon else []
        taxa[name] = Taxon.objects.create(
            name=name, rank=rank, parent=parent_taxon, parents_json=parents
        )

    add("O", "ORDER", None)
    add("F1", "FAMILY", "O")
    add("F2", "FAMILY", "O")
    add("G1", "GENUS", "F1")
    add("G2", "GENUS", "F1")
    add("S1", "SPECIES", "G1")
    add("S2", "SPECIES", "G1")
    add("S3", "SPECIES", "G2")
    add("S4", "SPECIES", "F2")
    return taxa


class World:
    """A project with one deployment, one event and one capture per given occurrence."""

    def __init__(self, project: Project, name: str = "D") -> None:
        self.project = project
        self.deployment = Deployment.objects.create(name=name, project=project)
        self.event = Event.objects.create(
            deployment=self.deployment, project=project, group_by="2024-06-01", start=T0
        )
        self.images: list[SourceImage] = []

    def capture(self, minutes: int = 0, size: int = 100) -> SourceImage:
        image = SourceImage.objects.create(
            deployment=self.deployment,
            project=self.project,
            event=self.event,
            path=f"{self.deployment.pk}-{len(self.images)}.jpg",
            timestamp=T0 + dt.timedelta(minutes=minutes),
            size=size,
        )
        self.images.append(image)
        return image

    def occurrence(
        self, taxon: Taxon | None, score: float, *, bbox: object = BOX, with_event: bool = True
    ) -> SourceImage:
        image = self.capture(minutes=len(self.images))
        occ = Occurrence.objects.create(
            deployment=self.deployment,
            project=self.project,
            event=self.event if with_event else None,
            determination=taxon,
            determination_score=score,
        )
        Detection.objects.create(source_image=image, occurrence=occ, bbox=bbox)
        return image


@pytest.fixture
def taxa(db) -> dict[str, Taxon]:
    return make_tree()


@pytest.fixture
def project(db) -> Project:
    return Project.objects.create(
        name="Cached", default_filters_score_threshold=0.5, create_defaults=False
    )


def refreshed(obj):
    obj.refresh_from_db()
    return obj


def test_capture_fields_and_unfiltered_basics(project, taxa):
    world = World(project)
    world.capture(minutes=0, size=100)
    world.capture(minutes=90, size=250)
    refresh_cached_fields([world.deployment.pk])
    dep = refreshed(world.deployment)
    assert dep.captures_count == 2
    assert dep.data_source_total_files == 2
    assert dep.data_source_total_size == 350
    assert dep.events_count == 1
    assert dep.first_capture_timestamp == T0
    assert dep.last_capture_timestamp == T0 + dt.timedelta(minutes=90)
    assert (dep.occurrences_count, dep.detections_count, dep.taxa_count) == (0, 0, 0)
    event = refreshed(world.event)
    assert event.captures_count == 2
    assert event.end == T0 + dt.timedelta(minutes=90)
    assert event.calculated_fields_updated_at is not None
    assert [refreshed(i).detections_count for i in world.images] == [0, 0]


def test_score_threshold(project, taxa):
    world = World(project)
    kept = world.occurrence(taxa["S1"], 0.5)
    low = world.occurrence(taxa["S2"], 0.49)
    refresh_cached_fields([world.deployment.pk])
    dep = refreshed(world.deployment)
    assert (dep.occurrences_count, dep.detections_count, dep.taxa_count) == (1, 1, 1)
    event = refreshed(world.event)
    assert (event.occurrences_count, event.detections_count) == (1, 1)
    assert refreshed(kept).detections_count == 1
    assert refreshed(low).detections_count == 0


def test_null_and_empty_bbox_and_eventless_occurrences(project, taxa):
    world = World(project)
    world.occurrence(taxa["S1"], 0.9, bbox=None)
    world.occurrence(taxa["S1"], 0.9, bbox=[])
    world.occurrence(taxa["S2"], 0.9, with_event=False)
    refresh_cached_fields([world.deployment.pk])
    dep = refreshed(world.deployment)
    # Occurrences need an event; detections need a real bbox (the third one counts).
    assert dep.occurrences_count == 2
    assert dep.taxa_count == 1
    assert dep.detections_count == 1


def test_include_taxa_with_descendants(project, taxa):
    project.default_filters_include_taxa.add(taxa["G1"])
    world = World(project)
    world.occurrence(taxa["G1"], 0.9)  # the included taxon itself
    world.occurrence(taxa["S1"], 0.9)  # a descendant
    world.occurrence(taxa["S3"], 0.9)  # same family, other genus: dropped
    world.occurrence(taxa["F1"], 0.9)  # an ancestor: dropped
    world.occurrence(None, 0.9)  # no determination: dropped
    refresh_cached_fields([world.deployment.pk])
    dep = refreshed(world.deployment)
    assert (dep.occurrences_count, dep.detections_count, dep.taxa_count) == (2, 2, 2)
    assert [refreshed(i).detections_count for i in world.images] == [1, 1, 0, 0, 0]


def test_exclude_taxa_with_descendants_after_include(project, taxa):
    project.default_filters_include_taxa.add(taxa["F1"])
    project.default_filters_exclude_taxa.add(taxa["G2"])
    world = World(project)
    world.occurrence(taxa["S1"], 0.9)  # kept
    world.occurrence(taxa["G2"], 0.9)  # excluded taxon
    world.occurrence(taxa["S3"], 0.9)  # descendant of the excluded taxon
    world.occurrence(taxa["S4"], 0.9)  # not included
    refresh_cached_fields([world.deployment.pk])
    dep = refreshed(world.deployment)
    assert (dep.occurrences_count, dep.detections_count, dep.taxa_count) == (1, 1, 1)
    assert refreshed(world.event).occurrences_count == 1


def test_exclude_keeps_undetermined(project, taxa):
    project.default_filters_exclude_taxa.add(taxa["O"])
    world = World(project)
    world.occurrence(taxa["S4"], 0.9)
    world.occurrence(None, 0.9)
    refresh_cached_fields([world.deployment.pk])
    dep = refreshed(world.deployment)
    assert dep.occurrences_count == 1
    assert dep.taxa_count == 0


def test_each_row_uses_its_own_project(project, taxa):
    strict = Project.objects.create(
        name="Strict", default_filters_score_threshold=0.95, create_defaults=False
    )
    lenient, severe = World(project, "lenient"), World(strict, "severe")
    for world in (lenient, severe):
        world.occurrence(taxa["S1"], 0.9)
    refresh_cached_fields([lenient.deployment.pk, severe.deployment.pk])
    assert refreshed(lenient.deployment).occurrences_count == 1
    assert refreshed(severe.deployment).occurrences_count == 0
    assert refreshed(severe.images[0]).detections_count == 0


def test_image_without_project_is_unfiltered(project, taxa):
    world = World(project)
    image = world.occurrence(taxa["S1"], 0.1)
    SourceImage.objects.filter(pk=image.pk).update(project=None)
    Detection.objects.create(source_image=image, occurrence=None, bbox=BOX)
    refresh_cached_fields([world.deployment.pk])
    assert refreshed(image).detections_count == 2


def test_only_given_deployments_are_touched(project, taxa):
    mine, other = World(project, "mine"), World(project, "other")
    mine.occurrence(taxa["S1"], 0.9)
    other.occurrence(taxa["S1"], 0.9)
    refresh_cached_fields([mine.deployment.pk])
    assert refreshed(mine.deployment).occurrences_count == 1
    # Still what each row's own save computed before its captures and occurrences existed
    # (Antenna's save recounts), not the 1s a refresh would give.
    untouched = refreshed(other.deployment)
    assert untouched.occurrences_count == 0
    assert untouched.captures_count == 0
    assert refreshed(other.event).captures_count == 0
    assert refreshed(other.images[0]).detections_count == 0


def test_project_refresh_covers_every_deployment_of_the_project(project, taxa):
    a, b = World(project, "a"), World(project, "b")
    elsewhere = World(Project.objects.create(name="Else", create_defaults=False))
    for world in (a, b, elsewhere):
        world.occurrence(taxa["S1"], 0.9)
    refresh_project_cached_fields([project.pk])
    assert refreshed(a.deployment).occurrences_count == 1
    assert refreshed(b.deployment).occurrences_count == 1
    assert refreshed(elsewhere.deployment).occurrences_count == 0  # as its save left it


def row_versions(table: str, pk: int) -> str:
    # ctid changes whenever Postgres writes a new version of the row.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ctid::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_unchanged_rows_are_not_rewritten(project, taxa):
    world = World(project)
    image = world.occurrence(taxa["S1"], 0.9)
    refresh_cached_fields([world.deployment.pk])
    before = row_versions("main_deployment", world.deployment.pk)
    image_before = row_versions("main_sourceimage", image.pk)
    event_before = row_versions("main_event", world.event.pk)
    refresh_cached_fields([world.deployment.pk])
    assert row_versions("main_deployment", world.deployment.pk) == before
    assert row_versions("main_sourceimage", image.pk) == image_before
    assert row_versions("main_event", world.event.pk) == event_before
    world.occurrence(taxa["S2"], 0.9)
    refresh_cached_fields([world.deployment.pk])
    assert row_versions("main_deployment", world.deployment.pk) != before
    assert row_versions("main_event", world.event.pk) != event_before


def count_statements(*worlds: World) -> int:
    with CaptureQueriesContext(connection) as ctx:
        refresh_cached_fields([w.deployment.pk for w in worlds])
    return len(ctx.captured_queries)


def test_statement_count_is_constant(project, taxa):
    small = World(project, "small")
    small.occurrence(taxa["S1"], 0.9)
    big = [World(project, f"big{i}") for i in range(3)]
    for world in big:
        for _ in range(20):
            world.occurrence(taxa["S2"], 0.9)
    assert count_statements(small) == count_statements(*big)
    assert count_statements() == 0


def test_sql_fragment_matches_q_builder(project, taxa):
    project.default_filters_include_taxa.add(taxa["F1"], taxa["F2"])
    project.default_filters_exclude_taxa.add(taxa["G1"])
    world = World(project)
    for name, score in [("S1", 0.9), ("S3", 0.9), ("S3", 0.1), ("S4", 0.7), ("O", 0.9)]:
        world.occurrence(taxa[name], score)
    world.occurrence(None, 0.9)
    expected = set(
        Occurrence.objects.filter(build_occurrence_default_filters_q(project)).values_list(
            "pk", flat=True
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.id FROM main_occurrence o JOIN main_project p ON p.id = o.project_id"
            f" WHERE {occurrence_default_filters_sql('o', 'p')}"
        )
        got = {row[0] for row in cursor.fetchall()}
    assert got == expected
    assert len(got) == 2  # S3 at 0.9 and S4


def test_q_builder_prefix_and_no_project(project, taxa):
    world = World(project)
    world.occurrence(taxa["S1"], 0.9)
    world.occurrence(taxa["S1"], 0.2)
    assert Detection.objects.filter(build_occurrence_default_filters_q(project, "occurrence__"))
    assert (
        Detection.objects.filter(
            build_occurrence_default_filters_q(project, "occurrence__")
        ).count()
        == 1
    )
    assert Occurrence.objects.filter(build_occurrence_default_filters_q(None)).count() == 2
