"""Project roles as in Antenna: per-project auth groups plus django-guardian object permissions.

A role is held by being in the group ``"{project.pk}_{project.name}_{RoleClass}"``. Each group
holds its role's permission codenames twice, as Antenna's ``create_roles_for_project`` grants
them: as model permissions of the group and as guardian object permissions on the project, all
on Project's content type. The permission sets are Antenna's (branch ``move-project-data``):
6, 8, 9, 20 and 54 codenames. A member normally holds BasicMember plus one primary role; the
primary role is the held role with the most permissions. The owner of a new project holds
ProjectManager.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from django.contrib.auth.models import Group
from django.db import connection

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
    # Antenna leaves update_dataexport out on purpose: only superusers change exports.
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
        "create_job",
        "update_job",
        "run_ml_job",
        "run_populate_captures_collection_job",
        "run_data_storage_sync_job",
        "run_data_export_job",
        "delete_job",
        "delete_occurrences",
        "create_projectpipelineconfig",
        "update_projectpipelineconfig",
        "delete_projectpipelineconfig",
        "create_sourceimagecollection",
        "update_sourceimagecollection",
        "delete_sourceimagecollection",
        "populate_sourceimagecollection",
    }


class ProjectManager(Role):
    display_name = "Project manager"
    permissions = (
        BasicMember.permissions
        | Researcher.permissions
        | Identifier.permissions
        | MLDataManager.permissions
        | {
            "update_project",
            "delete_project",
            "import_data",
            "create_s3storagesource",
            "update_s3storagesource",
            "delete_s3storagesource",
            "test_s3storagesource",
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
            "update_sourceimageupload",
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
ALL_PERMISSIONS: frozenset[str] = frozenset().union(*(role.permissions for role in ROLES))


# The content type every role permission is on, as in Antenna: all of them are Project's.
_PROJECT_CT = "(SELECT id FROM django_content_type WHERE app_label = 'main' AND model = 'project')"

_ENSURE_CONTENT_TYPE = """
INSERT INTO django_content_type (app_label, model) VALUES ('main', 'project')
ON CONFLICT (app_label, model) DO NOTHING
"""
"""Writes django_content_type, only on a database whose post_migrate never ran."""

# Antenna creates a missing permission on first use with this name (get_or_create).
_ENSURE_PERMISSIONS = f"""
INSERT INTO auth_permission (name, content_type_id, codename)
SELECT 'Can ' || replace(c, '_', ' '), {_PROJECT_CT}, c FROM unnest(%(codenames)s::text[]) AS c
ON CONFLICT (content_type_id, codename) DO NOTHING
"""
"""Writes auth_permission: the role codenames that have no row yet."""

_ENSURE_GROUPS = """
INSERT INTO auth_group (name) SELECT unnest(%(names)s::text[]) ON CONFLICT (name) DO NOTHING
"""
"""Writes auth_group: the project's missing role groups."""

_GRANTS = f"""
SELECT g.id AS group_id, p.id AS permission_id, p.content_type_id
FROM unnest(%(group_names)s::text[], %(grant_codenames)s::text[]) AS x(name, codename)
JOIN auth_group g ON g.name = x.name
JOIN auth_permission p ON p.codename = x.codename AND p.content_type_id = {_PROJECT_CT}
"""

_GROUP_PERMISSIONS = f"""
INSERT INTO auth_group_permissions (group_id, permission_id)
SELECT group_id, permission_id FROM ({_GRANTS}) AS grants
ON CONFLICT (group_id, permission_id) DO NOTHING
"""
"""Writes auth_group_permissions (Antenna's ``group.permissions.add``)."""

_GROUP_OBJECT_PERMISSIONS = f"""
INSERT INTO guardian_groupobjectpermission (object_pk, content_type_id, group_id, permission_id)
SELECT %(object_pk)s, content_type_id, group_id, permission_id FROM ({_GRANTS}) AS grants
ON CONFLICT (group_id, permission_id, object_pk) DO NOTHING
"""
"""Writes guardian_groupobjectpermission (Antenna's ``assign_perm(codename, group, project)``)."""

_VIEW_FOR_OTHER_USERS = f"""
INSERT INTO guardian_userobjectpermission (object_pk, content_type_id, user_id, permission_id)
SELECT %(object_pk)s, p.content_type_id, u.id, p.id
FROM users_user u
JOIN auth_permission p ON p.codename = 'view_project' AND p.content_type_id = {_PROJECT_CT}
WHERE u.id <> %(owner)s
ON CONFLICT (user_id, permission_id, object_pk) DO NOTHING
"""
"""Writes guardian_userobjectpermission: view_project on the project for every other user."""

_MISSING = f"""
WITH wanted AS (
    SELECT * FROM unnest(%(group_names)s::text[], %(grant_codenames)s::text[]) AS x(name, codename)
), granted AS (
    SELECT g.name, p.codename, gp.id AS model_row, gop.id AS object_row
    FROM auth_group g
    JOIN auth_permission p ON p.content_type_id = {_PROJECT_CT}
    LEFT JOIN auth_group_permissions gp ON gp.group_id = g.id AND gp.permission_id = p.id
    LEFT JOIN guardian_groupobjectpermission gop ON gop.group_id = g.id
        AND gop.permission_id = p.id AND gop.object_pk = %(object_pk)s
    WHERE g.name = ANY(%(names)s)
)
SELECT
    (SELECT count(*) FROM unnest(%(codenames)s::text[]) AS c WHERE NOT EXISTS (
        SELECT 1 FROM auth_permission p
        WHERE p.codename = c AND p.content_type_id = {_PROJECT_CT})),
    (SELECT count(*) FROM unnest(%(names)s::text[]) AS n
        WHERE NOT EXISTS (SELECT 1 FROM auth_group g WHERE g.name = n)),
    (SELECT count(*) FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM granted x
        WHERE x.name = w.name AND x.codename = w.codename AND x.model_row IS NOT NULL)),
    (SELECT count(*) FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM granted x
        WHERE x.name = w.name AND x.codename = w.codename AND x.object_row IS NOT NULL))
"""


class RoleRows(NamedTuple):
    """Rows ``grant_role_permissions`` would add: permissions, groups, their model and object
    permissions."""

    permissions: int = 0
    groups: int = 0
    group_permissions: int = 0
    object_permissions: int = 0


def group_name(project_id: int, project_name: str, role: type[Role]) -> str:
    """``Role.get_group_name`` from a project's id and name (no instance needed)."""
    return role.get_group_name(SimpleNamespace(pk=project_id, name=project_name))


def _grant_params(project_id: int, project_name: str) -> dict[str, object]:
    pairs = [
        (group_name(project_id, project_name, role), codename)
        for role in ROLES
        for codename in sorted(role.permissions)
    ]
    return {
        "names": [group_name(project_id, project_name, role) for role in ROLES],
        "codenames": sorted(ALL_PERMISSIONS),
        "group_names": [name for name, _ in pairs],
        "grant_codenames": [codename for _, codename in pairs],
        "object_pk": str(project_id),
    }


def missing_role_rows(project_id: int, project_name: str) -> RoleRows:
    """What ``grant_role_permissions`` would write now (read-only, one query)."""
    with connection.cursor() as cur:
        cur.execute(_MISSING, _grant_params(project_id, project_name))
        return RoleRows(*cur.fetchone())


def grant_role_permissions(project_id: int, project_name: str) -> int:
    """Give the project its five role groups with Antenna's permissions; returns rows written.

    Each group gets its role's codenames both as model permissions
    (``auth_group_permissions``) and as django-guardian object permissions on the project
    (``guardian_groupobjectpermission``), all on Project's content type, as Antenna's
    ``create_roles_for_project`` assigns them. Five statements whatever the project; what
    exists already is kept (Antenna resets the permissions of an existing group; this only adds
    the missing ones, so it never removes a grant made by hand).
    """
    params = _grant_params(project_id, project_name)
    written = 0
    with connection.cursor() as cur:
        for sql in (
            _ENSURE_CONTENT_TYPE,
            _ENSURE_PERMISSIONS,
            _ENSURE_GROUPS,
            _GROUP_PERMISSIONS,
            _GROUP_OBJECT_PERMISSIONS,
        ):
            cur.execute(sql, params)
            written += max(cur.rowcount, 0)
    return written


def grant_view_to_other_users(project_id: int, owner_id: int) -> int:
    """Give every user but the owner ``view_project`` on the project (one INSERT).

    Antenna does this, one row per user, when a project with an owner is created.
    """
    with connection.cursor() as cur:
        cur.execute(_VIEW_FOR_OTHER_USERS, {"object_pk": str(project_id), "owner": owner_id})
        return max(cur.rowcount, 0)


def create_roles_for_project(project: Project) -> None:
    """Antenna's name for ``grant_role_permissions`` on a project instance."""
    grant_role_permissions(project.pk, project.name)


def rename_role_groups(project: Project) -> None:
    """Keep group names in step with the project's name (one UPDATE per role)."""
    for role in ROLES:
        Group.objects.filter(
            name__startswith=f"{project.pk}_", name__endswith=f"_{role.__name__}"
        ).exclude(name=role.get_group_name(project)).update(name=role.get_group_name(project))


def delete_role_groups(project: Project) -> None:
    Group.objects.filter(name__in=[role.get_group_name(project) for role in ROLES]).delete()
