"""A move gives the target Antenna's role permissions, records them, and a revert removes them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_perms

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Project
from ami.users import roles as role_classes
from tests.ami.move.commands import dump, move, move_to, revert, run_move
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db

ANTENNA_COUNTS = {
    "BasicMember": 6,
    "Researcher": 8,
    "Identifier": 9,
    "MLDataManager": 20,
    "ProjectManager": 54,
}


def _create(src, name: str = "Split off") -> int:
    return move(
        "--source-project", str(src.project.pk), "--create-project", name,
        "--deployment-ids", str(src.dep.pk), "--reason", "test",
    )  # fmt: skip


def _group(project: Project, role: str) -> Group:
    return Group.objects.get(name=f"{project.pk}_{project.name}_{role}")


@pytest.mark.parametrize(("role", "count"), ANTENNA_COUNTS.items())
def test_created_target_groups_hold_antennas_permissions(role, count):
    src = setup_source(2, with_identifications=True)
    _create(src)
    new = Project.objects.get(name="Split off")
    group = _group(new, role)
    assert group.permissions.count() == count
    object_perms = GroupObjectPermission.objects.filter(group=group, object_pk=str(new.pk))
    assert object_perms.count() == count
    assert set(object_perms.values_list("permission__codename", flat=True)) == (
        role_classes.ROLES_BY_NAME[role].permissions
    )


def test_created_target_owner_and_other_users_have_antennas_object_permissions():
    src = setup_source(2, with_identifications=True)
    bystander = make_user("bystander")
    _create(src)
    new = Project.objects.get(name="Split off")
    assert len(get_perms(src.owner, new)) == 54
    assert get_perms(bystander, new) == ["view_project"]
    # The identifier arrives with Identifier (and BasicMember) on the new project.
    assert set(get_perms(src.identifier, new)) == role_classes.Identifier.permissions
    assert not UserObjectPermission.objects.filter(user=src.owner, object_pk=str(new.pk)).exists()


def test_revert_of_a_created_target_removes_every_permission_row():
    src = setup_source(2, with_identifications=True)
    make_user("bystander")
    refresh_project_cached_fields(Project.objects.values_list("pk", flat=True))
    before = dump()
    move_id = _create(src)
    new_pk = Project.objects.get(name="Split off").pk
    grown = {
        table: len(dump()[table]) - len(before[table])
        for table in (
            "auth_group",
            "auth_group_permissions",
            "guardian_groupobjectpermission",
            "guardian_userobjectpermission",
        )
    }
    assert grown["auth_group"] == 5
    assert grown["auth_group_permissions"] == sum(ANTENNA_COUNTS.values())
    assert grown["guardian_groupobjectpermission"] == sum(ANTENNA_COUNTS.values())
    assert grown["guardian_userobjectpermission"] > 0  # every user but the owner
    revert(move_id, "--execute", "--reason", "undo")
    assert dump() == before
    assert not GroupObjectPermission.objects.filter(object_pk=str(new_pk)).exists()
    assert not UserObjectPermission.objects.filter(object_pk=str(new_pk)).exists()


def _strip_permissions(project: Project) -> None:
    """A target whose groups were made without permissions (by an earlier version of this
    project, or by Antenna's ``assign_user`` on a missing group)."""
    groups = Group.objects.filter(name__startswith=f"{project.pk}_")
    GroupObjectPermission.objects.filter(group__in=groups).delete()
    for group in groups:
        group.permissions.clear()
    _group(project, "Researcher").delete()


def test_role_groups_step_completes_an_existing_target_and_revert_undoes_it():
    src = setup_source(2, with_identifications=True)
    target = make_project("Target", make_user("target-owner"))
    _strip_permissions(target)
    out = run_move(src.project, [src.dep.pk], target=target, execute=False)
    assert (
        "Target role groups incomplete: will add 1 group(s), 97 group permission(s), "
        "97 object permission(s), 0 permission row(s)"
    ) in out
    refresh_project_cached_fields(Project.objects.values_list("pk", flat=True))
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    for role, count in ANTENNA_COUNTS.items():
        assert _group(target, role).permissions.count() == count
    assert set(get_perms(src.identifier, target)) == role_classes.Identifier.permissions
    revert(move_id, "--execute", "--reason", "undo")
    assert dump() == before


def test_complete_target_groups_are_left_alone():
    src = setup_source(2)
    target = make_project("Target", make_user("target-owner"))
    out = run_move(src.project, [src.dep.pk], target=target, execute=False)
    assert "Target role groups hold Antenna's permissions already" in out
    out = run_move(src.project, [src.dep.pk], target=target)
    assert "[role-groups] the five role groups hold Antenna's permissions already (rows=0/0)" in (
        out
    )


def test_dry_run_of_a_created_target_names_the_permissions_it_gets():
    src = setup_source(2)
    out = run_move(src.project, [src.dep.pk], create="Split off", execute=False)
    assert "Antenna's five role groups with their model and object permissions" in out
    assert "(6, 8, 9, 20, 54)" in out
