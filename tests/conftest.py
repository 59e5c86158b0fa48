"""Shared fixtures. The database is always a real PostgreSQL server (see ami.database)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" (the default) and "deep", which
# also multiplies the examples of the slow database properties (tests/ami/move/properties.py).
_SLOW_OK = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture,
                                                         HealthCheck.too_slow]}  # fmt: skip
settings.register_profile("ci", **_SLOW_OK)
settings.register_profile("deep", max_examples=500, **_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def owner(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(email="owner@example.com", password="pw")


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
                    f"ledger_entry, ledger_row_index, ledger_row_index_done TO {name}"
                )
            cursor.execute(f"SET ROLE {name}")
        try:
            yield name
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")

    return as_app
