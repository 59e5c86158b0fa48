"""Capture function V2: merge joins and sorts off, so capture hash-joins and hash-aggregates.

The SQL comes from ledger.capture's frozen ``CAPTURE_FUNCTION_V2``; reverting restores V1.
"""

from django.db import migrations

from ledger.capture import CAPTURE_FUNCTION_V1, CAPTURE_FUNCTION_V2


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_capture_function_entry_view")]

    operations = [migrations.RunSQL(CAPTURE_FUNCTION_V2, CAPTURE_FUNCTION_V1)]
