"""The ledger alone: ci/build-ledger builds a wheel of ``ledger/`` only; installed into a
throwaway venv (its dependencies taken from this environment, no download), it imports, its
Django checks pass and its migrations are complete, with no ``ami`` importable."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

_CHECK = textwrap.dedent(
    """
    import importlib.util, sys
    import django
    from django.conf import settings

    assert importlib.util.find_spec("ami") is None, "ami is importable"
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.admin",
            "django.contrib.sessions", "django.contrib.messages", "pgtrigger", "pghistory",
            "ledger",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "none"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
    )
    django.setup()
    import ledger, ledger.admin, ledger.models
    from django.core.management import call_command

    call_command("check")
    call_command("makemigrations", "ledger", "--check", "--dry-run", verbosity=0)
    assert ledger.who_and_why("7", "why", executing=True) == ("7", "why")
    assert "ami" not in {name.split(".")[0] for name in sys.modules}
    print(ledger.__file__)
    """
)


def test_the_ledger_builds_installs_and_runs_without_ami(tmp_path):
    subprocess.run(
        [str(ROOT / "ci" / "build-ledger"), str(tmp_path / "dist"), sys.executable],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = (tmp_path / "dist").glob("django_move_ledger-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "ledger",
        "django_move_ledger-0.1.0.dist-info",
    }
    assert "ledger/py.typed" in names
    assert "ledger/migrations/0004_move_subjects.py" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    # Its dependencies (Django, pghistory, msgspec...) from this environment, without the
    # .pth files of this environment, which would make this repository's ami importable.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")
    }
    result = subprocess.run(
        [str(python), "-c", _CHECK], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(str(venv))
