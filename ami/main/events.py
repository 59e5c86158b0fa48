"""Group a deployment's captures into events (sessions). Replaced by a set-based version."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ami.main.models import Deployment, Event


def group_images_into_events(deployment: Deployment) -> list[Event]:
    raise NotImplementedError
