"""Roles as per-project auth groups, and the signals that tie them to memberships."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group

from ami.main.models import Project, UserProjectMembership
from ami.users import roles
from tests.builders import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner):
    return Project.objects.create(name="Moths", owner=owner, create_defaults=False)


def test_project_creation_makes_five_named_groups(project):
    names = set(
        Group.objects.filter(name__startswith=f"{project.pk}_").values_list("name", flat=True)
    )
    assert names == {
        f"{project.pk}_Moths_{r}"
        for r in ("BasicMember", "Researcher", "Identifier", "MLDataManager", "ProjectManager")
    }


def test_owner_is_project_manager_and_member(project, owner):
    # As in Antenna: ProjectManager only; the membership comes from joining that group, so
    # ensure_owner_membership adds nothing (and no BasicMember).
    assert roles.Role.user_roles(project, owner) == [roles.ProjectManager]
    assert project.members.filter(pk=owner.pk).exists()
    assert roles.Role.get_primary_role(project, owner) is roles.ProjectManager


def test_members_add_gives_basic_member_and_remove_takes_it(project):
    user = make_user()
    project.members.add(user)
    assert roles.BasicMember.has_role(user, project)
    assert roles.Role.get_primary_role(project, user) is roles.BasicMember
    project.members.remove(user)
    assert not roles.BasicMember.has_role(user, project)


def test_assigning_a_role_creates_the_membership(project):
    user = make_user()
    roles.Identifier.assign_user(user, project)
    assert UserProjectMembership.objects.filter(user=user, project=project).exists()
    assert roles.Role.get_primary_role(project, user) is roles.Identifier


def test_last_role_removed_ends_the_membership(project):
    user = make_user()
    roles.Researcher.assign_user(user, project)
    roles.Researcher.unassign_user(user, project)
    assert not UserProjectMembership.objects.filter(user=user, project=project).exists()


def test_primary_role_is_the_one_with_most_permissions(project):
    user = make_user()
    project.members.add(user)
    roles.MLDataManager.assign_user(user, project)
    assert roles.Role.get_primary_role(project, user) is roles.MLDataManager
    assert roles.Role.user_roles(project, user) == [roles.BasicMember, roles.MLDataManager]


def test_no_role_means_no_primary_role(project):
    assert roles.Role.get_primary_role(project, make_user()) is None


def test_role_privileges_are_ordered(project):
    assert roles.BasicMember.permissions < roles.Identifier.permissions
    assert roles.Identifier.permissions < roles.ProjectManager.permissions
    assert roles.MLDataManager.permissions < roles.ProjectManager.permissions


def test_roles_are_per_project(owner):
    a = Project.objects.create(name="A", owner=owner, create_defaults=False)
    b = Project.objects.create(name="B", owner=owner, create_defaults=False)
    user = make_user()
    roles.Identifier.assign_user(user, a)
    assert roles.Identifier.has_role(user, a)
    assert not roles.Identifier.has_role(user, b)


def test_rename_renames_groups(project):
    project.name = "Insects"
    project.save()
    names = set(
        Group.objects.filter(name__startswith=f"{project.pk}_").values_list("name", flat=True)
    )
    assert f"{project.pk}_Insects_ProjectManager" in names
    assert not any("_Moths_" in n for n in names)


def test_delete_removes_groups(project):
    pk = project.pk
    project.delete()
    assert not Group.objects.filter(name__startswith=f"{pk}_").exists()


def test_no_email_in_role_logs(project, caplog):
    user = make_user()
    with caplog.at_level(logging.DEBUG):
        project.members.add(user)
        roles.Identifier.assign_user(user, project)
        roles.Identifier.unassign_user(user, project)
    assert caplog.records, "role changes should be logged"
    assert all("@" not in r.getMessage() for r in caplog.records)
    assert any(f"user id={user.pk}" in r.getMessage() for r in caplog.records)
