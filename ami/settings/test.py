"""Settings for the test suite: a real PostgreSQL server, preferring the machine's own."""

from __future__ import annotations

import os

from ami.database import database_config
from ami.settings.common import *  # noqa: F403
from ami.settings.common import INSTALLED_APPS

# The ledger's own test schema (tests/ledger/test_replay.py): replayed with no Antenna model.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.ledger.toyapp"]

DATABASES = {"default": database_config(for_tests=True)}
# One test database per run, so that runs started side by side (several developers or CI on one
# server) never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests sign nothing and checkpoint nothing unless they ask (tests/ledger/test_trust.py), and
# fingerprint secrets with a fixed key of their own.
LEDGER_SIGNING_KEY_FILE = None
LEDGER_SIGNING_KEY_ENV = None
LEDGER_CHECKPOINT_FILE = None
LEDGER_PUBLIC_KEY_FILE = None
LEDGER_FINGERPRINT_KEY_FILE = None
LEDGER_FINGERPRINT_KEY_ENV = "AMI_TEST_FINGERPRINT_KEY"
os.environ.setdefault("AMI_TEST_FINGERPRINT_KEY", "5e" * 32)

SECRET_KEY = "test-only-key-never-used-outside-the-test-suite-" + "x" * 20
