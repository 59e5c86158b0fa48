"""Canonical encoding and RFC 6962 Merkle roots."""

from __future__ import annotations

from hashlib import sha256

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.digest import (
    EMPTY_ROOT,
    MerkleBuilder,
    entry_bytes,
    group_leaves,
    leaf_hash,
    merkle_root,
)
from ledger.structs import EntryPayload


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written from the definition."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    left, right = reference_root(leaves[:split]), reference_root(leaves[split:])
    return sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 1000, 16384, 16385, 40000])
def test_streamed_root_equals_the_rfc_6962_definition(count):
    leaves = [leaf_hash(str(i).encode()) for i in range(count)]
    builder = MerkleBuilder()
    builder.extend(leaves[: count // 3])
    builder.extend(iter(leaves[count // 3 :]))
    assert builder.root() == reference_root(leaves).hex() == merkle_root(leaves)
    assert builder.count == count


def test_leaves_and_nodes_are_domain_separated():
    assert leaf_hash(b"x") == sha256(b"\x00x").digest()
    assert MerkleBuilder().root() == EMPTY_ROOT == sha256(b"").hexdigest()
    one, two = leaf_hash(b"a"), leaf_hash(b"b")
    assert merkle_root([one, two]) == sha256(b"\x01" + one + two).hexdigest()


def test_an_entry_encodes_with_sorted_keys():
    entry = EntryPayload(
        id=3,
        move_id=1,
        step_id=None,
        table="t",
        op="U",
        pk="9",
        before={"b": 1, "a": "x"},
        after={"b": 2, "a": "y"},
    )
    assert entry_bytes(entry) == (
        b'{"after":{"a":"y","b":2},"before":{"a":"x","b":1},"id":3,"move_id":1,"op":"U",'
        b'"pk":"9","step_id":null,"table":"t","v":2}'
    )


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@given(
    first=st.integers(1, 10**12),
    step=st.none() | st.integers(1, 10**6),
    table=st.text(min_size=1, max_size=10),
    op=st.sampled_from(["I", "U", "D"]),
    pks=st.lists(st.text(max_size=8), min_size=1, max_size=5),
    before=st.none() | st.dictionaries(st.text(max_size=5), _json, max_size=4),
    after=st.none() | st.dictionaries(st.text(max_size=5), _json, max_size=4),
)
def test_the_group_fast_path_equals_the_plain_encoding(first, step, table, op, pks, before, after):
    fast = group_leaves(
        first_id=first,
        move_id=7,
        step_id=step,
        table=table,
        op=op,
        pks=pks,
        before=before,
        after=after,
    )
    plain = [
        leaf_hash(
            entry_bytes(
                EntryPayload(
                    id=first + i,
                    move_id=7,
                    step_id=step,
                    table=table,
                    op=op,
                    pk=pk,
                    before=before,
                    after=after,
                )
            )
        )
        for i, pk in enumerate(pks)
    ]
    assert fast == plain
