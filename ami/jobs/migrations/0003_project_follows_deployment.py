"""A job's project follows its deployment (``ami.main.consistency``)."""

from django.db import migrations

from ami.main.consistency import add_key_sql, drop_key_sql

TABLE, NAME = "jobs_job", "jobs_job_project_follows_deployment"


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_initial"),
        ("main", "0005_project_follows_deployment"),
    ]

    operations = [migrations.RunSQL(add_key_sql(TABLE, NAME), drop_key_sql(TABLE, NAME))]
