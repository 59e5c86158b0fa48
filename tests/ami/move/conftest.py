"""The move tests' common world; a test module with a world of its own defines ``world``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ami.main.cached_fields import refresh_project_cached_fields
from tests.builders import add_deployment, make_collection, make_project, make_user, setup_source


@pytest.fixture
def world(db) -> SimpleNamespace:
    """A source of four captures (identified) and a staying station sharing its S3 source and
    device, a mixed collection of both, an empty target; counts as they are."""
    src = setup_source(4, with_identifications=True)
    staying = add_deployment(src.project, "Dep B", 2, data_source=src.s3, device=src.device)
    make_collection(src.project, [*src.images, *staying.images], name="Mixed", method="random")
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields([src.project.pk, target.pk])
    return SimpleNamespace(src=src, staying=staying, target=target)
