"""Job: the columns tying a job to its project, deployment, collection, image and export."""

from __future__ import annotations

from django.db import models

from ami.base.models import BaseModel


class JobState(models.TextChoices):
    CREATED = "CREATED"
    PENDING = "PENDING"
    STARTED = "STARTED"
    RETRY = "RETRY"
    CANCELING = "CANCELING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def running_states(cls) -> list[str]:
        return [cls.PENDING, cls.STARTED, cls.RETRY, cls.CANCELING]


class Job(BaseModel):
    name = models.CharField(max_length=255)
    queue = models.CharField(max_length=255, default="default")
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=255, choices=JobState.choices, default=JobState.CREATED)
    progress = models.JSONField(default=dict, blank=True)
    logs = models.JSONField(default=dict, blank=True)
    params = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    task_id = models.CharField(max_length=255, null=True, blank=True)
    delay = models.IntegerField(default=0)
    limit = models.IntegerField(null=True, blank=True)
    shuffle = models.BooleanField(default=True)
    job_type_key = models.CharField(max_length=255, default="unknown")
    dispatch_mode = models.CharField(max_length=32, default="internal")

    project = models.ForeignKey("main.Project", on_delete=models.CASCADE, related_name="jobs")
    deployment = models.ForeignKey(
        "main.Deployment", on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    source_image_single = models.ForeignKey(
        "main.SourceImage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
    )
    source_image_collection = models.ForeignKey(
        "main.SourceImageCollection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
    )
    data_export = models.OneToOneField(
        "exports.DataExport",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="job",
    )
    pipeline = models.ForeignKey(
        "ml.Pipeline", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )

    def __str__(self) -> str:
        return self.name
