"""A row's project follows its deployment: composite keys on events, captures and occurrences
(``ami.main.consistency``). Jobs get theirs in ``jobs.0003``."""

from django.db import migrations

from ami.main.consistency import (
    ADD_UNIQUE,
    DROP_UNIQUE,
    FOLLOWERS,
    add_key_sql,
    drop_key_sql,
)

MAIN = [(table, name) for table, name in FOLLOWERS if table.startswith("main_")]


class Migration(migrations.Migration):
    dependencies = [("main", "0004_project_settings_history")]

    operations = [
        migrations.RunSQL(ADD_UNIQUE, DROP_UNIQUE),
        *(migrations.RunSQL(add_key_sql(t, n), drop_key_sql(t, n)) for t, n in MAIN),
    ]
