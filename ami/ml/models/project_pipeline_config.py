"""Per-project enablement and configuration of a pipeline."""

from __future__ import annotations

from django.db import models

from ami.base.models import BaseModel


class ProjectPipelineConfig(BaseModel):
    project = models.ForeignKey(
        "main.Project", on_delete=models.CASCADE, related_name="project_pipeline_configs"
    )
    pipeline = models.ForeignKey(
        "ml.Pipeline", on_delete=models.CASCADE, related_name="project_pipeline_configs"
    )
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True, null=True)

    class Meta:
        unique_together = ("pipeline", "project")
