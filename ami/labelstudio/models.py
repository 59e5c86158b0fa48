"""Antenna's Label Studio integration settings: the columns only, table
``labelstudio_labelstudioconfig``.

A config publishes the images of its ``task_collection`` as Label Studio tasks. ``project_id``
is a plain integer, not a foreign key to ``main.Project`` (as in Antenna), so the collection is
the config's only link to this database's data.
"""

from __future__ import annotations

from django.db import models

from ami.main.models import SourceImageCollection


class LabelStudioConfig(models.Model):
    project_id = models.PositiveIntegerField(null=True, blank=True)
    base_url = models.CharField(max_length=255, null=True, blank=True)
    access_token = models.CharField(
        max_length=255, null=True, blank=True, help_text="Secret: never printed or logged"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    task_collection = models.ForeignKey(
        SourceImageCollection, on_delete=models.SET_NULL, null=True, blank=True
    )
    s3_key_id = models.CharField(max_length=255, null=True, blank=True)
    s3_key_secret = models.CharField(
        max_length=255, null=True, blank=True, help_text="Secret: never printed or logged"
    )
    s3_endpoint = models.CharField(max_length=1024, null=True, blank=True)
    s3_uri = models.CharField(max_length=255, null=True, blank=True)

    def __str__(self) -> str:
        return f"Label Studio Config {self.pk}"
