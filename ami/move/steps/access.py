"""Taxa, members and roles: ``[link-taxa]``, ``[role-groups]``, ``[add-identifiers]``,
``[link-taxalists]``.

Memberships and role groups are inserted set-based, without the membership signals: no
cascade per user and no log line naming anyone. The result is what the signals would give
(a membership row, BasicMember and the primary role's group).
"""

from __future__ import annotations

from ami.move.people import group_name
from ami.move.steps.base import StepContext, run_simple
from ami.move.structs import ProjectRef, StepResult
from ami.users.roles import ROLES

_LINK_TAXA = """
INSERT INTO main_taxon_projects (taxon_id, project_id)
SELECT DISTINCT determination_id, %(t)s FROM main_occurrence
WHERE deployment_id = ANY(%(d)s) AND determination_id IS NOT NULL
ON CONFLICT DO NOTHING
"""
_ROLE_GROUPS = """
INSERT INTO auth_group (name) SELECT unnest(%(names)s::text[]) ON CONFLICT (name) DO NOTHING
"""
_MEMBERSHIPS = """
INSERT INTO main_userprojectmembership (user_id, project_id, created_at, updated_at)
SELECT u, %(t)s, now(), now() FROM unnest(%(u)s::bigint[]) AS u
ON CONFLICT (user_id, project_id) DO NOTHING
"""
_USER_GROUPS = """
INSERT INTO users_user_groups (user_id, group_id)
SELECT x.u, g.id FROM unnest(%(u)s::bigint[], %(names)s::text[]) AS x(u, name)
JOIN auth_group g ON g.name = x.name
ON CONFLICT DO NOTHING
"""
_LINK_TAXALISTS = """
INSERT INTO main_taxalist_projects (taxalist_id, project_id)
SELECT taxalist_id, %(t)s FROM main_taxalist_projects WHERE project_id = %(s)s
ON CONFLICT DO NOTHING
"""


def _target(ctx: StepContext) -> ProjectRef:
    return ProjectRef(id=ctx.target_id, name=ctx.plan.target.name)


def link_taxa(ctx: StepContext) -> StepResult:
    """Writes main_taxon_projects: the determinations of the moved occurrences."""
    return run_simple(
        ctx, "[link-taxa]", "insert", ctx.plan.taxa_to_link, _LINK_TAXA, ctx.params()
    )


def role_groups(ctx: StepContext) -> StepResult:
    """Writes auth_group: the target's five role groups, if any is missing."""
    names = [group_name(_target(ctx), r.__name__) for r in ROLES]
    return run_simple(ctx, "[role-groups]", "insert", None, _ROLE_GROUPS, {"names": names})


def add_identifiers(ctx: StepContext) -> StepResult:
    """Writes main_userprojectmembership and users_user_groups for the planned users."""
    plans = ctx.plan.identifiers
    members = [p.user_id for p in plans if p.add_membership]
    pairs = [(p.user_id, group_name(_target(ctx), g)) for p in plans for g in p.groups_to_add]
    expected = len(members) + len(pairs)
    with ctx.step("[add-identifiers]", expected, "insert") as run:
        if members:
            run.execute(_MEMBERSHIPS, ctx.params(u=members))
        if pairs:
            users, names = zip(*pairs, strict=True)
            run.execute(_USER_GROUPS, {"u": list(users), "names": list(names)})
        for p in plans:
            if p.role is None:
                run.detail.append(f"User id={p.user_id}: already a member, role unchanged")
            else:
                run.detail.append(f"Added user id={p.user_id} as {p.role}")
        if not plans:
            run.detail.append("No identifier users to add")
    return ctx.last


def link_taxalists(ctx: StepContext) -> StepResult:
    """Writes main_taxalist_projects."""
    expected = sum(1 for t in ctx.plan.taxa_lists if not t.linked_to_target)
    return run_simple(ctx, "[link-taxalists]", "insert", expected, _LINK_TAXALISTS, ctx.params())
