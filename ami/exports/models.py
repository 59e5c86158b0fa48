"""DataExport: a file of a project's data made for a user."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ami.base.models import BaseModel


class DataExport(BaseModel):
    project = models.ForeignKey("main.Project", on_delete=models.CASCADE, related_name="exports")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=255, default="csv")
    filters = models.JSONField(default=dict, blank=True)
    filters_display = models.JSONField(default=dict, blank=True)
    file_url = models.URLField(blank=True, null=True)
    record_count = models.PositiveIntegerField(default=0)
    file_size = models.PositiveBigIntegerField(default=0)
