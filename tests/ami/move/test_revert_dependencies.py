"""Dependencies between moves (issue 12, item 2): reverting an earlier move that created rows
a later, unreverted move into the same project relies on is refused, naming the later move and
the rows; reverting in the right order restores everything; the check flags exactly the rows
a lone run of the later move would have created."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from django.core.management.base import CommandError
from django.db import connection

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Project, Taxon
from ami.move.dependencies import NEEDS, rows_needed_by
from ledger.models import Move
from tests.ami.move.commands import dump, move, revert, revert_refused
from tests.builders import (
    add_deployment,
    make_pipeline,
    make_pipeline_config,
    make_processing_service,
    make_project,
    make_taxa_list,
    make_user,
    setup_source,
)

pytestmark = pytest.mark.django_db

# Columns that are bookkeeping, not what the row says: left out of a row's natural key.
_NOT_KEY = {"id", "created_at", "updated_at"}


@pytest.fixture
def world() -> SimpleNamespace:
    """Project 1 with four deployments. A and B share a taxon and an identifier; C has a taxon
    and an identifier of its own (only move 1 needs them), D too (only move 2 needs them).
    Project 1 has a pipeline config, a processing service, a taxa list and settings of its
    own; project 2 none."""
    src = setup_source(3, with_identifications=True)

    def taxon(name: str) -> Taxon:
        t = Taxon.objects.create(name=name, rank="SPECIES", parent=src.order)
        t.projects.add(src.project)
        return t

    b = add_deployment(
        src.project, "Dep B", 2, taxon=src.species, occurrences=True, identifier=src.identifier
    )
    c = add_deployment(
        src.project,
        "Dep C",
        2,
        taxon=taxon("Only C"),
        occurrences=True,
        identifier=make_user("c-identifier"),
    )
    d = add_deployment(
        src.project,
        "Dep D",
        2,
        taxon=taxon("Only D"),
        occurrences=True,
        identifier=make_user("d-identifier"),
    )
    make_pipeline_config(src.project, make_pipeline())
    make_processing_service(src.project)
    make_taxa_list("Moths", src.project)
    # Settings of its own, which a move into the target copies there.
    Project.objects.filter(pk=src.project.pk).update(
        default_filters_score_threshold=0.3, session_time_gap_seconds=5400
    )
    src.project.default_filters_include_taxa.add(src.order)
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields([src.project.pk, target.pk])
    return SimpleNamespace(src=src, a=src.dep, b=b.dep, c=c.dep, d=d.dep, target=target)


def _move(w: SimpleNamespace, *deployments) -> int:
    return move(
        "--source-project", str(w.src.project.pk), "--target-project", str(w.target.pk),
        "--deployment-ids", ",".join(str(d.pk) for d in deployments),
    )  # fmt: skip


def _inserted(move_id: int) -> dict[tuple[str, str], tuple]:
    """(table, pk) -> natural key of every row ``move_id`` inserted into a project-level table."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_name, pks[1], after::text FROM ledger_change "
            "WHERE move_id = %s AND op = 'I' AND table_name = ANY(%s)",
            [move_id, list(NEEDS)],
        )
        rows = [(table, pk, json.loads(after)) for table, pk, after in cur.fetchall()]
    return {
        (table, pk): (
            table,
            json.dumps({k: v for k, v in row.items() if k not in _NOT_KEY}, sort_keys=True),
        )
        for table, pk, row in rows
    }


def test_reverting_an_earlier_move_a_later_one_relies_on_is_refused(world):
    before = dump()
    first = _move(world, world.a, world.c)
    second = _move(world, world.b, world.d)
    state = dump()
    with pytest.raises(
        CommandError,
        match=rf"move {second} \(later, not reverted\) moved deployment\(s\) {world.b.pk}, "
        rf"{world.d.pk} into project {world.target.pk} and relies on rows this move created "
        rf"there.*main_taxon_projects: 1 row\(s\).*main_userprojectmembership: 1 row\(s\).*"
        rf"ml_projectpipelineconfig: 1 row\(s\).*Revert move {second} first",
    ):
        revert(first, "--execute", "--reason", "undo")
    assert dump() == state
    assert not Move.objects.filter(reverts_id=first).exists()
    # The dry run says the same, and changes nothing either.
    assert f"move {second} (later, not reverted)" in revert_refused(first)
    assert dump() == state
    # In the right order both reverts go through, and everything is as before both moves.
    revert(second, "--execute", "--reason", "undo the later move")
    revert(first, "--execute", "--reason", "undo the earlier move")
    assert dump() == before


def test_the_check_flags_exactly_what_a_lone_later_move_would_create(world):
    """Precise, not "any later move into the same project": the rows flagged are the rows move
    1 created that a lone move of move 2's deployments creates itself."""
    alone = _move(world, world.b, world.d)
    lone_rows = set(_inserted(alone).values())
    revert(alone, "--execute", "--reason", "only to see what it creates")
    first = _move(world, world.a, world.c)
    _move(world, world.b, world.d)
    created_by_first = _inserted(first)
    flagged = {
        created_by_first[(table, pk)]
        for table, _count, pks in rows_needed_by(
            first, [world.b.pk, world.d.pk], world.src.project.pk, True, sample=1000
        )
        for pk in pks
    }
    assert flagged == lone_rows & set(created_by_first.values())
    assert flagged  # the later move does rely on some of them
    assert flagged != set(created_by_first.values())  # and not on those only C needs
    tables = {table for table, _key in flagged}
    assert {"main_taxon_projects", "main_userprojectmembership", "users_user_groups"} <= tables
    assert {"ml_projectpipelineconfig", "ml_processingservice_projects"} <= tables
    assert "main_taxalist_projects" in tables
    assert "main_project_default_filters_include_taxa" in tables


def test_the_target_settings_a_later_move_relies_on_block_too(world):
    """Move 1 gave project 2 project 1's settings; move 2 found them and wrote none."""
    first = _move(world, world.a, world.c)
    second = _move(world, world.b, world.d)
    with pytest.raises(
        CommandError,
        match=rf"move {second} \(later, not reverted\).*"
        r"main_project_default_filters_include_taxa: 1 row\(s\).*"
        rf"main_project: 1 row\(s\) \(e.g. {world.target.pk}\)",
    ):
        revert(first, "--execute", "--reason", "undo")


def test_a_later_move_keeping_the_target_settings_does_not_rely_on_them(world):
    first = _move(world, world.a, world.c)
    keep = move(
        "--source-project", str(world.src.project.pk), "--target-project", str(world.target.pk),
        "--deployment-ids", str(world.b.pk), "--keep-target-settings",
    )  # fmt: skip
    needed = {
        table
        for table, _count, _keys in rows_needed_by(
            first, [world.b.pk], world.src.project.pk, True, keep=True, target=world.target.pk
        )
    }
    assert "main_project" not in needed
    assert "main_project_default_filters_include_taxa" not in needed
    assert "main_taxon_projects" in needed  # B's species: move 1 linked it
    assert keep > first


def test_an_independent_later_move_does_not_block(world):
    """A later move into the same project that needs nothing the first created."""
    other = make_project("Elsewhere", make_user("elsewhere-owner"))
    first = _move(world, world.c)
    # From another project, with its own taxon and no identifications: needs none of C's rows.
    lone = add_deployment(other, "Dep E", 1)
    move(
        "--source-project", str(other.pk), "--target-project", str(world.target.pk),
        "--deployment-ids", str(lone.dep.pk), "--keep-target-settings",
    )  # fmt: skip
    revert(first, "--execute", "--reason", "undo")
    assert Move.objects.filter(reverts_id=first).exists()


def test_the_check_after_the_replay_catches_what_the_scan_missed(world, monkeypatch):
    """Safety net: were the scan to miss the dependency, the check after the replay finds the
    links the revert deleted that the later move's deployments need, and rolls back."""
    first = _move(world, world.a, world.c)
    _move(world, world.b, world.d)
    monkeypatch.setattr("ami.move.revert.later_move_dependencies", lambda *args: [])
    state = dump()
    with pytest.raises(
        CommandError,
        match=r"members-and-taxa-links failed: 1 main_taxon_projects row\(s\) deleted by the "
        rf"revert are needed by deployments later moves brought into project {world.target.pk}"
        r".*1 main_userprojectmembership row\(s\)",
    ):
        revert(first, "--execute", "--reason", "undo")
    assert dump() == state
