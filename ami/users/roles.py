"""Project roles as per-project Django auth groups, as in Antenna (without django-guardian).

A role is held by being in the group ``"{project.pk}_{project.name}_{RoleClass}"``. A member
normally holds BasicMember plus one primary role; the primary role is the held role with the
most permissions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from django.contrib.auth.models import Group

if TYPE_CHECKING:
    from ami.main.models import Project
    from ami.users.models import User

logger = logging.getLogger(__name__)


class Role:
    """Base role: every role may view the project."""

    display_name: ClassVar[str] = "Role"
    permissions: ClassVar[frozenset[str]] = frozenset({"view_project"})

    @classmethod
    def get_group_name(cls, project: Project) -> str:
        return f"{project.pk}_{project.name}_{cls.__name__}"

    @classmethod
    def get_group(cls, project: Project) -> Group:
        group, _ = Group.objects.get_or_create(name=cls.get_group_name(project))
        return group

    @classmethod
    def assign_user(cls, user: User, project: Project) -> None:
        user.groups.add(cls.get_group(project))
        logger.info(
            "assigned role %s on project %s to user id=%s", cls.__name__, project.pk, user.pk
        )

    @classmethod
    def unassign_user(cls, user: User, project: Project) -> None:
        group = Group.objects.filter(name=cls.get_group_name(project)).first()
        if group is not None:
            user.groups.remove(group)
            logger.info(
                "removed role %s on project %s from user id=%s", cls.__name__, project.pk, user.pk
            )

    @classmethod
    def has_role(cls, user: User, project: Project) -> bool:
        return user.groups.filter(name=cls.get_group_name(project)).exists()

    @staticmethod
    def user_roles(project: Project, user: User) -> list[type[Role]]:
        held = set(
            user.groups.filter(name__startswith=f"{project.pk}_").values_list("name", flat=True)
        )
        return [role for role in ROLES if role.get_group_name(project) in held]

    @staticmethod
    def get_primary_role(project: Project, user: User) -> type[Role] | None:
        roles = Role.user_roles(project, user)
        return max(roles, key=lambda r: len(r.permissions)) if roles else None


class BasicMember(Role):
    display_name = "Basic member"
    permissions = Role.permissions | {
        "view_private_data",
        "star_sourceimage",
        "create_job",
        "run_single_image_ml_job",
        "view_userprojectmembership",
    }


class Researcher(Role):
    display_name = "Researcher"
    permissions = BasicMember.permissions | {"create_dataexport", "delete_dataexport"}


class Identifier(Role):
    display_name = "Identifier"
    permissions = BasicMember.permissions | {
        "create_identification",
        "update_identification",
        "delete_identification",
    }


class MLDataManager(Role):
    display_name = "ML data manager"
    permissions = BasicMember.permissions | {
        "run_ml_job",
        "create_job",
        "update_job",
        "delete_job",
        "create_projectpipelineconfig",
        "update_projectpipelineconfig",
        "delete_projectpipelineconfig",
        "create_sourceimagecollection",
        "update_sourceimagecollection",
        "delete_sourceimagecollection",
        "populate_sourceimagecollection",
        "delete_occurrences",
    }


class ProjectManager(Role):
    display_name = "Project manager"
    permissions = (
        BasicMember.permissions
        | Researcher.permissions
        | Identifier.permissions
        | MLDataManager.permissions
        | {
            "change_project",
            "delete_project",
            "create_s3storagesource",
            "update_s3storagesource",
            "delete_s3storagesource",
            "create_deployment",
            "update_deployment",
            "delete_deployment",
            "sync_deployment",
            "create_site",
            "update_site",
            "delete_site",
            "create_device",
            "update_device",
            "delete_device",
            "create_sourceimage",
            "update_sourceimage",
            "delete_sourceimage",
            "create_sourceimageupload",
            "delete_sourceimageupload",
            "create_userprojectmembership",
            "update_userprojectmembership",
            "delete_userprojectmembership",
            "create_taxalist",
            "update_taxalist",
            "delete_taxalist",
        }
    )


# Ordered from least to most privileged.
ROLES: tuple[type[Role], ...] = (
    BasicMember,
    Researcher,
    Identifier,
    MLDataManager,
    ProjectManager,
)
ROLES_BY_NAME: dict[str, type[Role]] = {role.__name__: role for role in ROLES}


def create_roles_for_project(project: Project) -> None:
    """Create the project's five role groups (one INSERT, existing ones kept)."""
    names = [role.get_group_name(project) for role in ROLES]
    existing = set(Group.objects.filter(name__in=names).values_list("name", flat=True))
    Group.objects.bulk_create([Group(name=n) for n in names if n not in existing])


def rename_role_groups(project: Project) -> None:
    """Keep group names in step with the project's name (one UPDATE per role)."""
    for role in ROLES:
        Group.objects.filter(
            name__startswith=f"{project.pk}_", name__endswith=f"_{role.__name__}"
        ).exclude(name=role.get_group_name(project)).update(name=role.get_group_name(project))


def delete_role_groups(project: Project) -> None:
    Group.objects.filter(name__in=[role.get_group_name(project) for role in ROLES]).delete()
