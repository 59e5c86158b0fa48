"""Settings for management commands and the admin."""

from __future__ import annotations

from ami.database import database_config
from ami.settings.common import *  # noqa: F403

DATABASES = {"default": database_config()}
