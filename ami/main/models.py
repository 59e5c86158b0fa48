"""Antenna-compatible core tables: fields, Meta and managers only.

Table names, related names and on_delete rules follow RolnickLab/antenna, so a row here maps 1:1
onto the platform's data. Behaviour lives elsewhere: roles in ``ami.users.roles``, cached counts
in ``ami.main.cached_fields``, event grouping in ``ami.main.events``.
"""

from __future__ import annotations

import datetime
import enum
import logging
from typing import Any

import pghistory
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from ami.base.models import BaseModel

logger = logging.getLogger(__name__)


class TaxonRank(enum.Enum):
    """Taxonomic ranks, broadest first. ``Taxon.rank`` stores a member's ``.name``."""

    ROOT = "ROOT"
    KINGDOM = "KINGDOM"
    PHYLUM = "PHYLUM"
    CLASS = "CLASS"
    ORDER = "ORDER"
    SUPERFAMILY = "SUPERFAMILY"
    FAMILY = "FAMILY"
    SUBFAMILY = "SUBFAMILY"
    TRIBE = "TRIBE"
    SUBTRIBE = "SUBTRIBE"
    GENUS = "GENUS"
    SPECIES = "SPECIES"
    UNKNOWN = "UNKNOWN"


class ProjectSettingsMixin(models.Model):
    """Per-project settings, flattened into ``main_project`` as in Antenna."""

    default_processing_pipeline = models.ForeignKey(
        "ml.Pipeline",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="default_projects",
    )
    session_time_gap_seconds = models.IntegerField(
        default=7200, help_text="Gap between captures that starts a new session (event)"
    )
    default_filters_score_threshold = models.FloatField(
        default=0.5, help_text="Minimum occurrence determination score shown by default"
    )
    default_filters_include_taxa = models.ManyToManyField(
        "main.Taxon", blank=True, related_name="include_taxa_default_projects"
    )
    default_filters_exclude_taxa = models.ManyToManyField(
        "main.Taxon", blank=True, related_name="exclude_taxa_default_projects"
    )

    class Meta:
        abstract = True

    @classmethod
    def get_settings_field_names(cls) -> list[str]:
        base = {f.name for f in BaseModel._meta.get_fields()}
        return [
            f.name
            for f in ProjectSettingsMixin._meta.get_fields()
            if f.name not in base and not f.auto_created and not f.name.endswith("_id")
        ]


class ProjectManager(models.Manager["Project"]):
    """``create(create_defaults=True)`` also creates the default device, site, station and
    collection, as Antenna's manager does (without its network calls)."""

    def create(self, create_defaults: bool = True, **kwargs: Any) -> Project:
        with transaction.atomic():
            project = super().create(**kwargs)
            if create_defaults:
                self.create_related_defaults(project)
        return project

    def create_related_defaults(self, project: Project, collection: bool = True) -> None:
        """Antenna's defaults. ``collection=False`` leaves out the empty "All Images" (a move
        whose source "All Images" becomes the new project's own)."""
        device, _ = Device.objects.get_or_create(name="Default Device", project=project)
        site, _ = Site.objects.get_or_create(name="Default Site", project=project)
        if not project.deployments.exists():
            Deployment.objects.create(
                name="Default Station",
                project=project,
                latitude=0,
                longitude=0,
                research_site=site,
                device=device,
            )
        if collection and not project.sourceimage_collections.exists():
            SourceImageCollection.objects.create(
                name="All Images", project=project, method="full", kwargs={}
            )


# Reviewers read a project's settings as whole rows over time: a pghistory tracker keeps one,
# at creation and whenever a setting changes. Inside a ledger recording the event carries the
# move's context (ledger.history_events(ProjectSettingsEvent, move_id) finds them).
@pghistory.track(
    pghistory.InsertEvent("created"),
    pghistory.UpdateEvent(
        "settings_changed",
        condition=pghistory.AnyChange(
            "default_processing_pipeline",
            "session_time_gap_seconds",
            "default_filters_score_threshold",
        ),
    ),
    # "events" would clash with Project.events (monitoring sessions).
    model_name="ProjectSettingsEvent",
    obj_field=pghistory.ObjForeignKey(related_name="settings_events"),
)
class Project(ProjectSettingsMixin, BaseModel):
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    image = models.FileField(upload_to="projects", blank=True, null=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="projects",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="main.UserProjectMembership",
        related_name="user_projects",
        blank=True,
    )
    draft = models.BooleanField(default=False)
    feature_flags = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    priority = models.IntegerField(default=1)

    objects = ProjectManager()

    class Meta:
        ordering = ["-priority", "created_at"]
        # Antenna's object permissions on a project (ami.users.roles grants them per role).
        # The last three are not in Antenna's Meta: its create_roles_for_project creates them
        # on first use, named "Can <codename with spaces>"; listing them here makes migrate
        # create the same rows up front.
        permissions = [
            ("create_identification", "Can create identifications"),
            ("update_identification", "Can update identifications"),
            ("delete_identification", "Can delete identifications"),
            ("create_job", "Can create a job"),
            ("update_job", "Can update a job"),
            ("run_ml_job", "Can run/retry/cancel ML jobs"),
            (
                "run_populate_captures_collection_job",
                "Can run/retry/cancel Populate Collection jobs",
            ),
            ("run_data_storage_sync_job", "Can run/retry/cancel Data Storage Sync jobs"),
            ("run_data_export_job", "Can run/retry/cancel Data Export jobs"),
            ("run_single_image_ml_job", "Can process a single capture"),
            ("run_post_processing_job", "Can run/retry/cancel Post-Processing jobs"),
            ("delete_job", "Can delete a job"),
            ("create_deployment", "Can create a deployment"),
            ("delete_deployment", "Can delete a deployment"),
            ("update_deployment", "Can update a deployment"),
            ("sync_deployment", "Can sync images to a deployment"),
            ("create_sourceimagecollection", "Can create a collection"),
            ("update_sourceimagecollection", "Can update a collection"),
            ("delete_sourceimagecollection", "Can delete a collection"),
            ("populate_sourceimagecollection", "Can populate a collection"),
            ("create_sourceimage", "Can create a source image"),
            ("update_sourceimage", "Can update a source image"),
            ("delete_sourceimage", "Can delete a source image"),
            ("star_sourceimage", "Can star a source image"),
            ("create_sourceimageupload", "Can create a source image upload"),
            ("update_sourceimageupload", "Can update a source image upload"),
            ("delete_sourceimageupload", "Can delete a source image upload"),
            ("create_s3storagesource", "Can create storage"),
            ("delete_s3storagesource", "Can delete storage"),
            ("update_s3storagesource", "Can update storage"),
            ("test_s3storagesource", "Can test storage connection"),
            ("create_site", "Can create a site"),
            ("delete_site", "Can delete a site"),
            ("update_site", "Can update a site"),
            ("create_device", "Can create a device"),
            ("delete_device", "Can delete a device"),
            ("update_device", "Can update a device"),
            ("view_userprojectmembership", "Can view project members"),
            ("create_userprojectmembership", "Can add a user to the project"),
            (
                "update_userprojectmembership",
                "Can update a user's project membership and role in the project",
            ),
            ("delete_userprojectmembership", "Can remove a user from the project"),
            ("create_dataexport", "Can create a data export"),
            ("update_dataexport", "Can update a data export"),
            ("delete_dataexport", "Can delete a data export"),
            ("create_projectpipelineconfig", "Can register pipelines for the project"),
            ("update_projectpipelineconfig", "Can update pipeline configurations"),
            ("delete_projectpipelineconfig", "Can remove pipelines from the project"),
            ("create_taxalist", "Can create a taxa list"),
            ("update_taxalist", "Can update a taxa list"),
            ("delete_taxalist", "Can delete a taxa list"),
            ("view_private_data", "Can view private data"),
            ("update_project", "Can update project"),
            ("import_data", "Can import data"),
            ("delete_occurrences", "Can delete occurrences"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        self.ensure_owner_membership()

    def ensure_owner_membership(self) -> None:
        if self.owner_id and not self.members.filter(pk=self.owner_id).exists():
            self.members.add(self.owner_id)


class UserProjectMembership(BaseModel):
    """Membership only: roles are per-project auth groups (``ami.users.roles``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="project_memberships"
    )

    class Meta:
        unique_together = ("user", "project")


class S3StorageSource(BaseModel):
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="storage_sources"
    )
    name = models.CharField(max_length=255)
    bucket = models.CharField(max_length=255, blank=True)
    region = models.CharField(max_length=255, blank=True)
    prefix = models.CharField(max_length=255, blank=True)
    access_key = models.TextField(blank=True, help_text="Secret: never printed or logged")
    secret_key = models.TextField(blank=True, help_text="Secret: never printed or logged")
    endpoint_url = models.CharField(max_length=255, blank=True, null=True)
    public_base_url = models.CharField(max_length=255, blank=True)
    total_size = models.BigIntegerField(null=True, blank=True)
    total_files = models.BigIntegerField(null=True, blank=True)
    last_checked = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class Device(BaseModel):
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="devices"
    )
    name = models.CharField(max_length=80)  # Antenna's _POST_TITLE_MAX_LENGTH
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class Site(BaseModel):
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="sites"
    )
    name = models.CharField(max_length=80)  # Antenna's _POST_TITLE_MAX_LENGTH
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class Deployment(BaseModel):
    """A monitoring station."""

    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments"
    )
    data_source = models.ForeignKey(
        S3StorageSource,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deployments",
    )
    research_site = models.ForeignKey(
        Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments"
    )
    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments"
    )
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    image = models.FileField(upload_to="deployments", blank=True, null=True)

    data_source_total_files = models.BigIntegerField(null=True, blank=True)
    data_source_total_size = models.BigIntegerField(null=True, blank=True)
    data_source_subdir = models.CharField(max_length=255, blank=True, null=True)
    data_source_regex = models.CharField(max_length=255, blank=True, null=True)
    data_source_last_checked = models.DateTimeField(null=True, blank=True)

    # Cached values, recomputed by ami.main.cached_fields.
    events_count = models.IntegerField(null=True, blank=True)
    occurrences_count = models.IntegerField(null=True, blank=True)
    captures_count = models.IntegerField(null=True, blank=True)
    detections_count = models.IntegerField(null=True, blank=True)
    taxa_count = models.IntegerField(null=True, blank=True)
    first_capture_timestamp = models.DateTimeField(null=True, blank=True)
    last_capture_timestamp = models.DateTimeField(null=True, blank=True)

    CALCULATED_FIELDS = (
        "data_source_total_files",
        "data_source_total_size",
        "events_count",
        "captures_count",
        "detections_count",
        "occurrences_count",
        "taxa_count",
        "first_capture_timestamp",
        "last_capture_timestamp",
    )

    def __str__(self) -> str:
        return self.name

    def save(
        self,
        update_calculated_fields: bool = True,
        regroup_async: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Antenna's save: after the row is written, regroup the captures into events if they
        need it, recompute the cached fields and give the children the deployment's project.

        There is no task queue here: ``regroup_async=True`` regroups inline as well (set-based,
        inside the caller's transaction), so the caller sees the events Antenna's worker would
        produce later. ``update_calculated_fields=False`` is a plain save (post_save is sent).
        """
        super().save(*args, **kwargs)
        if self.pk and update_calculated_fields:
            from ami.main.events import deployment_events_need_update, group_images_into_events

            if deployment_events_need_update(self.pk):
                logger.info("Deployment %s has events that need to be regrouped", self.pk)
                group_images_into_events(self)
            self.update_calculated_fields(save=True)
            if self.project_id:
                self.update_children()

    def update_calculated_fields(self, save: bool = False) -> None:
        """Set the cached counts and first/last capture times from the data (one query);
        ``save=True`` writes them (only those columns and ``updated_at``)."""
        from ami.main.cached_fields import calculated_values

        values = calculated_values("deployment", self.pk) if self.pk else {}
        self.data_source_total_files = self.captures_count = values.get("captures_count", 0)
        self.data_source_total_size = values.get("total_size")
        self.events_count = values.get("events_count", 0)
        self.detections_count = values.get("detections_count", 0)
        self.occurrences_count = values.get("occurrences_count", 0)
        self.taxa_count = values.get("taxa_count", 0)
        self.first_capture_timestamp = values.get("first_ts")
        self.last_capture_timestamp = values.get("last_ts")
        if save:
            _save_calculated(self, self.CALCULATED_FIELDS)

    def update_children(self) -> None:
        """Give this deployment's events, occurrences and captures its project (one UPDATE
        each), as Antenna does; rows that had another project are logged as a warning."""
        for model in (Event, Occurrence, SourceImage):
            changed = (
                model.objects.filter(deployment=self)
                .exclude(project_id=self.project_id)
                .update(project_id=self.project_id)
            )
            if changed:
                logger.warning(
                    "Deployment %s: %s %s row(s) had another project; set to %s",
                    self.pk,
                    changed,
                    model.__name__,
                    self.project_id,
                )


class Event(BaseModel):
    """A monitoring session: the captures of one deployment close together in time."""

    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    deployment = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    group_by = models.CharField(max_length=255, db_index=True)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)

    captures_count = models.IntegerField(null=True, blank=True)
    detections_count = models.IntegerField(null=True, blank=True)
    occurrences_count = models.IntegerField(null=True, blank=True)
    calculated_fields_updated_at = models.DateTimeField(null=True, blank=True)

    CALCULATED_FIELDS = (
        "group_by",
        "project",
        "start",
        "end",
        "captures_count",
        "detections_count",
        "occurrences_count",
        "calculated_fields_updated_at",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "group_by"], name="unique_event")
        ]

    def save(self, update_calculated_fields: bool = True, *args: Any, **kwargs: Any) -> None:
        """Antenna's save: write the row, then recompute the cached fields."""
        super().save(*args, **kwargs)
        if update_calculated_fields:
            self.update_calculated_fields(save=True)

    def update_calculated_fields(
        self, save: bool = False, updated_timestamp: datetime.datetime | None = None
    ) -> None:
        """Antenna's meaning: ``group_by`` from the start date if empty, the project from the
        deployment if unset, and for a saved event its first/last capture times and counts
        (one query); ``save=True`` writes those columns and ``updated_at``."""
        from ami.main.cached_fields import calculated_values

        if not self.group_by and self.start:
            self.group_by = str(self.start.date())
        if not self.project_id and self.deployment_id:
            self.project_id = self.deployment.project_id
        if self.pk is not None:
            values = calculated_values("event", self.pk)
            self.start = values.get("first_ts") or self.start
            self.end = values.get("last_ts") or self.end
            self.captures_count = values.get("captures_count", 0)
            self.detections_count = values.get("detections_count", 0)
            self.occurrences_count = values.get("occurrences_count", 0)
            self.calculated_fields_updated_at = updated_timestamp or timezone.now()
        if save:
            _save_calculated(self, self.CALCULATED_FIELDS)


class SourceImage(BaseModel):
    """A capture: one image taken by a deployment."""

    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="captures"
    )
    deployment = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="captures"
    )
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="captures"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    path = models.CharField(max_length=255)
    public_base_url = models.CharField(max_length=255, blank=True, null=True)
    timestamp = models.DateTimeField(null=True, blank=True, db_index=True)
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    checksum = models.CharField(max_length=255, blank=True, null=True)
    checksum_algorithm = models.CharField(max_length=255, blank=True, null=True)
    test_image = models.BooleanField(default=False)

    detections_count = models.IntegerField(null=True, blank=True)

    project_accessor = "project"
    CALCULATED_FIELDS = ("public_base_url", "project", "detections_count")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "path"], name="unique_deployment_path")
        ]

    def save(self, update_calculated_fields: bool = True, *args: Any, **kwargs: Any) -> None:
        """Antenna's save: write the row, then recompute the cached fields."""
        super().save(*args, **kwargs)
        if update_calculated_fields:
            self.update_calculated_fields(save=True)

    def update_calculated_fields(self, save: bool = False) -> None:
        """Antenna's meaning, except reading a timestamp from the file name: the public base
        URL from the deployment's data source if unset, the project from the deployment if
        unset, and the filtered detections count (one query); ``save=True`` writes them."""
        from ami.main.cached_fields import calculated_values

        deployment = self.deployment if self.deployment_id else None
        if self.path and not self.public_base_url and deployment and deployment.data_source_id:
            self.public_base_url = deployment.data_source.public_base_url or None
        if not self.project_id and deployment:
            self.project_id = deployment.project_id
        if self.pk is not None:
            self.detections_count = calculated_values("image", self.pk).get("n", 0)
        if save:
            _save_calculated(self, self.CALCULATED_FIELDS)


class Tag(BaseModel):
    name = models.CharField(max_length=255)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="tags"
    )

    class Meta:
        unique_together = ("name", "project")


class Taxon(BaseModel):
    """A global taxon; a project "has" it only through ``Taxon.projects``."""

    name = models.CharField(max_length=255, unique=True)
    display_name = models.CharField(max_length=255, unique=True, null=True, blank=True)
    rank = models.CharField(
        max_length=255,
        choices=[(r.name, r.value) for r in TaxonRank],
        default=TaxonRank.SPECIES.name,
    )
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="direct_children"
    )
    synonym_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="synonyms"
    )
    parents_json = models.JSONField(
        default=list, blank=True, help_text='Ancestors as [{"id": pk, "name": ..., "rank": ...}]'
    )
    active = models.BooleanField(default=True)
    projects = models.ManyToManyField(Project, related_name="taxa", blank=True)
    tags = models.ManyToManyField(Tag, related_name="taxa", blank=True)

    project_accessor = "projects"

    def __str__(self) -> str:
        return self.name


class TaxaList(BaseModel):
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    taxa = models.ManyToManyField(Taxon, related_name="lists", blank=True)
    projects = models.ManyToManyField(Project, related_name="taxa_lists", blank=True)

    project_accessor = "projects"

    @classmethod
    def get_or_create_for_project(cls, name: str, project: Project) -> tuple[TaxaList, bool]:
        existing = cls.objects.filter(name=name, projects=project).first()
        if existing:
            return existing, False
        taxa_list = cls.objects.create(name=name)
        taxa_list.projects.add(project)
        return taxa_list, True


class Occurrence(BaseModel):
    determination = models.ForeignKey(
        Taxon, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    deployment = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    determination_score = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["determination", "project", "event", "determination_score"],
                name="occur_det_proj_evt_score",
            ),
            models.Index(fields=["determination", "project", "event"], name="occur_det_proj_evt"),
        ]


class Detection(BaseModel):
    source_image = models.ForeignKey(
        SourceImage, on_delete=models.CASCADE, related_name="detections"
    )
    occurrence = models.ForeignKey(
        Occurrence, on_delete=models.SET_NULL, null=True, blank=True, related_name="detections"
    )
    detection_algorithm = models.ForeignKey(
        "ml.Algorithm", on_delete=models.SET_NULL, null=True, blank=True
    )
    bbox = models.JSONField(null=True, blank=True, help_text="NULL or [] means nothing found")
    timestamp = models.DateTimeField(null=True, blank=True)
    path = models.CharField(max_length=255, blank=True, null=True)
    detection_score = models.FloatField(null=True, blank=True)

    project_accessor = "source_image__project"


class Classification(BaseModel):
    detection = models.ForeignKey(
        Detection,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="classifications",
    )
    taxon = models.ForeignKey(Taxon, on_delete=models.SET_NULL, null=True, blank=True)
    algorithm = models.ForeignKey("ml.Algorithm", on_delete=models.SET_NULL, null=True, blank=True)
    category_map = models.ForeignKey(
        "ml.AlgorithmCategoryMap", on_delete=models.PROTECT, null=True, blank=True
    )
    applied_to = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="derived_classifications",
    )
    score = models.FloatField(null=True, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True)
    terminal = models.BooleanField(default=True)

    project_accessor = "detection__source_image__project"


class Identification(BaseModel):
    """A human identification of an occurrence."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="identifications",
    )
    taxon = models.ForeignKey(Taxon, on_delete=models.SET_NULL, null=True, blank=True)
    occurrence = models.ForeignKey(
        Occurrence, on_delete=models.CASCADE, related_name="identifications"
    )
    agreed_with_identification = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="agreed_with"
    )
    agreed_with_prediction = models.ForeignKey(
        Classification,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="agreed_with_identifications",
    )
    withdrawn = models.BooleanField(default=False)
    comment = models.TextField(blank=True)

    project_accessor = "occurrence__project"


class SourceImageCollection(BaseModel):
    class Method(models.TextChoices):
        FULL = "full"
        RANDOM = "random"
        STRATIFIED_RANDOM = "stratified_random"
        INTERVAL = "interval"
        MANUAL = "manual"
        STARRED = "starred"
        RANDOM_FROM_EACH_EVENT = "random_from_each_event"
        LAST_AND_RANDOM_FROM_EACH_EVENT = "last_and_random_from_each_event"
        GREATEST_FILE_SIZE_FROM_EACH_EVENT = "greatest_file_size_from_each_event"
        DETECTIONS_ONLY = "detections_only"
        COMMON_COMBINED = "common_combined"

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="sourceimage_collections"
    )
    images = models.ManyToManyField(SourceImage, related_name="collections", blank=True)
    method = models.CharField(max_length=255, choices=Method.choices, default=Method.FULL)
    kwargs = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name


def _save_calculated(instance: BaseModel, fields: tuple[str, ...]) -> None:
    """Write the cached columns of a model whose ``save`` takes ``update_calculated_fields``:
    only those columns (and ``updated_at``) of a saved row, the whole row of a new one."""
    update_fields = [*fields, "updated_at"] if instance.pk is not None else None
    instance.save(update_calculated_fields=False, update_fields=update_fields)


from ami.main.events import group_images_into_events  # noqa: E402

__all__ = [
    "Classification",
    "Deployment",
    "Detection",
    "Device",
    "Event",
    "Identification",
    "Occurrence",
    "Project",
    "ProjectManager",
    "ProjectSettingsMixin",
    "S3StorageSource",
    "Site",
    "SourceImage",
    "SourceImageCollection",
    "Tag",
    "TaxaList",
    "Taxon",
    "TaxonRank",
    "UserProjectMembership",
    "group_images_into_events",
]
