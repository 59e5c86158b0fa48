"""The cycle collector is paused only for the block, and left as the application had it."""

from __future__ import annotations

import gc

import pytest

from ledger import cycles


@pytest.fixture
def collector():
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_in_the_block_and_on_again_after(collector):
    gc.enable()
    with cycles.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_application_that_turned_the_collector_off_keeps_it_off(collector):
    gc.disable()
    with cycles.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_collector_is_on_again_after_an_error(collector):
    gc.enable()
    with pytest.raises(RuntimeError, match="stop"), cycles.paused():
        raise RuntimeError("stop")
    assert gc.isenabled()
