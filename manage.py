#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

A database that cannot be used (a bad ``DATABASE_URL``, a server that does not answer) ends
any command with one line on stderr saying what to fix, not a traceback; ``--traceback``
shows it anyway.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ami.settings.base")
    from django.core.management import execute_from_command_line
    from django.db import connection
    from django.db.utils import OperationalError

    from ami.database import DatabaseConfigError, describe_connection_failure

    traceback = "--traceback" in sys.argv
    try:
        execute_from_command_line(sys.argv)
    except DatabaseConfigError as exc:
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
