"""Fixtures of the ledger tests: plain test tables created with raw SQL and registered."""

from __future__ import annotations

import pytest

from tests.ledger import builders


@pytest.fixture
def tables(db):
    """Test tables inside the test's transaction (rolled back with it), registered."""
    builders.create_tables()
    yield builders.TABLES
    builders.unregister_tables()


@pytest.fixture
def seeded(tables):
    """The test tables with some rows, written before any recording."""
    builders.seed()
    return tables


@pytest.fixture
def committed_tables(transactional_db):
    """Test tables committed for transactional tests; dropped, and the ledger purged, after."""
    builders.create_tables()
    yield builders.TABLES
    builders.unregister_tables()
    builders.drop_tables()
    builders.purge_ledger()
