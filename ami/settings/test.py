"""Settings for the test suite: a real PostgreSQL server, preferring the machine's own."""

from __future__ import annotations

import os

from ami.database import database_config
from ami.settings.common import *  # noqa: F403

DATABASES = {"default": database_config(for_tests=True)}
# One test database per run, so that runs started side by side (several developers or CI on one
# server) never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
