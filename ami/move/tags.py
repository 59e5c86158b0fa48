"""What the move does with the source's tags on moved taxa (read-only planning).

Tags (``main_tag``) are project-scoped labels on global taxa (``main_taxon_tags``). The moved
taxa are the determinations of the moved occurrences, the ones ``[link-taxa]`` links to the
target. Each source tag carried by a moved taxon is copied to the target by name (the target's
tag of the same name is reused, as ``unique (name, project)`` requires) and put on those
moved taxa. The source keeps its tags and their links, as it keeps its taxa; tags without a
project are global and left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection

from ami.move.structs import TagPlan

MOVED_TAXA = """
SELECT determination_id FROM main_occurrence
WHERE deployment_id = ANY(%(d)s) AND determination_id IS NOT NULL
"""

_TAGS_SQL = f"""
SELECT st.id, st.name, tg.id, count(DISTINCT tt.taxon_id),
    count(DISTINCT tt.taxon_id) FILTER (WHERE NOT EXISTS (
        SELECT 1 FROM main_taxon_tags x WHERE x.tag_id = tg.id AND x.taxon_id = tt.taxon_id))
FROM main_tag st
JOIN main_taxon_tags tt ON tt.tag_id = st.id
LEFT JOIN main_tag tg ON tg.project_id = %(t)s AND tg.name = st.name
WHERE st.project_id = %(s)s AND tt.taxon_id IN ({MOVED_TAXA})
GROUP BY st.id, st.name, tg.id
ORDER BY st.id
"""


def plan_tags(params: Mapping[str, Any]) -> tuple[TagPlan, ...]:
    """The source's tags on moved taxa, and what copying them to the target adds (one query).

    Args:
        params: the plan's parameters: moved deployments ``d``, source ``s``, target ``t``
            (a project id that does not exist when the target is still to be created).
    """
    with connection.cursor() as cur:
        cur.execute(_TAGS_SQL, params)
        rows = cur.fetchall()
    return tuple(
        TagPlan(tag_id=tag, name=name, target_tag_id=same, taxa=taxa, links_to_add=links)
        for tag, name, same, taxa, links in rows
    )
