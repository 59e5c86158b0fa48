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

# Named placeholders are SQL aliases, composed through ``quote_name``; no value is ever
# interpolated. ``{project}`` may be an alias that is NULL (LEFT JOIN): see ``project_optional``.
_TAXON_MATCH = """
    SELECT 1 FROM {through} f
    JOIN main_taxon t ON t.id = {occurrence}.determination_id
    WHERE f.project_id = {project}.id
      AND (t.id = f.taxon_id
           OR t.parents_json @> jsonb_build_array(jsonb_build_object('id', f.taxon_id)))
"""

_DEFAULT_FILTERS_SQL = """(
    {occurrence}.determination_score >= {project}.default_filters_score_threshold
    AND (NOT EXISTS (SELECT 1 FROM main_project_default_filters_include_taxa fi
                     WHERE fi.project_id = {project}.id)
         OR EXISTS ({include_match}))
    AND NOT EXISTS ({exclude_match})
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
    match = {"occurrence": occ, "project": proj}
    expression = _DEFAULT_FILTERS_SQL.format(
        occurrence=occ,
        project=proj,
        include_match=_TAXON_MATCH.format(through=INCLUDE_TAXA_TABLE, **match),
        exclude_match=_TAXON_MATCH.format(through=EXCLUDE_TAXA_TABLE, **match),
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
