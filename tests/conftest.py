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
