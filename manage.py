#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Settings that cannot load (production without ``DJANGO_SECRET_KEY``) and a database that
cannot be used (a bad ``DATABASE_URL``, a server that does not answer) end any command with
one line on stderr saying what to fix, not a traceback; ``--traceback`` shows it anyway.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ami.settings.base")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import connection
    from django.db.utils import OperationalError

    from ami.database import describe_connection_failure

    traceback = "--traceback" in sys.argv
    try:
        # Settings that cannot load (no DJANGO_SECRET_KEY in production, a bad DATABASE_URL)
        # fail here, before Django's checks run in an order that may hide the reason.
        settings.INSTALLED_APPS  # noqa: B018
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # ami.database.DatabaseConfigError among them
        if traceback:
            raise
        sys.exit(f"error: {exc}")
    except OperationalError as exc:
        message = describe_connection_failure(exc, connection.settings_dict)
        if message is None or traceback:
            raise
        sys.exit(f"error: {message}")


if __name__ == "__main__":
    main()
