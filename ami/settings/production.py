"""Settings for serving the admin (the reviewer pages) in production.

    DJANGO_SECRET_KEY=... DJANGO_ALLOWED_HOSTS=ledger.example.org DATABASE_URL=... \
        DJANGO_SETTINGS_MODULE=ami.settings.production gunicorn ami.wsgi

``python manage.py check --deploy --settings ami.settings.production`` is clean.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from ami.settings.base import *  # noqa: F403

DEBUG = False
if not os.environ.get("DJANGO_SECRET_KEY"):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set: production needs a long random key of its own"
    )
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]
SECURE_SSL_REDIRECT = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
X_FRAME_OPTIONS = "DENY"
