"""Shared fixtures. The database is always a real PostgreSQL server (see ami.database)."""

from __future__ import annotations

import pytest


@pytest.fixture
def owner(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(email="owner@example.com", password="pw")


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    counter = iter(range(1, 10_000))

    def make(**extra):
        return get_user_model().objects.create_user(
            email=f"user{next(counter)}@example.com", password="pw", **extra
        )

    return make


@pytest.fixture
def app_role(db):
    """A factory of ``with app_role():`` blocks run as a fresh role that is neither a superuser
    nor the owner of any table, as an application role with ordinary grants would be.

    The role is created inside the test's transaction and vanishes with it. With
    ``grant_writes=True`` it is granted UPDATE, DELETE and TRUNCATE on the ledger tables, so a
    refusal shown under it comes from the ledger's own protection, not from missing grants.
    """
    import os
    from contextlib import contextmanager

    from django.db import connection

    name = f"ledger_test_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} NOLOGIN NOSUPERUSER NOINHERIT")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
        cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")

    @contextmanager
    def as_app(grant_writes: bool = False):
        with connection.cursor() as cursor:
            if grant_writes:
                cursor.execute(
                    "GRANT UPDATE, DELETE, TRUNCATE ON ledger_move, ledger_step, ledger_change, "
                    f"ledger_entry TO {name}"
                )
            cursor.execute(f"SET ROLE {name}")
        try:
            yield name
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")

    return as_app


@pytest.fixture(autouse=True, scope="session")
def _flush_truncates_the_row_index():
    """Django's flush after each transactional test truncates the models' tables in one
    statement; the row index (``ledger.rowindex``, raw SQL, no model) references
    ``ledger_change``, and PostgreSQL refuses to truncate a referenced table alone. Its two
    tables are added to that statement."""
    from django.db.backends.base.introspection import BaseDatabaseIntrospection

    from ledger.rowindex import TABLES

    original = BaseDatabaseIntrospection.django_table_names

    def django_table_names(self, only_existing=False, include_views=True):
        names = original(self, only_existing, include_views)
        existing = set(self.table_names()) if only_existing else set(TABLES)
        return [*names, *(t for t in TABLES if t in existing and t not in names)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseIntrospection, "django_table_names", django_table_names)
        yield
