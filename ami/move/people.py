"""Who gets access to the target, with which role (read-only planning).

Roles are per-project auth groups named ``{project.pk}_{project.name}_{RoleClass}``
(``ami.users.roles``). Users are handled by id only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

from ami.move.sql import rows as _query
from ami.move.structs import IdentifierPlan, MoveRequest, ProjectRef, RoleGrantsPlan
from ami.users.roles import ROLES, ROLES_BY_NAME, BasicMember, Identifier, missing_role_rows

_IDENTIFIERS_SQL = """
SELECT DISTINCT i.user_id FROM main_identification i
JOIN main_occurrence o ON o.id = i.occurrence_id
WHERE o.deployment_id = ANY(%(d)s) AND i.user_id IS NOT NULL
"""

_MEMBERS_SQL = """
SELECT project_id, user_id FROM main_userprojectmembership WHERE project_id = ANY(%(p)s)
"""

_GROUPS_SQL = """
SELECT ug.user_id, g.name FROM users_user_groups ug JOIN auth_group g ON g.id = ug.group_id
WHERE ug.user_id = ANY(%(u)s) AND g.name = ANY(%(names)s)
"""

# The most an identifier gets in someone else's project unless --preserve-roles.
IDENTIFIER_CAP = Identifier


def group_name(project: ProjectRef, role_name: str) -> str:
    """The auth group name of a role on ``project`` (``Role.get_group_name`` on a ref)."""
    return ROLES_BY_NAME[role_name].get_group_name(
        cast(Any, SimpleNamespace(pk=project.id, name=project.name))
    )


def primary_role(role_names: set[str]) -> str | None:
    """The held role with the most permissions, as ``Role.get_primary_role`` picks it."""
    held = [ROLES_BY_NAME[n] for n in role_names if n in ROLES_BY_NAME]
    return max(held, key=lambda r: len(r.permissions)).__name__ if held else None


def _capped(role_name: str | None) -> str:
    """The source role if it grants nothing Identifier does not, else Identifier.

    Permission sets are compared, not positions in ROLES: Researcher comes before Identifier
    in the list but may create and delete data exports, which Identifier may not.
    """
    if role_name is None:
        return IDENTIFIER_CAP.__name__
    if ROLES_BY_NAME[role_name].permissions <= IDENTIFIER_CAP.permissions:
        return role_name
    return IDENTIFIER_CAP.__name__


def plan_identifiers(
    request: MoveRequest, params: Mapping[str, Any], source: ProjectRef, target: ProjectRef
) -> tuple[IdentifierPlan, ...]:
    """Plan memberships and roles on the target.

    - New project: every source member arrives with BasicMember plus their primary source
      role; identifiers who are not source members get Identifier.
    - Existing target: its members keep exactly their roles. Identifiers who are not members
      get their source role capped at Identifier, or the source role with --preserve-roles.
    """
    identifiers = {r[0] for r in _query(_IDENTIFIERS_SQL, params)}
    members: dict[int | None, set[int]] = {}
    for project_id, user_id in _query(_MEMBERS_SQL, {"p": [source.id, target.id or 0]}):
        members.setdefault(project_id, set()).add(user_id)
    source_members = members.get(source.id, set())
    target_members = members.get(target.id, set()) if target.id else set()
    creating = target.id is None
    users = sorted(identifiers | (source_members if creating else set()))
    if not users:
        return ()
    role_names = [r.__name__ for r in ROLES]
    names = {group_name(source, n): ("source", n) for n in role_names}
    if target.id:
        names |= {group_name(target, n): ("target", n) for n in role_names}
    held: dict[tuple[int, str], set[str]] = {}
    for user_id, name in _query(_GROUPS_SQL, {"u": users, "names": list(names)}):
        side, held_role = names[name]
        held.setdefault((user_id, side), set()).add(held_role)
    plans = []
    for user_id in users:
        source_role = primary_role(held.get((user_id, "source"), set()))
        before = held.get((user_id, "target"), set())
        role: str | None
        if creating:
            role = source_role or (
                BasicMember.__name__ if user_id in source_members else Identifier.__name__
            )
            if user_id == source.owner_id:
                # The owner of the new project is its ProjectManager from its creation, as in
                # Antenna, where copying the members adds nothing for them.
                before = {"ProjectManager"}
                role = None
        elif user_id in target_members:
            role = None
        elif request.preserve_roles and source_role:
            role = source_role
        else:
            role = _capped(source_role)
        wanted = {BasicMember.__name__, role} if role else set()
        plans.append(
            IdentifierPlan(
                user_id=user_id,
                is_identifier=user_id in identifiers,
                is_source_member=user_id in source_members,
                source_role=source_role,
                target_roles_before=tuple(sorted(before)),
                role=role,
                add_membership=role is not None
                and user_id not in target_members
                and not (creating and user_id == source.owner_id),
                groups_to_add=tuple(sorted(wanted - before)),
            )
        )
    return tuple(plans)


def plan_role_grants(target: ProjectRef) -> RoleGrantsPlan:
    """What an existing target lacks of Antenna's role groups and permissions (read-only).

    A created target gets them all from its creation, so nothing is left for ``[role-groups]``.
    """
    if target.id is None:
        return RoleGrantsPlan()
    return RoleGrantsPlan(**missing_role_rows(target.id, target.name)._asdict())
