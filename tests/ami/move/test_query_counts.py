"""Queries grow with deployments, shared resources and collections, never with rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import ledger
from ami.move import MoveRequest, apply_plan, build_plan
from tests.builders import (
    add_deployment,
    make_collection,
    make_job,
    make_project,
    make_user,
    setup_source,
)

pytestmark = pytest.mark.django_db


def _world(n_images: int) -> MoveRequest:
    """Two moved deployments of ``n_images`` each, a staying one sharing the device, a mixed
    collection, jobs, identifications: the same shape whatever ``n_images``."""
    s = setup_source(n_images, with_identifications=True)
    second = add_deployment(
        s.project, "Dep A2", n_images, data_source=s.s3, taxon=s.species, occurrences=True
    )
    staying = add_deployment(s.project, "Dep B", n_images, device=s.device)
    make_collection(s.project, s.images + second.images + staying.images, "Mixed")
    make_collection(s.project, s.images, "Only A")
    make_job(s.project, deployment=s.dep)
    target = make_project("Target", make_user("owner"))
    return MoveRequest(
        source_project_id=s.project.pk,
        target_project_id=target.pk,
        deployment_ids=(s.dep.pk, second.dep.pk),
        reason="test move",
    )


def _count(request: MoveRequest) -> tuple[int, int, int]:
    ledger.prepare_capture()  # installing capture is a one-off, not part of every move
    with CaptureQueriesContext(connection) as dry:
        plan = build_plan(request)
    with CaptureQueriesContext(connection) as execute:
        report = apply_plan(plan)
    assert report.ok
    return len(dry), len(execute), plan.totals.source_images


def test_query_counts_do_not_grow_with_rows():
    _count(_world(1))  # the first move of a process fills one-off caches (two queries)
    small_dry, small_execute, small_images = _count(_world(5))
    large_dry, large_execute, large_images = _count(_world(50))
    assert (small_images, large_images) == (10, 100)
    assert small_dry == large_dry
    assert small_execute == large_execute


def test_query_counts_of_create_project_do_not_grow_with_rows():
    counts = []
    for n in (5, 50):
        request = _world(n)
        request = MoveRequest(
            source_project_id=request.source_project_id,
            create_project=f"New {n}",
            deployment_ids=request.deployment_ids,
            reason="test move",
        )
        counts.append(_count(request)[:2])
    assert counts[0] == counts[1]
