"""The row index behind ``row_history`` (``ledger.rowindex``): derived, append-only, written
after each move commits by ``ledger_index_rows``."""

from django.db import migrations

from ledger.rowindex import DROP_ROW_INDEX_V1, ROW_INDEX_V1


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_capture_and_protection")]

    operations = [migrations.RunSQL(ROW_INDEX_V1, DROP_ROW_INDEX_V1)]
