"""Full-row history of project settings (pghistory), tied to the move that changed them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command

import ledger
from ledger.models import Move
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


def test_settings_change_of_a_move_is_a_full_row_event_in_the_moves_context():
    event_model = apps.get_model("main", "ProjectSettingsEvent")
    src = setup_source(2)
    src.project.default_filters_score_threshold = 0.75
    src.project.save()
    target = make_project("Target", make_user("t"))
    call_command(
        "move_project_data",
        "--source-project", str(src.project.pk),
        "--target-project", str(target.pk),
        "--deployment-ids", str(src.dep.pk),
        "--reason", "ticket 7",
        "--execute",
        stdout=StringIO(),
    )  # fmt: skip
    move = Move.objects.get()
    events = ledger.history_events(event_model, move.pk)
    [event] = list(events)
    assert event.pgh_label == "settings_changed"
    assert event.pgh_obj_id == target.pk
    assert event.default_filters_score_threshold == 0.75
    assert event.name == "Target"  # the whole row, not a delta
    assert str(event.pgh_context_id) == str(move.context_id)
    assert event.pgh_context.metadata["ledger_reason"] == "ticket 7"


def test_ordinary_settings_edits_are_history_without_a_move():
    event_model = apps.get_model("main", "ProjectSettingsEvent")
    project = make_project("P", make_user("o"))
    project.session_time_gap_seconds = 60
    project.save()
    project.description = "not a setting"
    project.save()
    labels = list(
        event_model.objects.filter(pgh_obj_id=project.pk)
        .order_by("pgh_id")
        .values_list("pgh_label", "session_time_gap_seconds")
    )
    assert labels == [("created", 7200), ("settings_changed", 60)]
    assert (
        event_model.objects.filter(pgh_obj_id=project.pk, pgh_context__isnull=False).count() == 0
    )
