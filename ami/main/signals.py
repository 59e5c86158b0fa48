"""Project signals: role groups and their permissions follow the project's life; members get
BasicMember."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_save, pre_delete, pre_save
from django.dispatch import receiver

from ami.main.models import Project
from ami.users import roles
from ami.users.models import User


@receiver(post_save, sender=Project)
def sync_role_groups(sender: Any, instance: Project, created: bool, **kwargs: Any) -> None:
    if created:
        roles.create_roles_for_project(instance)
        if instance.owner_id:
            # As in Antenna: the owner is ProjectManager (which makes them a member, so
            # Project.save's ensure_owner_membership adds nothing), and every other user may
            # view the project.
            roles.ProjectManager.assign_user(instance.owner, instance)
            roles.grant_view_to_other_users(instance.pk, instance.owner_id)
    else:
        roles.rename_role_groups(instance)
        old_owner_id = getattr(instance, "_old_owner_id", None)
        # As in Antenna: only a change from one owner to another moves the role.
        if old_owner_id and old_owner_id != instance.owner_id:
            roles.ProjectManager.unassign_user(User.objects.get(pk=old_owner_id), instance)
            if instance.owner_id:
                roles.ProjectManager.assign_user(instance.owner, instance)


@receiver(pre_save, sender=Project)
def remember_owner(sender: Any, instance: Project, **kwargs: Any) -> None:
    """Keep the owner before the save, so post_save can move the ProjectManager role."""
    instance._old_owner_id = (
        Project.objects.filter(pk=instance.pk).values_list("owner_id", flat=True).first()
        if instance.pk
        else None
    )


@receiver(pre_delete, sender=Project)
def delete_role_groups(sender: Any, instance: Project, **kwargs: Any) -> None:
    roles.delete_role_groups(instance)


@receiver(m2m_changed, sender=Project.members.through)
def members_get_basic_role(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    if reverse:  # user.user_projects.add(project)
        pairs = [(instance, p) for p in Project.objects.filter(pk__in=pk_set)]
    else:  # project.members.add(user)
        pairs = [(u, instance) for u in User.objects.filter(pk__in=pk_set)]
    for user, project in pairs:
        if action == "post_add":
            roles.BasicMember.assign_user(user, project)
        else:
            roles.BasicMember.unassign_user(user, project)
