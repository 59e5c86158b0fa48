"""Abstract base shared by every domain model except User."""

from __future__ import annotations

from django.db import models


class BaseModel(models.Model):
    """Adds ``created_at`` (set on insert) and ``updated_at`` (set on every ``save()``).

    As in Antenna, a queryset ``.update()`` does not touch ``updated_at``.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Path from a row to its project, used for access control in Antenna.
    project_accessor: str = "project"

    class Meta:
        abstract = True
