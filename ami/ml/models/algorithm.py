"""Algorithm and its category map (global rows, no project)."""

from __future__ import annotations

from django.db import models

from ami.base.models import BaseModel


class AlgorithmCategoryMap(BaseModel):
    data = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=list, blank=True)
    version = models.CharField(max_length=255, blank=True, null=True)
    description = models.TextField(blank=True)


class Algorithm(BaseModel):
    name = models.CharField(max_length=255)
    key = models.SlugField(max_length=255, unique=True)
    version = models.IntegerField(default=1)
    task_type = models.CharField(max_length=255, blank=True, null=True)
    category_map = models.ForeignKey(
        AlgorithmCategoryMap,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="algorithms",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_algorithm_version")
        ]

    def __str__(self) -> str:
        return self.name
