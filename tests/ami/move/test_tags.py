"""[copy-tags]: the source's tags on moved taxa reach the target by name."""

from __future__ import annotations

import pytest

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Project, Tag
from tests.ami.move.commands import dump, move_to, revert, run_move
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def src():
    src = setup_source(2)
    Tag.objects.create(name="pollinator", project=src.project).taxa.add(src.species)
    # Not on a moved taxon (the order is no occurrence's determination): stays behind.
    Tag.objects.create(name="pest", project=src.project).taxa.add(src.order)
    # Global: applies to every project already.
    Tag.objects.create(name="global", project=None).taxa.add(src.species)
    return src


def _tags(project) -> dict[str, set[int]]:
    return {
        t.name: set(t.taxa.values_list("pk", flat=True))
        for t in Tag.objects.filter(project=project)
    }


def test_tags_on_moved_taxa_are_copied_to_a_created_target(src):
    out = run_move(src.project, [src.dep.pk], create="Split off", execute=False)
    assert "Tag 'pollinator'" in out
    assert "on 1 moved taxa: will be created on the target; 1 taxon link(s) to add" in out
    assert "'pest'" not in out
    out = run_move(src.project, [src.dep.pk], create="Split off")
    assert "[copy-tags] 1 tag(s) on moved taxa: 1 created on the target" in out
    new = src.project.__class__.objects.get(name="Split off")
    assert _tags(new) == {"pollinator": {src.species.pk}}
    assert _tags(src.project) == {"pollinator": {src.species.pk}, "pest": {src.order.pk}}
    assert Tag.objects.filter(project=None).count() == 1


def test_the_targets_tag_of_the_same_name_is_reused(src):
    target = make_project("Target", make_user("target-owner"))
    own = Tag.objects.create(name="pollinator", project=target)
    own.taxa.add(src.order)
    out = run_move(src.project, [src.dep.pk], target=target, execute=False)
    assert f"the target's tag of that name (id={own.pk}) is reused; 1 taxon link(s) to add" in out
    run_move(src.project, [src.dep.pk], target=target)
    assert _tags(target) == {"pollinator": {src.order.pk, src.species.pk}}
    assert Tag.objects.filter(project=target).count() == 1


def test_a_tag_already_on_the_taxon_adds_nothing(src):
    target = make_project("Target", make_user("target-owner"))
    Tag.objects.create(name="pollinator", project=target).taxa.add(src.species)
    out = run_move(src.project, [src.dep.pk], target=target)
    assert "[copy-tags] 1 tag(s) on moved taxa: 0 created on the target, 1 reused by name" in out
    assert "(rows=0/0)" in out.split("\n[copy-tags]")[1].splitlines()[0]


def test_revert_removes_the_copied_tags_and_links(src):
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields(Project.objects.values_list("pk", flat=True))
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert _tags(target) == {"pollinator": {src.species.pk}}
    revert(move_id, "--execute", "--reason", "undo")
    assert dump() == before
    assert not Tag.objects.filter(project=target).exists()
