"""``ledger.readahead``: batches come in order, errors reach the caller, an early stop ends the
reading thread."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.readahead import read_ahead


def _fetcher(batches: list[list[int]], fail_after: int | None = None):
    calls = {"n": 0}

    def fetch() -> list[int]:
        calls["n"] += 1
        if fail_after is not None and calls["n"] > fail_after:
            raise ConnectionError("server closed the connection")
        return batches[calls["n"] - 1] if calls["n"] <= len(batches) else []

    return fetch, calls


@given(st.lists(st.lists(st.integers(), min_size=1, max_size=5), max_size=12), st.integers(1, 4))
def test_every_batch_arrives_once_in_order(batches, depth):
    fetch, _ = _fetcher(batches)
    assert list(read_ahead(fetch, depth)) == batches


def test_an_error_while_fetching_is_raised_in_the_caller_after_the_batches_before_it():
    fetch, _ = _fetcher([[1], [2], [3]], fail_after=2)
    batches = read_ahead(fetch)
    assert [next(batches), next(batches)] == [[1], [2]]
    with pytest.raises(ConnectionError, match="server closed the connection"):
        next(batches)


def test_closing_early_stops_the_thread_before_returning():
    fetch, calls = _fetcher([[n] for n in range(1000)])
    batches = read_ahead(fetch, depth=2)
    assert next(batches) == [0]
    batches.close()
    assert not any(t.name == "ledger-read-ahead" for t in threading.enumerate())
    # It read at most the batches it may hold ahead, never the whole source.
    assert calls["n"] <= 5
