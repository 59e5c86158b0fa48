"""Settings shared by every entry point; each one adds its own DATABASES."""

from __future__ import annotations

import os
from pathlib import Path

from ami.database import PROJECT_ROOT

BASE_DIR = PROJECT_ROOT
# Without DJANGO_SECRET_KEY the commands run, but the admin is not served (ami/urls.py):
# sessions signed with a key anyone can read in this repository would let anyone in.
INSECURE_SECRET_KEY = "insecure-local-only-key"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or INSECURE_SECRET_KEY
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pgtrigger",
    "pghistory",
    "guardian",
    "ami.users",
    "ami.main",
    "ami.ml",
    "ami.jobs",
    "ami.exports",
    "ami.labelstudio",
    "ami.move",
    "ledger",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's styles and scripts under runserver, DEBUG or not, and under any WSGI
    # server, straight from the apps' static folders (no STATIC_ROOT, no collectstatic).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ami.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"
# Roles are per-project groups plus django-guardian object permissions, as in Antenna.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Antenna's name for guardian's anonymous user (created by guardian's post_migrate).
ANONYMOUS_USER_NAME = "anonymoususer"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True
# Dates and times read "2025-03-02 10:14:07 UTC" everywhere in the admin: seconds and zone.
FORMAT_MODULE_PATH = ["ami.settings.formats"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("AMI_LOG_LEVEL", "WARNING")},
}

# The ledger's keys live outside the database: in files named by the environment, else in the
# git-ignored .ledger-keys/ folder that `run_demo` fills (docs/compliance.md), or the folder
# LEDGER_KEYS_DIR names.
LEDGER_KEYS_DIR = Path(os.environ.get("LEDGER_KEYS_DIR") or BASE_DIR / ".ledger-keys")


def _ledger_file(variable: str, name: str) -> str | None:
    if os.environ.get(variable):
        return os.environ[variable]
    path = LEDGER_KEYS_DIR / name
    return str(path) if path.exists() else None


LEDGER_SIGNING_KEY_FILE = _ledger_file("LEDGER_SIGNING_KEY_FILE", "signing.pem")
LEDGER_FINGERPRINT_KEY_FILE = _ledger_file("LEDGER_FINGERPRINT_KEY_FILE", "fingerprint.key")
LEDGER_CHECKPOINT_FILE = os.environ.get("LEDGER_CHECKPOINT_FILE") or None

# Attached to an existing Antenna database (docs/antenna.md): `migrate` creates the ledger's
# own objects only. The domain apps' tables are Antenna's, made by Antenna's migrations; the
# apps Antenna has migrated already (guardian) or does not have (pghistory) are left alone, so
# no table of Antenna's is created, altered or given a trigger. Every move checks the schema it
# reads and writes first (ami.move.schema).
AMI_ATTACH = os.environ.get("AMI_ATTACH", "") == "1"
if AMI_ATTACH:
    MIGRATION_MODULES = dict.fromkeys(
        ("users", "main", "ml", "jobs", "exports", "labelstudio", "guardian", "pghistory")
    )

# The reviewer pages check signatures with the public key `run_demo` (ledger_keygen) writes.
LEDGER_PUBLIC_KEY_FILE = _ledger_file("LEDGER_PUBLIC_KEY_FILE", "signing.pub")

# What the reviewer pages and `list_moves` show of a move's arguments as columns of their own,
# in order (heading, argument key); every other argument is shown on the move's page.
LEDGER_ARGUMENT_COLUMNS = (
    ("source", "source_project"),
    ("target", "target_project"),
    ("deployments", "deployment_ids"),
)
