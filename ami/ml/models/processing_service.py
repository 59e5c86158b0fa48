"""ProcessingService and its project links (``ml_processingservice_projects``)."""

from __future__ import annotations

from django.db import models

from ami.base.models import BaseModel


class ProcessingService(BaseModel):
    """A service that runs pipelines.

    Rows may be inserted with raw SQL naming only ``name, description, endpoint_url,
    created_at, updated_at`` (Antenna's tests do so to avoid the manager's HTTP status call),
    so every other column is nullable or has a database default.
    """

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    endpoint_url = models.CharField(
        max_length=1024, null=True, blank=True, help_text="NULL means pull (async) mode"
    )
    projects = models.ManyToManyField(
        "main.Project", related_name="processing_services", blank=True
    )
    pipelines = models.ManyToManyField(
        "ml.Pipeline", related_name="processing_services", blank=True
    )
    last_seen = models.DateTimeField(null=True, blank=True)
    last_seen_live = models.BooleanField(null=True, blank=True)
    last_seen_latency = models.FloatField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
