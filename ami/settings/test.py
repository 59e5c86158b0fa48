"""Settings for the test suite: a real PostgreSQL server, preferring the machine's own."""

from __future__ import annotations

import hashlib
import os
import sys

from ami.database import PROJECT_ROOT, database_config
from ami.settings.common import *  # noqa: F403
from ami.settings.common import INSTALLED_APPS

# The ledger's own test schema (tests/ledger/test_replay.py): replayed with no Antenna model.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.ledger.toyapp"]

DATABASES = {"default": database_config(for_tests=True)}
# One test database per checkout and virtualenv: runs from other checkouts or environments on
# the same server (several developers, CI's two stacks) never drop each other's database, and
# the name stays the same from run to run, so `pytest --reuse-db` skips the migrations. Two
# runs at once from one checkout and venv set AMI_TEST_DB_SUFFIX apart.
_ORIGIN = f"{PROJECT_ROOT}|{sys.prefix}|{os.environ.get('AMI_TEST_DB_SUFFIX', '')}"
_TAG = hashlib.sha1(_ORIGIN.encode()).hexdigest()[:10]
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_TAG}"}
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
