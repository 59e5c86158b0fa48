"""Canonical encoding and RFC 6962 Merkle roots."""

from __future__ import annotations

import re
from decimal import Decimal
from hashlib import sha256

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ledger.digest import (
    EMPTY_ROOT,
    AuditPath,
    MerkleBuilder,
    audit_ranges,
    decode_row,
    entry_bytes,
    entry_leaf,
    group_leaves,
    leaf_hash,
    merkle_root,
    root_from_path,
    row_as_dict,
    row_struct,
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
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


_row = st.none() | st.dictionaries(st.text(max_size=5), _json, max_size=6)
# What the entries of a group share.
_shared = {
    "step": st.none() | st.integers(1, 10**6),
    "table": st.text(min_size=1, max_size=10),
    "op": st.sampled_from(["I", "U", "D"]),
    "before": _row,
    "after": _row,
}


def _plain_leaf(entry_id, step, table, op, pk, before, after) -> bytes:
    """The leaf as the canonical encoding defines it."""
    entry = EntryPayload(
        id=entry_id,
        move_id=7,
        step_id=step,
        table=table,
        op=op,
        pk=pk,
        before=before,
        after=after,
    )
    return leaf_hash(entry_bytes(entry))


@given(
    first=st.integers(1, 10**12),
    pks=st.lists(st.text(max_size=8), min_size=1, max_size=5),
    **_shared,
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
        _plain_leaf(first + i, step, table, op, pk, before, after) for i, pk in enumerate(pks)
    ]
    assert fast == plain


def test_the_single_entry_fast_path_declares_the_entry_fields_sorted():
    from ledger.digest import _SortedEntry

    assert _SortedEntry.__struct_fields__ == tuple(sorted(EntryPayload.__struct_fields__))


@given(entry_id=st.integers(1, 10**12), pk=st.text(max_size=8), **_shared)
def test_the_single_entry_fast_path_equals_the_plain_encoding(
    entry_id, step, table, op, pk, before, after
):
    fast = entry_leaf(after, before, entry_id, 7, op, pk, step, table)
    assert fast == _plain_leaf(entry_id, step, table, op, pk, before, after)


def test_the_single_entry_fast_path_sorts_nested_keys_and_keeps_decimal_digits():
    after = {"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": Decimal("1.50"), "\u00e9": "\n"}
    expected = leaf_hash(
        b'{"after":{"a":1.50,"b":{"a":[{"x":3,"y":2}],"z":1},"\xc3\xa9":"\\n"},'
        b'"before":null,"id":5,"move_id":7,"op":"I","pk":"5","step_id":null,"table":"t","v":2}'
    )
    assert entry_leaf(after, None, 5, 7, "I", "5", None, "t") == expected


_raw_encode = msgspec.json.Encoder(decimal_format="number").encode


@given(row=_row, columns=st.frozensets(st.text(max_size=5), max_size=8), extra=st.booleans())
def test_a_row_decoded_as_its_table_s_struct_hashes_as_its_dict(row, columns, extra):
    # The columns a move's header lists: sometimes every key of the row and more.
    columns = columns | set(row or ()) if extra else columns
    raw = _raw_encode(row)
    as_dict = decode_row(raw)
    struct = row_struct(tuple(sorted(columns)))
    assume(struct is not None)  # else a name msgspec refuses: verify decodes rows as dicts
    try:
        as_struct = msgspec.json.Decoder(struct | None, float_hook=Decimal).decode(raw)
    except msgspec.ValidationError:
        # Only a row with a key the columns do not list is refused (verify decodes it as a dict).
        assert not set(row) <= columns
        return
    assert row is None or set(row) <= columns
    assert row_as_dict(as_struct) == as_dict
    assert entry_leaf(as_struct, as_dict, 5, 7, "U", "5", None, "t") == _plain_leaf(
        5, None, "t", "U", "5", as_dict, as_dict
    )


def test_a_row_struct_refuses_what_is_not_a_row():
    struct = row_struct(("a",))
    with pytest.raises(
        msgspec.ValidationError, match=re.escape("Expected `object | null`, got `array`")
    ):
        msgspec.json.Decoder(struct | None).decode(b"[1]")


def test_a_column_msgspec_cannot_name_has_no_row_struct():
    assert row_struct(('say "hi"',)) is None
    assert row_struct(("a", "b")) is not None


def reference_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1, PATH(m, D[n]), written from the definition."""
    if len(leaves) == 1:
        return []
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    if index < split:
        return [*reference_path(index, leaves[:split]), reference_root(leaves[split:])]
    return [*reference_path(index - split, leaves[split:]), reference_root(leaves[:split])]


def _streamed_path(leaves: list[bytes], index: int, chunk: int) -> list[bytes]:
    path = AuditPath(index, len(leaves))
    for start in range(0, len(leaves), chunk):
        path.feed(start, leaves[start : start + chunk])
    assert path.leaf == leaves[index]
    return path.path()


@given(size=st.integers(1, 300), data=st.data())
def test_an_audit_path_leads_to_the_root_from_its_leaf_and_no_other(size, data):
    leaves = [leaf_hash(b"%d" % i) for i in range(size)]
    root = bytes.fromhex(merkle_root(leaves))
    index = data.draw(st.integers(0, size - 1), label="index")
    chunk = data.draw(st.integers(1, size), label="chunk")
    path = _streamed_path(leaves, index, chunk)
    assert path == reference_path(index, leaves)
    assert root_from_path(leaves[index], index, size, path) == root
    for other in range(size):
        if other != index:
            assert root_from_path(leaves[other], index, size, path) != root
            assert root_from_path(leaves[index], other, size, path) != root
    assert root_from_path(leaf_hash(b"not in the tree"), index, size, path) != root
    assert root_from_path(leaves[index], index, size, [*path, leaves[0]]) is None
    if path:
        assert root_from_path(leaves[index], index, size, path[:-1]) != root
        flipped = bytes([path[0][0] ^ 1]) + path[0][1:]
        assert root_from_path(leaves[index], index, size, [flipped, *path[1:]]) != root


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 65, 100])
def test_every_leaf_of_a_tree_has_a_path_to_its_root(size):
    leaves = [leaf_hash(b"%d" % i) for i in range(size)]
    root = bytes.fromhex(merkle_root(leaves))
    for index in range(size):
        path = _streamed_path(leaves, index, 7)
        assert len(path) == len(audit_ranges(index, size))
        assert root_from_path(leaves[index], index, size, path) == root


def test_a_path_streams_across_builder_chunks_and_refuses_a_short_feed():
    leaves = [leaf_hash(b"%d" % i) for i in range(40_000)]
    root = bytes.fromhex(merkle_root(leaves))
    for index in (0, 16_383, 16_384, 39_999):
        path = _streamed_path(leaves, index, 5_000)
        assert root_from_path(leaves[index], index, len(leaves), path) == root
    short = AuditPath(3, 10)
    short.feed(0, leaves[:9])
    with pytest.raises(ValueError, match="tree of 10 leaves was not fed to its end"):
        short.path()
    with pytest.raises(ValueError, match="leaf 10 is not in a tree of 10 leaves"):
        AuditPath(10, 10)
    assert root_from_path(leaves[0], 10, 10, []) is None
