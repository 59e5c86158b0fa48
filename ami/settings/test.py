"""Settings for the test suite: a real PostgreSQL server, preferring the machine's own."""

from __future__ import annotations

from ami.database import database_config
from ami.settings.common import *  # noqa: F403

DATABASES = {"default": database_config(for_tests=True)}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
