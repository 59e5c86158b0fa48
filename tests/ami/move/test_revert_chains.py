"""Chains of moves into one project, reverted in every order: an order that would delete rows
a later, unreverted move relies on is refused with the database unchanged; every other order
goes through, and the last revert leaves every table as before the first move."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from django.core.management.base import CommandError

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Taxon
from tests.ami.move.commands import dump, move, revert
from tests.builders import add_deployment, make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> SimpleNamespace:
    """Stations A, B, C of project 1. A and B share an identifier (move of B relies on the
    membership the move of A creates); C shares nothing with them."""
    src = setup_source(2, with_identifications=True)
    other = Taxon.objects.create(name="Other", rank="SPECIES", parent=src.order)
    third = Taxon.objects.create(name="Third", rank="SPECIES", parent=src.order)
    b = add_deployment(
        src.project, "Dep B", 2, taxon=other, occurrences=True, identifier=src.identifier
    )
    c = add_deployment(
        src.project, "Dep C", 2, taxon=third, occurrences=True, identifier=make_user("c")
    )
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields([src.project.pk, target.pk])
    return SimpleNamespace(src=src, stations=(src.dep, b.dep, c.dep), target=target)


def _move(w: SimpleNamespace, station) -> int:
    return move(
        "--source-project", str(w.src.project.pk), "--target-project", str(w.target.pk),
        "--deployment-ids", str(station.pk),
    )  # fmt: skip


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_order_of_reverting_a_chain(world, order):
    before = dump()
    moves = [_move(world, station) for station in world.stations]
    # Move 0 created what move 1 relies on: 0 may be reverted only once 1 is.
    relies_on = {0: {1}}
    reverted: set[int] = set()
    for i in order:
        blockers = relies_on.get(i, set()) - reverted
        if blockers:
            state = dump()
            later = moves[min(blockers)]
            with pytest.raises(CommandError, match=rf"move {later} \(later, not reverted\)"):
                revert(moves[i], "--execute", "--reason", "out of order")
            assert dump() == state
            return
        revert(moves[i], "--execute", "--reason", "in order")
        reverted.add(i)
    assert dump() == before
