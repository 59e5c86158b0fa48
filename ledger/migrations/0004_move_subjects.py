"""``ledger_move.subjects``: what a move concerns, in the domain's words, GIN-indexed for
``list_moves --subject``. Moves sealed before have none (NULL) and keep their digests: a header
carries ``subjects`` (and version 3) only when it has some."""

import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0003_row_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="move",
            name="subjects",
            field=models.JSONField(
                blank=True,
                help_text="What the move concerns, in the domain's words (sealed in the header from version 3; NULL: none given). The ledger filters on it and never interprets it.",
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="move",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["subjects"], name="ledger_move_subjects"
            ),
        ),
    ]
