"""The row index behind ``row_history`` (``ledger.rowindex``): derived, append-only, filled
after each move commits by ``ledger_index_rows``."""

import django.db.models.deletion
from django.db import migrations, models

from ledger.rowindex import DROP_ROW_INDEX_V1, ROW_INDEX_V1


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_capture_and_protection"),
    ]

    operations = [
        migrations.CreateModel(
            name="RowIndexDone",
            fields=[
                (
                    "move",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="ledger.move",
                    ),
                ),
            ],
            options={
                "db_table": "ledger_row_index_done",
            },
        ),
        migrations.CreateModel(
            name="RowIndex",
            fields=[
                ("entry_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("table_name", models.CharField(max_length=63)),
                ("row_pk", models.TextField()),
                (
                    "change",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.change",
                    ),
                ),
            ],
            options={
                "db_table": "ledger_row_index",
                "indexes": [
                    models.Index(fields=["table_name", "row_pk"], name="ledger_row_index_row")
                ],
            },
        ),
        migrations.RunSQL(ROW_INDEX_V1, DROP_ROW_INDEX_V1),
    ]
