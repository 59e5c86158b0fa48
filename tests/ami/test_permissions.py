"""Role permissions as Antenna grants them: per-project groups with model permissions and
django-guardian object permissions on the project, the owner's and every other user's."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_perms

from ami.main.models import Project
from ami.users import roles
from tests.builders import make_user

pytestmark = pytest.mark.django_db

# Object permissions per role group on a project Antenna creates (branch move-project-data).
ANTENNA_COUNTS = {
    "BasicMember": 6,
    "Researcher": 8,
    "Identifier": 9,
    "MLDataManager": 20,
    "ProjectManager": 54,
}


@pytest.fixture
def project(owner):
    return Project.objects.create(name="Moths", owner=owner, create_defaults=False)


def _group(project: Project, role: str) -> Group:
    return Group.objects.get(name=f"{project.pk}_{project.name}_{role}")


def _object_codenames(project: Project, group: Group) -> set[str]:
    return set(
        GroupObjectPermission.objects.filter(group=group, object_pk=str(project.pk))
        .values_list("permission__codename", flat=True)
        .distinct()
    )


@pytest.mark.parametrize(("role", "count"), ANTENNA_COUNTS.items())
def test_created_project_gives_each_group_antennas_permissions(project, role, count):
    group = _group(project, role)
    project_ct = ContentType.objects.get_for_model(Project)
    model_perms = group.permissions.all()
    object_perms = GroupObjectPermission.objects.filter(group=group, object_pk=str(project.pk))
    assert model_perms.count() == count
    assert object_perms.count() == count
    expected = roles.ROLES_BY_NAME[role].permissions
    assert set(model_perms.values_list("codename", flat=True)) == expected
    assert _object_codenames(project, group) == expected
    assert set(object_perms.values_list("content_type", flat=True)) == {project_ct.pk}
    assert set(model_perms.values_list("content_type", flat=True)) == {project_ct.pk}


def test_permission_sets_are_antennas():
    assert {r.__name__: len(r.permissions) for r in roles.ROLES} == ANTENNA_COUNTS
    assert "update_dataexport" not in roles.Researcher.permissions
    assert {"delete_job", "run_data_export_job"} <= roles.MLDataManager.permissions
    assert {"update_project", "import_data", "test_s3storagesource"} <= (
        roles.ProjectManager.permissions
    )
    assert "change_project" not in roles.ProjectManager.permissions


def test_owner_holds_the_54_project_manager_permissions(project, owner):
    assert set(get_perms(owner, project)) == roles.ProjectManager.permissions
    assert len(get_perms(owner, project)) == 54
    assert owner.has_perm("update_project", project)
    # Object permissions only: the owner holds nothing on another project.
    other = Project.objects.create(name="Other", create_defaults=False)
    assert not owner.has_perm("update_project", other)


def test_every_other_user_may_view_a_created_project(owner):
    others = [make_user(), make_user()]
    project = Project.objects.create(name="Moths", owner=owner, create_defaults=False)
    for user in others:
        assert get_perms(user, project) == ["view_project"]
        assert user.has_perm("view_project", project)
        assert not user.has_perm("view_private_data", project)
    grants = UserObjectPermission.objects.filter(object_pk=str(project.pk))
    assert not grants.filter(user=owner).exists()
    assert set(grants.values_list("user", flat=True)) >= {u.pk for u in others}


def test_a_project_without_owner_grants_no_user_permissions():
    project = Project.objects.create(name="Orphan", create_defaults=False)
    assert not UserObjectPermission.objects.filter(object_pk=str(project.pk)).exists()
    assert _group(project, "ProjectManager").permissions.count() == 54


def test_a_role_gives_its_permissions_on_that_project_only(project, owner):
    other = Project.objects.create(name="Other", owner=owner, create_defaults=False)
    user = make_user()
    roles.Researcher.assign_user(user, project)
    assert user.has_perm("create_dataexport", project)
    assert not user.has_perm("create_identification", project)
    assert not user.has_perm("create_dataexport", other)


def test_every_role_codename_has_a_permission_row_after_migrate():
    names = dict(
        Permission.objects.filter(
            content_type=ContentType.objects.get_for_model(Project),
            codename__in=roles.ALL_PERMISSIONS,
        ).values_list("codename", "name")
    )
    assert set(names) == roles.ALL_PERMISSIONS
    # The three Antenna creates on first use, with the name it gives them.
    assert names["update_project"] == "Can update project"
    assert names["import_data"] == "Can import data"
    assert names["delete_occurrences"] == "Can delete occurrences"


def test_granting_again_writes_nothing(project):
    assert roles.missing_role_rows(project.pk, project.name) == roles.RoleRows()
    assert roles.grant_role_permissions(project.pk, project.name) == 0


def test_missing_rows_are_counted_then_granted(project):
    group = _group(project, "Identifier")
    GroupObjectPermission.objects.filter(group=group).delete()
    group.permissions.remove(*group.permissions.filter(codename="create_identification"))
    _group(project, "Researcher").delete()
    missing = roles.missing_role_rows(project.pk, project.name)
    assert missing == roles.RoleRows(
        permissions=0, groups=1, group_permissions=1 + 8, object_permissions=9 + 8
    )
    assert roles.grant_role_permissions(project.pk, project.name) == sum(missing)
    assert _object_codenames(project, group) == roles.Identifier.permissions
    assert _group(project, "Researcher").permissions.count() == 8


def test_a_missing_permission_row_is_created_with_antennas_name(project):
    Permission.objects.filter(codename="import_data").delete()
    assert roles.missing_role_rows(project.pk, project.name).permissions == 1
    roles.grant_role_permissions(project.pk, project.name)
    permission = Permission.objects.get(codename="import_data")
    assert permission.name == "Can import data"
    assert permission.content_type == ContentType.objects.get_for_model(Project)
    assert _group(project, "ProjectManager").permissions.filter(pk=permission.pk).exists()


def test_project_creation_takes_a_fixed_number_of_queries(owner, django_assert_max_num_queries):
    # Set-based: the grants do not loop per permission or per user.
    with django_assert_max_num_queries(30):
        Project.objects.create(name="Moths", owner=owner, create_defaults=False)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM guardian_groupobjectpermission")
        assert cur.fetchone()[0] == sum(ANTENNA_COUNTS.values())


def test_a_new_owner_takes_over_project_manager(project, owner):
    successor = make_user()
    project.owner = successor
    project.save()
    assert roles.Role.user_roles(project, successor) == [roles.ProjectManager]
    assert roles.Role.user_roles(project, owner) == []
    assert not owner.has_perm("update_project", project)
    assert successor.has_perm("update_project", project)
