"""WSGI entry point (``gunicorn ami.wsgi``); production uses ``ami.settings.production``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ami.settings.production")
application = get_wsgi_application()
