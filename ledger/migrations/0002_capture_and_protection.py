"""The capture function, the TRUNCATE guard and fingerprint functions, the ledger_entry view,
the append-only protection of the ledger tables and the sealing function.

The SQL comes from frozen ``*_V1`` templates (``ledger.capture``, ``ledger.protect``): a later
change to those templates gets a new version and a new migration, never an edit of this one.
"""

from django.db import migrations

from ledger.capture import (
    CAPTURE_FUNCTION_V1,
    DROP_CAPTURE_FUNCTION_V1,
    DROP_ENTRY_VIEW_V1,
    ENTRY_VIEW_V1,
)
from ledger.protect import (
    DROP_PROTECT_V1,
    DROP_SEAL_FUNCTION_V1,
    PROTECT_V1,
    SEAL_FUNCTION_V1,
)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunSQL(CAPTURE_FUNCTION_V1, DROP_CAPTURE_FUNCTION_V1),
        migrations.RunSQL(ENTRY_VIEW_V1, DROP_ENTRY_VIEW_V1),
        migrations.RunSQL(PROTECT_V1, DROP_PROTECT_V1),
        migrations.RunSQL(SEAL_FUNCTION_V1, DROP_SEAL_FUNCTION_V1),
    ]
