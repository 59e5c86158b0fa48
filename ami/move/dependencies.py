"""Dependencies between moves: rows one move created that a later move relied on.

A move into an existing project creates what its deployments need there and the project
lacks: taxon links, memberships and role-group links of identifiers, pipeline configs,
processing-service and taxa-list links, tags, role groups; and it gives the project the
source's default settings. A later move of other deployments
into the same project finds those rows and creates nothing: it relies on them. Reverting the
earlier move would delete them from under the later one, so the revert REFUSES, naming the
later, unreverted move(s) and the rows (table and sample ids) they rely on: revert the later
move first (then this one, then re-run the later move if it is still wanted).

"Relies on" is recomputed with the move's own planning rules, set-based, over the later
move's deployments as they are now: a row the earlier move inserted (``ledger_change``, op
``I``, whose ``after`` is the whole row) is needed when the later move, run alone, would have
created that row: its occurrences' determinations (taxon links, tags), their identifiers
(memberships, role-group links), its source's pipeline configs (when it cloned them),
processing services and taxa lists, its source's default settings and filter taxa (unless it
kept the target's), and the target's role groups (any move into the target creates those it
lacks). Nothing is flagged merely because a later move went to the same
project.

``missing_after_revert`` is the same rule applied after the replay, as a safety net, to the
deployments later moves brought into the project and that are still there: a taxon link,
membership or role-group link the revert deleted that one of them needs fails the check.
"""

from __future__ import annotations

from ami.move.sql import rows as _rows
from ledger.replay import CheckOutcome, Conflict

SAMPLE = 5

# Inserted rows a later move into the same project needs, whatever its deployments: the
# target's role groups and their permissions (``[role-groups]`` creates what is missing).
ROLE_TABLES = (
    "auth_group",
    "auth_group_permissions",
    "guardian_groupobjectpermission",
)

# What the deployments ``{deps}`` (an SQL set of deployment ids) need from an inserted row
# ``ins.after`` of each table, as the move plans it. ``%(s)s`` is the source project of the
# move that would need it, ``%(clone)s`` whether it clones pipeline configs.
_TAXA = """(SELECT determination_id FROM main_occurrence
           WHERE deployment_id IN ({deps}) AND determination_id IS NOT NULL)"""
_IDENTIFIERS = """(SELECT i.user_id FROM main_identification i
                  JOIN main_occurrence o ON o.id = i.occurrence_id
                  WHERE o.deployment_id IN ({deps}) AND i.user_id IS NOT NULL)"""
NEEDS = {
    "main_taxon_projects": f"(ins.after ->> 'taxon_id')::bigint IN {_TAXA}",
    "main_userprojectmembership": f"(ins.after ->> 'user_id')::bigint IN {_IDENTIFIERS}",
    "users_user_groups": f"(ins.after ->> 'user_id')::bigint IN {_IDENTIFIERS}",
    "ml_projectpipelineconfig": """%(clone)s AND (ins.after ->> 'pipeline_id')::bigint IN (
        SELECT pipeline_id FROM ml_projectpipelineconfig WHERE project_id = %(s)s)""",
    "ml_processingservice_projects": """(ins.after ->> 'processingservice_id')::bigint IN (
        SELECT processingservice_id FROM ml_processingservice_projects
        WHERE project_id = %(s)s)""",
    "main_taxalist_projects": """(ins.after ->> 'taxalist_id')::bigint IN (
        SELECT taxalist_id FROM main_taxalist_projects WHERE project_id = %(s)s)""",
    "main_tag": f"""ins.after ->> 'name' IN (
        SELECT st.name FROM main_tag st JOIN main_taxon_tags tt ON tt.tag_id = st.id
        WHERE st.project_id = %(s)s AND tt.taxon_id IN {_TAXA})""",
    "main_taxon_tags": f"""(ins.after ->> 'taxon_id')::bigint IN {_TAXA} AND EXISTS (
        SELECT 1 FROM main_tag tg JOIN main_tag st ON st.name = tg.name AND st.project_id = %(s)s
        JOIN main_taxon_tags tt ON tt.tag_id = st.id
        AND tt.taxon_id = (ins.after ->> 'taxon_id')::bigint
        WHERE tg.id = (ins.after ->> 'tag_id')::bigint)""",
    # The target's default filter taxa a later move replacing the settings would have copied.
    **{
        table: f"""NOT %(keep)s AND (ins.after ->> 'taxon_id')::bigint IN (
        SELECT taxon_id FROM {table} WHERE project_id = %(s)s)"""
        for table in (
            "main_project_default_filters_include_taxa",
            "main_project_default_filters_exclude_taxa",
        )
    },
    **dict.fromkeys(ROLE_TABLES, "TRUE"),
}

# The target's settings this move wrote (``[copy-defaults]``) that a later move replacing the
# settings from its source would have written itself: today's source values equal them.
SETTINGS = ("default_filters_score_threshold", "session_time_gap_seconds",
            "default_processing_pipeline_id")  # fmt: skip
_SETTINGS_NEEDED = f"""
SELECT count(*), (array_agg(DISTINCT u.pk))[1:%(n)s]
FROM ledger_change c CROSS JOIN LATERAL unnest(c.pks) AS u(pk)
JOIN main_project s ON s.id = %(s)s
WHERE c.move_id = %(m)s AND c.table_name = 'main_project' AND c.op = 'U' AND NOT %(keep)s
AND u.pk = %(t)s::text AND c.after::jsonb ?| ARRAY{list(SETTINGS)!r}
AND {
    " AND ".join(
        f"((c.after -> '{col}') IS NULL OR c.after ->> '{col}' IS NOT DISTINCT FROM s.{col}::text)"
        for col in SETTINGS
    )
}
"""

# The rows ``%(m)s`` inserted into the project-level tables, with their whole row.
_INSERTED = """
SELECT c.table_name, c.pks[1] AS pk, c.after FROM ledger_change c
WHERE c.move_id = %(m)s AND c.op = 'I' AND c.table_name = ANY(%(tables)s)
"""


def _needed_sql(deps: str) -> str:
    """Per table, the count and sample keys of ``%(m)s``'s inserted rows ``deps`` need."""
    cases = " OR ".join(
        f"(ins.table_name = '{table}' AND ({need.format(deps=deps)}))"
        for table, need in NEEDS.items()
    )
    return (
        f"WITH ins AS ({_INSERTED}) SELECT ins.table_name, count(*), "
        "(array_agg(ins.pk ORDER BY length(ins.pk), ins.pk))[1:%(n)s] "
        f"FROM ins WHERE {cases} GROUP BY ins.table_name ORDER BY ins.table_name"
    )


# Later moves into the same project that are not reverted, with what their plan needs. Their
# deployments count wherever they are now: one moved on by a third move comes back with that
# move's revert and needs the rows again, so only reverting the later move releases them.
_LATER_MOVES = """
SELECT m.id, (m.arguments ->> 'source_project')::bigint,
    ARRAY(SELECT jsonb_array_elements_text(m.arguments -> 'deployment_ids')::bigint),
    coalesce((m.arguments ->> 'clone_pipelines')::boolean, true),
    coalesce((m.arguments ->> 'keep_target_settings')::boolean, false)
FROM ledger_move m
WHERE m.id > %(m)s AND m.kind = 'move' AND m.command = 'move_project_data'
AND (m.arguments ->> 'target_project')::bigint = %(t)s
AND NOT EXISTS (SELECT 1 FROM ledger_move r WHERE r.reverts_id = m.id)
ORDER BY m.id
"""


def rows_needed_by(
    move_id: int,
    deployments: list[int],
    source: int,
    clone: bool,
    *,
    keep: bool = False,
    target: int | None = None,
    sample: int = SAMPLE,
) -> list[tuple]:
    """(table, count, sample pks) of the rows ``move_id`` inserted (and, given ``target``, the
    target's settings it wrote) that a move of ``deployments`` from ``source`` into the same
    project would have written itself (``clone``: it clones pipeline configs; ``keep``: it
    keeps the target's settings)."""
    params = {
        "m": move_id,
        "tables": list(NEEDS),
        "d": deployments,
        "s": source,
        "clone": clone,
        "keep": keep,
        "t": target,
        "n": sample,
    }
    found = _rows(_needed_sql("SELECT unnest(%(d)s::bigint[])"), params)
    if target is not None:
        [(count, keys)] = _rows(_SETTINGS_NEEDED, params)
        if count:
            found.append(("main_project", count, keys))
    return found


def later_move_dependencies(move_id: int, target: int) -> list[Conflict]:
    """One conflict per later, unreverted move into ``target`` that relies on rows
    ``move_id`` inserted, naming the move and the rows."""
    found = []
    later_moves = _rows(_LATER_MOVES, {"m": move_id, "t": target})
    for later, source, deployments, clone, keep in later_moves:
        needed = rows_needed_by(
            move_id, list(deployments), source, clone, keep=keep, target=target
        )
        if not needed:
            continue
        rows = "; ".join(
            f"{table}: {count} row(s) (e.g. {', '.join(sample)})"
            for table, count, sample in needed
        )
        found.append(
            Conflict(
                kind="later-move",
                table=needed[0][0],
                count=sum(count for _t, count, _s in needed),
                sample=tuple(needed[0][2]),
                message=f"move {later} (later, not reverted) moved deployment(s) "
                f"{', '.join(map(str, deployments))} into project {target} and relies on rows "
                f"this move created there, which the revert would delete: {rows}. Revert move "
                f"{later} first (revert_move {later}), then this one; re-run move {later} "
                "afterwards if it is still wanted",
            )
        )
    return found


# After the replay: rows the move inserted that are gone now and that a deployment still in
# the project needs (its occurrences' taxa and identifiers).
_GONE = """
WITH ins AS ({inserted}) SELECT ins.table_name, count(*),
    (array_agg(ins.pk ORDER BY length(ins.pk), ins.pk))[1:%(n)s]
FROM ins WHERE ({cases}) AND NOT EXISTS (
    SELECT 1 FROM main_taxon_projects x WHERE ins.table_name = 'main_taxon_projects'
    AND x.id::text = ins.pk
    UNION ALL SELECT 1 FROM main_userprojectmembership x
    WHERE ins.table_name = 'main_userprojectmembership' AND x.id::text = ins.pk
    UNION ALL SELECT 1 FROM users_user_groups x
    WHERE ins.table_name = 'users_user_groups' AND x.id::text = ins.pk)
GROUP BY ins.table_name ORDER BY ins.table_name
"""
# Deployments later, unreverted moves brought into the project and still there. A project's
# own deployments are not counted: Antenna does not require a taxon link or a membership for
# a project's own data, so a gap there may predate the move and is not the revert's doing.
_REMAINING = """SELECT d.id FROM main_deployment d WHERE d.project_id = %(t)s AND d.id IN (
    SELECT jsonb_array_elements_text(m.arguments -> 'deployment_ids')::bigint
    FROM ledger_move m WHERE m.id > %(m)s AND m.kind = 'move'
    AND m.command = 'move_project_data' AND (m.arguments ->> 'target_project')::bigint = %(t)s
    AND NOT EXISTS (SELECT 1 FROM ledger_move r WHERE r.reverts_id = m.id))"""
_PER_DEPLOYMENT = ("main_taxon_projects", "main_userprojectmembership", "users_user_groups")


def missing_after_revert(move_id: int, project: int) -> CheckOutcome:
    """The taxon links, memberships and role-group links the revert deleted that a deployment
    a later move brought into ``project`` (and still there) needs."""
    cases = " OR ".join(
        f"(ins.table_name = '{t}' AND ({NEEDS[t].format(deps=_REMAINING)}))"
        for t in _PER_DEPLOYMENT
    )
    rows = _rows(
        _GONE.format(inserted=_INSERTED, cases=cases),
        {"m": move_id, "tables": list(_PER_DEPLOYMENT), "t": project, "n": SAMPLE},
    )
    return CheckOutcome(
        name="members-and-taxa-links",
        ok=not rows,
        detail="; ".join(
            f"{count} {table} row(s) deleted by the revert are needed by deployments later "
            f"moves brought into project {project} (e.g. {', '.join(sample)})"
            for table, count, sample in rows
        )
        or f"every taxon link, membership and role-group link needed by deployments later "
        f"moves brought into project {project} is present",
    )
