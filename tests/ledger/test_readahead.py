"""``ledger.readahead``: batches come in order, errors reach the caller, an early stop ends the
reading thread, and the switch interval is short while read-aheads run, then as found."""

from __future__ import annotations

import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.readahead import SWITCH_SECONDS, read_ahead


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


@pytest.fixture
def default_switch_interval():
    found = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(found)


@pytest.mark.usefixtures("default_switch_interval")
def test_the_switch_interval_is_short_while_read_aheads_run_then_as_found():
    seen = []
    first = read_ahead(_fetcher([[1], [2]])[0])
    assert next(first) == [1]
    seen.append(sys.getswitchinterval())
    # A second read-ahead at once, ending first: the interval stays short for the other.
    second = read_ahead(_fetcher([[3]])[0])
    assert list(second) == [[3]]
    seen.append(sys.getswitchinterval())
    assert list(first) == [[2]]
    assert seen == [SWITCH_SECONDS, SWITCH_SECONDS]
    assert sys.getswitchinterval() == 0.005


@pytest.mark.usefixtures("default_switch_interval")
def test_an_error_or_an_early_close_puts_the_interval_back():
    failing = read_ahead(_fetcher([[1]], fail_after=1)[0])
    assert next(failing) == [1]
    with pytest.raises(ConnectionError, match="server closed the connection"):
        next(failing)
    closed = read_ahead(_fetcher([[n] for n in range(100)])[0])
    assert next(closed) == [0]
    closed.close()
    assert sys.getswitchinterval() == 0.005


def test_a_shorter_interval_the_application_set_is_kept(default_switch_interval):
    sys.setswitchinterval(SWITCH_SECONDS / 5)
    shorter = sys.getswitchinterval()  # as the interpreter rounds it
    assert list(read_ahead(_fetcher([[1]])[0])) == [[1]]
    assert sys.getswitchinterval() == pytest.approx(shorter, abs=2e-6)
