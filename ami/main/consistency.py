""" "A row's project follows its deployment", enforced by the database.

Events, captures, occurrences and jobs carry both ``deployment_id`` and a denormalised
``project_id``. A composite foreign key ``(deployment_id, project_id) REFERENCES
main_deployment (id, project_id)`` makes the pair consistent for every writer, the move's
included: a writer that read a deployment before a move and inserts a capture with the old
project waits for the move, then fails (the pair no longer exists), instead of committing a
capture in one project on a deployment in another.

The keys are ``DEFERRABLE INITIALLY DEFERRED`` (checked at commit, like Django's own), ``MATCH
SIMPLE`` (a row without a deployment or a project is not checked) and ``NO ACTION``: changing a
deployment's project needs its rows changed in the same transaction, as the move does.

This project's migrations install them. On an attached Antenna database they are opt-in
(``manage.py project_follows_deployment --install``); the trade-off: each insert or update of
those columns checks one more key (an index lookup and a key-share lock on the deployment
row), installing takes a brief SHARE ROW EXCLUSIVE lock per table (writers wait
milliseconds), and Antenna's own code that changes a deployment's project without its rows
fails at commit instead of leaving them inconsistent.
"""

from __future__ import annotations

from django.db import connection

UNIQUE_NAME = "main_deployment_id_project_key"
# (table, constraint name) of every table whose project follows its deployment.
FOLLOWERS = (
    ("main_event", "main_event_project_follows_deployment"),
    ("main_sourceimage", "main_sourceimage_project_follows_deployment"),
    ("main_occurrence", "main_occurrence_project_follows_deployment"),
    ("jobs_job", "jobs_job_project_follows_deployment"),
)

ADD_UNIQUE = f"""
ALTER TABLE main_deployment ADD CONSTRAINT {UNIQUE_NAME} UNIQUE (id, project_id);
"""
DROP_UNIQUE = f"ALTER TABLE main_deployment DROP CONSTRAINT IF EXISTS {UNIQUE_NAME};"

_ADD_KEY = """
ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (deployment_id, project_id)
    REFERENCES main_deployment (id, project_id) MATCH SIMPLE
    ON UPDATE NO ACTION ON DELETE NO ACTION DEFERRABLE INITIALLY DEFERRED{not_valid};
"""
_DROP_KEY = "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name};"

# Rows that break the rule: what --install reports before trying, what the move's checks see.
_VIOLATIONS = """
SELECT count(*), (array_agg(x.id ORDER BY x.id))[1:5] FROM {table} x
JOIN main_deployment d ON d.id = x.deployment_id
WHERE x.project_id IS NOT NULL AND x.project_id IS DISTINCT FROM d.project_id
"""


def add_key_sql(table: str, name: str, *, valid: bool = True) -> str:
    """The ``ALTER TABLE`` adding one composite key (``NOT VALID`` to validate later)."""
    return _ADD_KEY.format(table=table, name=name, not_valid="" if valid else " NOT VALID")


def drop_key_sql(table: str, name: str) -> str:
    return _DROP_KEY.format(table=table, name=name)


def installed() -> dict[str, str | None]:
    """Per follower table: ``"valid"``, ``"not valid"`` (added, not validated yet) or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, convalidated FROM pg_constraint WHERE conname = ANY(%s)",
            [[name for _, name in FOLLOWERS]],
        )
        found = dict(cursor.fetchall())
    return {
        table: None if name not in found else ("valid" if found[name] else "not valid")
        for table, name in FOLLOWERS
    }


def violations() -> dict[str, tuple[int, list[int]]]:
    """Per follower table: rows whose project is not their deployment's, and a sample."""
    out = {}
    with connection.cursor() as cursor:
        for table, _ in FOLLOWERS:
            cursor.execute(_VIOLATIONS.format(table=table))
            count, sample = cursor.fetchone()
            if count:
                out[table] = (count, list(sample))
    return out
