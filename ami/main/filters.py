"""A project's default occurrence filters, as SQL for set-based counts and as a Django Q.

Antenna (``ami/main/models_future/filters.py``) applies these to every "filtered" cached count:

- score: ``occurrence.determination_score >= project.default_filters_score_threshold``;
- include taxa: when the project has any, keep occurrences whose determination is one of them or
  a descendant (a taxon whose ``parents_json`` contains ``{"id": <pk>}``);
- exclude taxa: then drop occurrences whose determination is one of them or a descendant.

A NULL score never passes the threshold; a NULL determination passes the exclude filter and
fails the include filter, as Django's ``Q`` negation does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Q

if TYPE_CHECKING:
    from ami.main.models import Project

# Every taxon paired with itself and with each of its ancestors, as jsonb ids so that the match
# is the one ``parents_json @> '[{"id": pk}]'`` makes. Built once per statement: the subqueries
# below are uncorrelated, so Postgres hashes them instead of probing the taxa for every row.
_TAXON_LINEAGE = """
    SELECT t.id AS taxon_id, a.ancestor
    FROM main_taxon t
    CROSS JOIN LATERAL (
        SELECT to_jsonb(t.id) AS ancestor
        UNION ALL
        SELECT e -> 'id' FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(t.parents_json) = 'array' THEN t.parents_json
                 ELSE '[]'::jsonb END) AS e
    ) a
"""

# (project, taxon) pairs where the taxon is a listed taxon of the project or a descendant.
_LISTED_PAIRS = """
    SELECT f.project_id, l.taxon_id
    FROM {through} f JOIN ({lineage}) l ON l.ancestor = to_jsonb(f.taxon_id)
"""

# Named placeholders are SQL aliases, composed through ``quote_name``; no value is ever
# interpolated. A NULL determination is never in a pair set: COALESCE keeps it through the
# exclude test, as Django's negated Q does.
_DEFAULT_FILTERS_SQL = """(
    {occurrence}.determination_score >= {project}.default_filters_score_threshold
    AND ({project}.id NOT IN (SELECT project_id FROM {include_table})
         OR COALESCE(({project}.id, {occurrence}.determination_id) IN ({include_pairs}), false))
    AND NOT COALESCE(({project}.id, {occurrence}.determination_id) IN ({exclude_pairs}), false)
)"""

INCLUDE_TAXA_TABLE = "main_project_default_filters_include_taxa"
EXCLUDE_TAXA_TABLE = "main_project_default_filters_exclude_taxa"


def occurrence_default_filters_sql(
    occurrence: str = "o", project: str = "p", *, project_optional: bool = False
) -> str:
    """Return a SQL boolean expression: the occurrence passes its project's default filters.

    The expression reads each row's own project settings, so one statement can count rows of
    many projects, each under its own filters.

    Args:
        occurrence: alias of a ``main_occurrence`` row in the enclosing query. If it comes from
            a LEFT JOIN and is NULL, the expression is false (the score test is NULL).
        project: alias of the ``main_project`` row whose filters apply.
        project_optional: when True, a NULL project (no row joined) means "no filters" and the
            expression is true, as Antenna counts a project-less row unfiltered.

    Returns:
        A parenthesised SQL expression with no parameters.

    Example:
        ``f"... WHERE {occurrence_default_filters_sql('o', 'p')}"``
    """
    occ = connection.ops.quote_name(occurrence)
    proj = connection.ops.quote_name(project)
    expression = _DEFAULT_FILTERS_SQL.format(
        occurrence=occ,
        project=proj,
        include_table=INCLUDE_TAXA_TABLE,
        include_pairs=_LISTED_PAIRS.format(through=INCLUDE_TAXA_TABLE, lineage=_TAXON_LINEAGE),
        exclude_pairs=_LISTED_PAIRS.format(through=EXCLUDE_TAXA_TABLE, lineage=_TAXON_LINEAGE),
    )
    if project_optional:
        return f"({proj}.id IS NULL OR {expression})"
    return expression


def build_occurrence_default_filters_q(project: Project | None, prefix: str = "") -> Q:
    """Return a ``Q`` applying ``project``'s default filters to occurrences.

    Args:
        project: the project whose settings apply; ``None`` means no filter (an empty ``Q``).
        prefix: lookup path from the filtered model to the occurrence, with its trailing
            ``__`` (``""`` for Occurrence itself, ``"occurrence__"`` for Detection).

    Returns:
        A ``Q`` equivalent to ``occurrence_default_filters_sql`` for that single project.
    """
    if project is None:
        return Q()
    q = Q(**{f"{prefix}determination_score__gte": project.default_filters_score_threshold})
    include_ids = list(project.default_filters_include_taxa.values_list("pk", flat=True))
    exclude_ids = list(project.default_filters_exclude_taxa.values_list("pk", flat=True))
    if include_ids:
        q &= _taxa_or_descendants_q(include_ids, prefix)
    if exclude_ids:
        q &= ~_taxa_or_descendants_q(exclude_ids, prefix)
    return q


def _taxa_or_descendants_q(taxon_ids: list[int], prefix: str) -> Q:
    q = Q(**{f"{prefix}determination_id__in": taxon_ids})
    for pk in taxon_ids:
        q |= Q(**{f"{prefix}determination__parents_json__contains": [{"id": pk}]})
    return q


# A project's default filters as comparable values: two projects with equal rows here count
# every occurrence alike.
_FILTERS_OF = f"""
SELECT p.id, p.default_filters_score_threshold,
    ARRAY(SELECT x.taxon_id FROM {INCLUDE_TAXA_TABLE} x WHERE x.project_id = p.id ORDER BY 1),
    ARRAY(SELECT x.taxon_id FROM {EXCLUDE_TAXA_TABLE} x WHERE x.project_id = p.id ORDER BY 1)
FROM main_project p WHERE p.id = ANY(%s)
"""


def default_filters(project_ids: list[int]) -> dict[int, tuple[object, ...]]:
    """Per project: its score threshold and its included and excluded taxa. Two projects with
    equal tuples count every occurrence alike."""
    with connection.cursor() as cursor:
        cursor.execute(_FILTERS_OF, [project_ids])
        return {pk: (score, list(inc), list(exc)) for pk, score, inc, exc in cursor.fetchall()}
