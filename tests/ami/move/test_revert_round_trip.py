"""Round trips exact to the cached columns' timestamps (issue 12, item 7), and the domain's
bookkeeping columns declared for the engine's column-level drift."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Event, Project
from ami.move.revert import DERIVED, MoveReplayHooks
from tests.ami.move.commands import dump, move, revert
from tests.builders import add_deployment, make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> SimpleNamespace:
    """The target hides everything under its score threshold (0.95) and has a station of its
    own: the move recounts the target's events (or, keeping the target's settings, the moved
    ones) under other filters."""
    src = setup_source(3)
    target = make_project("Target", make_user("target-owner"))
    Project.objects.filter(pk=target.pk).update(default_filters_score_threshold=0.95)
    own = add_deployment(target, "Target own", 2, taxon=src.species, occurrences=True)
    refresh_project_cached_fields([src.project.pk, target.pk])
    return SimpleNamespace(src=src, target=target, own=own)


def _move(w: SimpleNamespace, *flags: str) -> int:
    return move(
        "--source-project", str(w.src.project.pk), "--target-project", str(w.target.pk),
        "--deployment-ids", str(w.src.dep.pk), *flags,
    )  # fmt: skip


# Committed, so each command runs in a transaction of its own and now() advances.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("flags", [(), ("--keep-target-settings",)])
def test_recounted_events_keep_their_timestamps_through_a_round_trip(world, flags):
    stamps = dict(Event.objects.values_list("pk", "calculated_fields_updated_at"))
    assert all(stamps.values())
    before = dump()
    move_id = _move(world, *flags)
    changed = dict(Event.objects.values_list("pk", "calculated_fields_updated_at"))
    assert changed != stamps  # the move recounted some events
    revert(move_id, "--execute", "--reason", "undo")
    assert dict(Event.objects.values_list("pk", "calculated_fields_updated_at")) == stamps
    assert dump() == before


def test_bookkeeping_columns_are_declared_for_the_engine():
    hooks = MoveReplayHooks()
    assert "updated_at" in hooks.bookkeeping_columns["main_deployment"]
    assert "calculated_fields_updated_at" in hooks.bookkeeping_columns["main_event"]
    for table, columns in DERIVED.items():
        assert columns <= hooks.bookkeeping_columns[table]
