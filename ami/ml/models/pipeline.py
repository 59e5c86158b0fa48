"""Pipeline: a global chain of algorithms, enabled per project through ProjectPipelineConfig."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.text import slugify

from ami.base.models import BaseModel


class Pipeline(BaseModel):
    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255, unique=True)
    description = models.TextField(blank=True)
    version = models.IntegerField(default=1)
    version_name = models.CharField(max_length=255, blank=True)
    algorithms = models.ManyToManyField("ml.Algorithm", related_name="pipelines", blank=True)
    stages = models.JSONField(default=list, blank=True)
    default_config = models.JSONField(default=dict, blank=True)
    projects = models.ManyToManyField(
        "main.Project",
        through="ml.ProjectPipelineConfig",
        related_name="pipelines",
        blank=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_pipeline_version")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            self.slug = f"{slugify(self.name)}-v{self.version}"
        super().save(*args, **kwargs)
