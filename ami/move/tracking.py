"""Tell the ledger which tables a move writes, so every write of ``--execute`` is captured.

``register_move_tables()`` is idempotent. It is meant to run once at startup
(``ami.main.apps.MainConfig.ready``); ``apply_plan`` also calls it before recording, so a move
is fully captured even where the startup hook is missing.
"""

from __future__ import annotations

# (table, label, secret columns). Every table a move inserts into, updates or deletes from,
# including the M2M through tables and what --create-project's defaults and signals write.
MOVE_TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("main_project", "main.Project", ()),
    ("main_deployment", "main.Deployment", ()),
    ("main_event", "main.Event", ()),
    ("main_sourceimage", "main.SourceImage", ()),
    ("main_occurrence", "main.Occurrence", ()),
    ("main_detection", "main.Detection", ()),
    ("main_classification", "main.Classification", ()),
    ("main_identification", "main.Identification", ()),
    ("jobs_job", "jobs.Job", ()),
    ("main_s3storagesource", "main.S3StorageSource", ("access_key", "secret_key")),
    ("main_device", "main.Device", ()),
    ("main_site", "main.Site", ()),
    ("main_sourceimagecollection", "main.SourceImageCollection", ()),
    ("main_sourceimagecollection_images", "main.SourceImageCollection.images", ()),
    ("ml_projectpipelineconfig", "ml.ProjectPipelineConfig", ()),
    ("ml_processingservice_projects", "ml.ProcessingService.projects", ()),
    ("main_taxon_projects", "main.Taxon.projects", ()),
    ("main_taxalist_projects", "main.TaxaList.projects", ()),
    (
        "main_project_default_filters_include_taxa",
        "main.Project.default_filters_include_taxa",
        (),
    ),
    (
        "main_project_default_filters_exclude_taxa",
        "main.Project.default_filters_exclude_taxa",
        (),
    ),
    ("main_userprojectmembership", "main.UserProjectMembership", ()),
    ("auth_group", "auth.Group", ()),
    ("users_user_groups", "users.User.groups", ()),
    # Role permissions, as Antenna grants them: a group's model permissions, guardian's object
    # permissions (the role groups', and view_project for every other user of a created
    # project), and the permission and content type rows a database may still lack.
    # The label tests/ledger registers this table with, so both registrations agree.
    ("auth_group_permissions", "auth.Group_permissions", ()),
    ("guardian_groupobjectpermission", "guardian.GroupObjectPermission", ()),
    ("guardian_userobjectpermission", "guardian.UserObjectPermission", ()),
    ("auth_permission", "auth.Permission", ()),
    ("django_content_type", "contenttypes.ContentType", ()),
    ("exports_dataexport", "exports.DataExport", ()),
    ("main_tag", "main.Tag", ()),
    ("main_taxon_tags", "main.Taxon.tags", ()),
    (
        "labelstudio_labelstudioconfig",
        "labelstudio.LabelStudioConfig",
        ("access_token", "s3_key_id", "s3_key_secret"),
    ),
)


# (table, primary key, label). History the platform keeps of what a move does: pghistory's
# full-row events of project settings and their context rows. Captured, so the move's record
# and digest cover them; never replayed, so a revert adds history instead of erasing it.
HISTORY_TABLES: tuple[tuple[str, str, str], ...] = (
    ("main_projectsettingsevent", "pgh_id", "main.ProjectSettingsEvent"),
    ("pghistory_context", "id", "pghistory.Context"),
)


def register_move_tables() -> None:
    """Register every table a move writes with the ledger (a no-op when already done)."""
    from django.conf import settings

    import ledger

    for table, label, secrets in MOVE_TABLES:
        ledger.register_table(table, pk="id", secret_columns=secrets, label=label)
    if getattr(settings, "AMI_ATTACH", False):
        return  # an attached Antenna database has no settings-history tracker
    for table, pk, label in HISTORY_TABLES:
        ledger.register_table(table, pk=pk, label=label, replay=False)
