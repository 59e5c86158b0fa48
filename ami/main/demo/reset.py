"""Find and delete previous demo data, set-based.

Demo rows are found by their marks (``ami.main.demo.shapes``): projects by description, users
by e-mail domain, global rows by name prefix or suffix. Deletion is a fixed list of DELETE
statements, children first, since Django's ORM ``delete()`` would load every row's id to emulate
``on_delete`` in Python.
"""

from __future__ import annotations

from django.db import connection

from ami.main.demo.shapes import (
    GLOBAL_NAME_PREFIX,
    PROJECT_MARKER,
    SHARED_NAME_PREFIX,
    TAXON_SUFFIX,
    USER_EMAIL_DOMAIN,
)

_FIND = """
SELECT
    (SELECT count(*) FROM main_project WHERE starts_with(description, %(marker)s)),
    (SELECT count(*) FROM users_user WHERE split_part(email, '@', 2) = %(domain)s),
    (SELECT count(*) FROM main_taxon WHERE right(name, length(%(suffix)s)) = %(suffix)s)
"""

# Temporary id sets, so each DELETE below reads as "rows of demo X".
_SELECT_SETS = (
    "DROP TABLE IF EXISTS demo_rp, demo_rd, demo_ri, demo_ru, demo_rt, demo_rc, demo_rg, demo_rl",
    "CREATE TEMP TABLE demo_rp AS SELECT id FROM main_project"
    " WHERE starts_with(description, %(marker)s)",
    "CREATE TEMP TABLE demo_rd AS SELECT id FROM main_deployment"
    " WHERE project_id IN (SELECT id FROM demo_rp)",
    "CREATE TEMP TABLE demo_ri AS SELECT id FROM main_sourceimage"
    " WHERE deployment_id IN (SELECT id FROM demo_rd) OR project_id IN (SELECT id FROM demo_rp)",
    "CREATE TEMP TABLE demo_ru AS SELECT id FROM users_user"
    " WHERE split_part(email, '@', 2) = %(domain)s",
    "CREATE TEMP TABLE demo_rt AS SELECT id FROM main_taxon"
    " WHERE right(name, length(%(suffix)s)) = %(suffix)s",
    "CREATE TEMP TABLE demo_rc AS SELECT id FROM main_sourceimagecollection"
    " WHERE project_id IN (SELECT id FROM demo_rp)",
    "CREATE TEMP TABLE demo_rg AS SELECT id FROM auth_group"
    " WHERE split_part(name, '_', 1) IN (SELECT id::text FROM demo_rp)",
)

_DELETES = (
    "DELETE FROM main_identification WHERE occurrence_id IN (SELECT id FROM main_occurrence"
    " WHERE project_id IN (SELECT id FROM demo_rp)"
    " OR deployment_id IN (SELECT id FROM demo_rd)) OR user_id IN (SELECT id FROM demo_ru)",
    "DELETE FROM main_classification WHERE detection_id IN (SELECT id FROM main_detection"
    " WHERE source_image_id IN (SELECT id FROM demo_ri))"
    " OR algorithm_id IN (SELECT id FROM ml_algorithm WHERE starts_with(key, %(prefix)s))",
    "DELETE FROM main_detection WHERE source_image_id IN (SELECT id FROM demo_ri)",
    "DELETE FROM main_occurrence WHERE project_id IN (SELECT id FROM demo_rp)"
    " OR deployment_id IN (SELECT id FROM demo_rd)",
    "DELETE FROM main_sourceimagecollection_images WHERE sourceimage_id IN"
    " (SELECT id FROM demo_ri) OR sourceimagecollection_id IN (SELECT id FROM demo_rc)",
    "DELETE FROM jobs_job WHERE project_id IN (SELECT id FROM demo_rp)",
    "DELETE FROM exports_dataexport WHERE project_id IN (SELECT id FROM demo_rp)",
    "DELETE FROM main_sourceimagecollection WHERE id IN (SELECT id FROM demo_rc)",
    "DELETE FROM main_sourceimage WHERE id IN (SELECT id FROM demo_ri)",
    "DELETE FROM main_event WHERE deployment_id IN (SELECT id FROM demo_rd)"
    " OR project_id IN (SELECT id FROM demo_rp)",
    "DELETE FROM main_deployment WHERE id IN (SELECT id FROM demo_rd)",
    *(
        f"DELETE FROM {table} WHERE project_id IN (SELECT id FROM demo_rp)"
        " OR (project_id IS NULL AND starts_with(name, %(shared)s))"
        for table in ("main_s3storagesource", "main_device", "main_site")
    ),
    "DELETE FROM ml_projectpipelineconfig WHERE project_id IN (SELECT id FROM demo_rp)"
    " OR pipeline_id IN (SELECT id FROM ml_pipeline WHERE starts_with(slug, %(prefix)s))",
    "DELETE FROM ml_processingservice_projects WHERE project_id IN (SELECT id FROM demo_rp)",
    "DELETE FROM ml_processingservice_pipelines WHERE processingservice_id IN"
    " (SELECT id FROM ml_processingservice WHERE starts_with(name, %(shared)s))",
    "DELETE FROM ml_processingservice_projects WHERE processingservice_id IN"
    " (SELECT id FROM ml_processingservice WHERE starts_with(name, %(shared)s))",
    "DELETE FROM ml_processingservice WHERE starts_with(name, %(shared)s)",
    "UPDATE main_project SET default_processing_pipeline_id = NULL"
    " WHERE default_processing_pipeline_id IN"
    " (SELECT id FROM ml_pipeline WHERE starts_with(slug, %(prefix)s))",
    "DELETE FROM ml_pipeline_algorithms WHERE pipeline_id IN"
    " (SELECT id FROM ml_pipeline WHERE starts_with(slug, %(prefix)s))",
    "DELETE FROM ml_pipeline WHERE starts_with(slug, %(prefix)s)",
    "DELETE FROM ml_algorithmcategorymap WHERE id IN (SELECT category_map_id FROM ml_algorithm"
    " WHERE starts_with(key, %(prefix)s))",
    "DELETE FROM ml_algorithm WHERE starts_with(key, %(prefix)s)",
    "DELETE FROM main_taxon_tags WHERE taxon_id IN (SELECT id FROM demo_rt) OR tag_id IN"
    " (SELECT id FROM main_tag WHERE project_id IN (SELECT id FROM demo_rp))",
    "DELETE FROM main_tag WHERE project_id IN (SELECT id FROM demo_rp)",
    "CREATE TEMP TABLE demo_rl AS SELECT DISTINCT taxalist_id AS id FROM main_taxalist_projects"
    " WHERE project_id IN (SELECT id FROM demo_rp)",
    "DELETE FROM main_taxalist_projects WHERE taxalist_id IN (SELECT id FROM demo_rl)",
    "DELETE FROM main_taxalist_taxa WHERE taxalist_id IN (SELECT id FROM demo_rl)"
    " OR taxon_id IN (SELECT id FROM demo_rt)",
    "DELETE FROM main_taxalist WHERE id IN (SELECT id FROM demo_rl)",
    *(
        f"DELETE FROM {table} WHERE project_id IN (SELECT id FROM demo_rp)"
        " OR taxon_id IN (SELECT id FROM demo_rt)"
        for table in (
            "main_taxon_projects",
            "main_project_default_filters_include_taxa",
            "main_project_default_filters_exclude_taxa",
        )
    ),
    "DELETE FROM main_taxon WHERE id IN (SELECT id FROM demo_rt)",
    "DELETE FROM main_userprojectmembership WHERE project_id IN (SELECT id FROM demo_rp)"
    " OR user_id IN (SELECT id FROM demo_ru)",
    "DELETE FROM users_user_groups WHERE group_id IN (SELECT id FROM demo_rg)"
    " OR user_id IN (SELECT id FROM demo_ru)",
    "DELETE FROM users_user_user_permissions WHERE user_id IN (SELECT id FROM demo_ru)",
    "DELETE FROM auth_group_permissions WHERE group_id IN (SELECT id FROM demo_rg)",
    # django-guardian's object permissions: the role groups', and those on the demo projects.
    *(
        f"DELETE FROM {table} WHERE {who} IN (SELECT id FROM {ids}) OR (object_pk IN"
        " (SELECT id::text FROM demo_rp) AND content_type_id IN (SELECT id FROM"
        " django_content_type WHERE app_label = 'main' AND model = 'project'))"
        for table, who, ids in (
            ("guardian_groupobjectpermission", "group_id", "demo_rg"),
            ("guardian_userobjectpermission", "user_id", "demo_ru"),
        )
    ),
    "DELETE FROM auth_group WHERE id IN (SELECT id FROM demo_rg)",
    "DELETE FROM main_project WHERE id IN (SELECT id FROM demo_rp)",
    "DELETE FROM users_user WHERE id IN (SELECT id FROM demo_ru)",
    "DROP TABLE demo_rp, demo_rd, demo_ri, demo_ru, demo_rt, demo_rc, demo_rg, demo_rl",
)
"""Writes (deletes from) every table the generator fills, children first."""


def _params() -> dict[str, str]:
    return {
        "marker": PROJECT_MARKER,
        "domain": USER_EMAIL_DOMAIN,
        "suffix": TAXON_SUFFIX,
        "prefix": GLOBAL_NAME_PREFIX,
        "shared": SHARED_NAME_PREFIX,
    }


def count_existing_demo_rows() -> tuple[int, int, int]:
    """Return how many demo projects, users and taxa the database holds."""
    with connection.cursor() as cursor:
        cursor.execute(_FIND, _params())
        projects, users, taxa = cursor.fetchone()
    return projects, users, taxa


def delete_demo_data() -> None:
    """Delete every demo row, set-based (a fixed number of statements). Call inside atomic()."""
    with connection.cursor() as cursor:
        for statement in (*_SELECT_SETS, *_DELETES):
            cursor.execute(statement, _params())
