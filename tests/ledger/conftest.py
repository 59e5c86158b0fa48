"""Fixtures of the ledger tests: plain test tables created with raw SQL and registered."""

from __future__ import annotations

import pytest

from ledger import signing
from tests.ledger import builders, toyworld


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


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """A signing key pair, and a second one that is not the ledger's."""
    folder = tmp_path_factory.mktemp("keys")
    signing.generate(folder / "ledger.pem", folder / "ledger.pub")
    signing.generate(folder / "other.pem", folder / "other.pub")
    return folder


@pytest.fixture
def signed(settings, keys, tmp_path):
    """Moves sealed in the test are signed with the ledger's key; returns its public key."""
    settings.LEDGER_SIGNING_KEY_FILE = str(keys / "ledger.pem")
    settings.LEDGER_CHECKPOINT_FILE = str(tmp_path / "checkpoint.jsonl")
    return signing.load_public_key(keys / "ledger.pub")


@pytest.fixture
def toy(db):
    """The toy tables registered, with two owners, three shelves, books, tags and loans."""
    yield from toyworld.build_toy()


@pytest.fixture(params=["inline", "windowed"])
def key_windows(request, monkeypatch):
    """Run a test twice: change groups read whole, as small groups are; and every group of
    more than one key read a window of three keys at a time (``ledger.groupkeys``), as a
    group of more than 16,384 keys is, hashed and exported two keys at a time (so slices
    straddle windows)."""
    if request.param == "windowed":
        monkeypatch.setattr("ledger.queries.INLINE_KEYS", 1)
        monkeypatch.setattr("ledger.groupkeys.WINDOW_KEYS", 3)
        monkeypatch.setattr("ledger.digest._LEAVES_AT_ONCE", 2)
        monkeypatch.setattr("ledger.export._SLICE", 2)
    return request.param
