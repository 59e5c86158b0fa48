"""Settings that refuse to serve the admin with the fallback secret key; production settings
that pass ``check --deploy``."""

from __future__ import annotations

import os
import subprocess
import sys

from ami.database import PROJECT_ROOT

_ADMIN_STATUS = (
    "import django; django.setup(); from django.test import Client; "
    "r = Client(HTTP_HOST='localhost').get('/admin/'); "
    "print(r.status_code, r.content.decode()[:60])"
)


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_admin_is_not_served_with_the_fallback_secret_key():
    done = _run("-c", _ADMIN_STATUS, DJANGO_SETTINGS_MODULE="ami.settings.base")
    assert done.stdout.startswith("503 The admin is not served with the fallback secret key")


def test_the_admin_is_served_with_a_key_of_ones_own():
    done = _run(
        "-c",
        _ADMIN_STATUS,
        DJANGO_SETTINGS_MODULE="ami.settings.base",
        DJANGO_SECRET_KEY="k" * 60,
    )
    assert done.stdout.startswith("302")  # to the login page


def test_production_settings_pass_check_deploy():
    done = _run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="ami.settings.production",
        DJANGO_SECRET_KEY="vN3q-Lr8zP1xK5tW0cYh7Gm2bJ9dF4sA6eU-oT0iRkQlXwZy_HgVnBjMu",
        DJANGO_ALLOWED_HOSTS="ledger.example.org",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    done = _run("manage.py", "check", DJANGO_SETTINGS_MODULE="ami.settings.production")
    assert done.returncode != 0
    # One line saying what to set, whatever order Django's checks run in (a set, in 4.2).
    assert done.stderr.startswith("error: DJANGO_SECRET_KEY is not set: production needs a long")
    assert "Traceback" not in done.stderr
