"""The capture function, the TRUNCATE guard and fingerprint functions, and the ledger_entry view.

The SQL comes from ledger.capture's ``*_V1`` templates, which are frozen: a later change to
those templates gets a new version and a new migration, never an edit of this one.
"""

from django.db import migrations

from ledger.capture import (
    CAPTURE_FUNCTION_V1,
    DROP_CAPTURE_FUNCTION_V1,
    DROP_ENTRY_VIEW_V1,
    ENTRY_VIEW_V1,
)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunSQL(CAPTURE_FUNCTION_V1, DROP_CAPTURE_FUNCTION_V1),
        migrations.RunSQL(ENTRY_VIEW_V1, DROP_ENTRY_VIEW_V1),
    ]
