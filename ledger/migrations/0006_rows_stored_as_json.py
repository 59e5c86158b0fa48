"""``ledger_change.before`` and ``after`` become ``json``: each row's text kept as written.

``jsonb`` writes a value's text anew on every read: half of the server's time when it hands a
move's rows to verification, and text that only the server's way of writing ``jsonb`` fixes.
Existing rows keep their values (their text is what ``jsonb`` wrote for them, so every
recorded hash still verifies). The ``ledger_entry`` view is made again over the new columns.

The table is rewritten under an exclusive lock: no move can seal meanwhile. On a database
whose ledger objects belong to a ledger owner (``ledger_setup_roles``), run this migration
as a superuser, then ``ledger_setup_roles`` again (``OwnedSQL`` says so to any other role).
"""

from django.db import migrations

import ledger.models
from ledger.capture import DROP_ENTRY_VIEW_V1, ENTRY_VIEW_V1
from ledger.owned_sql import OwnedSQL


def _retype(kind: str) -> str:
    return (
        DROP_ENTRY_VIEW_V1
        + f"""
ALTER TABLE ledger_change
    ALTER COLUMN before TYPE {kind} USING before::{kind},
    ALTER COLUMN after TYPE {kind} USING after::{kind};
"""
        + ENTRY_VIEW_V1
    )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_seal_next_entry_by_key")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[OwnedSQL(_retype("json"), _retype("jsonb"))],
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name=name,
                    field=ledger.models.StoredJSONField(blank=True, null=True),
                )
                for model in ("change", "entry")
                for name in ("before", "after")
            ],
        )
    ]
