"""Keep UserProjectMembership in step with role groups, as Antenna's users.signals does.

Users are identified by id only: e-mail addresses never reach a log line.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from ami.users.models import User

logger = logging.getLogger(__name__)

ROLE_GROUP_NAME = re.compile(r"^(?P<project_id>\d+)_")


def _project_ids(group_pks: set[int] | None) -> set[int]:
    names = Group.objects.filter(pk__in=group_pks or ()).values_list("name", flat=True)
    return {int(m["project_id"]) for n in names if (m := ROLE_GROUP_NAME.match(n))}


@receiver(m2m_changed, sender=User.groups.through)
def manage_project_membership(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    from ami.main.models import Project, UserProjectMembership

    if reverse or action not in ("post_add", "post_remove"):
        return
    for project_id in _project_ids(pk_set):
        if not Project.objects.filter(pk=project_id).exists():
            continue
        if action == "post_add":
            _, created = UserProjectMembership.objects.get_or_create(
                user=instance, project_id=project_id
            )
            if created:
                logger.info("user id=%s joined project %s", instance.pk, project_id)
        elif not instance.groups.filter(name__startswith=f"{project_id}_").exists():
            UserProjectMembership.objects.filter(user=instance, project_id=project_id).delete()
            logger.info("user id=%s left project %s", instance.pk, project_id)
