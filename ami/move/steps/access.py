"""Taxa, members and roles: ``[link-taxa]``, ``[copy-tags]``, ``[role-groups]``,
``[add-identifiers]``, ``[link-taxalists]``.

Memberships and role groups are inserted set-based, without the membership signals: no
cascade per user and no log line naming anyone. The result is what the signals would give
(a membership row, BasicMember and the primary role's group).
"""

from __future__ import annotations

from ami.move.people import group_name
from ami.move.steps.base import StepContext, run_simple
from ami.move.structs import ProjectRef, StepResult
from ami.move.tags import MOVED_TAXA
from ami.users.roles import grant_role_permissions

_LINK_TAXA = """
INSERT INTO main_taxon_projects (taxon_id, project_id)
SELECT DISTINCT determination_id, %(t)s FROM main_occurrence
WHERE deployment_id = ANY(%(d)s) AND determination_id IS NOT NULL
ON CONFLICT DO NOTHING
"""
_COPY_TAGS = """
INSERT INTO main_tag (name, project_id, created_at, updated_at)
SELECT name, %(t)s, now(), now() FROM main_tag WHERE id = ANY(%(tags)s)
ON CONFLICT (name, project_id) DO NOTHING
"""
_TAG_TAXA = f"""
INSERT INTO main_taxon_tags (taxon_id, tag_id)
SELECT DISTINCT tt.taxon_id, tg.id FROM main_tag st
JOIN main_taxon_tags tt ON tt.tag_id = st.id
JOIN main_tag tg ON tg.project_id = %(t)s AND tg.name = st.name
WHERE st.id = ANY(%(tags)s) AND tt.taxon_id IN ({MOVED_TAXA})
ON CONFLICT (taxon_id, tag_id) DO NOTHING
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
    return run_simple(ctx, "insert", ctx.plan.taxa_to_link, _LINK_TAXA, ctx.params())


def copy_tags(ctx: StepContext) -> StepResult:
    """Writes main_tag and main_taxon_tags: the source's tags on moved taxa, copied to the
    target by name (its own tag of that name reused) and put on those taxa."""
    tags = ctx.plan.tags
    expected = sum(t.target_tag_id is None for t in tags) + sum(t.links_to_add for t in tags)
    with ctx.step(expected, "insert") as run:
        if tags:
            params = ctx.params(tags=[t.tag_id for t in tags])
            created = run.execute(_COPY_TAGS, params)
            linked = run.execute(_TAG_TAXA, params)
            run.detail.append(
                f"{len(tags)} tag(s) on moved taxa: {created} created on the target, "
                f"{len(tags) - created} reused by name; {linked} taxon link(s) added"
            )
        else:
            run.detail.append("No source tags on moved taxa")
    return run.result()


def role_groups(ctx: StepContext) -> StepResult:
    """Writes auth_group, auth_group_permissions and guardian_groupobjectpermission (and
    auth_permission, django_content_type on a database that lacks them): the target's five role
    groups with Antenna's permissions, where anything is missing. A created target has them
    from its creation."""
    planned = ctx.plan.role_grants
    with ctx.step(planned.total, "insert") as run:
        run.rows += grant_role_permissions(ctx.target_id, ctx.plan.target.name)
        run.detail.append(
            f"{planned.groups} group(s), {planned.group_permissions} group permission(s), "
            f"{planned.object_permissions} object permission(s) added"
            if run.rows
            else "the five role groups hold Antenna's permissions already"
        )
    return run.result()


def add_identifiers(ctx: StepContext) -> StepResult:
    """Writes main_userprojectmembership and users_user_groups for the planned users."""
    plans = ctx.plan.identifiers
    members = [p.user_id for p in plans if p.add_membership]
    pairs = [(p.user_id, group_name(_target(ctx), g)) for p in plans for g in p.groups_to_add]
    expected = len(members) + len(pairs)
    with ctx.step(expected, "insert") as run:
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
    return run.result()


def link_taxalists(ctx: StepContext) -> StepResult:
    """Writes main_taxalist_projects."""
    expected = sum(1 for t in ctx.plan.taxa_lists if not t.linked_to_target)
    return run_simple(ctx, "insert", expected, _LINK_TAXALISTS, ctx.params())
