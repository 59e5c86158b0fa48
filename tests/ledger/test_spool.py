"""The seal's spool: frames come back once, in order, whether kept in memory or on disk."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import spool as spool_module
from ledger.spool import Keys, Spool, StagedGroup, Stopped

groups = st.builds(
    StagedGroup,
    seq=st.integers(1, 10**9),
    step=st.none() | st.integers(1, 50),
    table=st.text(min_size=1, max_size=20),
    op=st.sampled_from("IUD"),
    size=st.integers(1, 10**6),
    before=st.none() | st.text(),
    after=st.none() | st.text(),
)
frames = st.lists(st.tuples(groups, st.lists(st.text(), max_size=3)))


@given(frames)
def test_frames_come_back_in_the_order_written(written):
    spool = Spool()
    expected: list[object] = []
    for group, slices in written:
        spool.add_group(group)
        expected.append(group)
        for pks in slices:
            spool.add_keys(pks)
            expected.append(Keys(pks))
    assert list(spool.frames()) == expected
    assert spool.groups == len(written)


def test_a_spool_larger_than_its_memory_goes_to_disk(monkeypatch):
    monkeypatch.setattr(spool_module, "MEMORY_BYTES", 1024)
    spool = Spool()
    group = StagedGroup(1, None, "t", "U", 5000, None, '{"a": 1}')
    spool.add_group(group)
    keys = str(list(range(5000)))
    spool.add_keys(keys)
    assert spool._file._rolled  # on disk now
    assert list(spool.frames()) == [group, Keys(keys)]


def test_reading_stops_when_asked():
    spool = Spool()
    for seq in range(1, 4):
        spool.add_group(StagedGroup(seq, None, "t", "I", 1, None, "{}"))
    stop = threading.Event()
    read = spool.frames(stop)
    assert next(read).seq == 1
    stop.set()
    with pytest.raises(Stopped):
        next(read)
