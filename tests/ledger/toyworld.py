"""The ledger tests' own world (``toyapp``: FKs, an M2M, cascades, a composite unique key),
with no Antenna model: its rows, a move touching every table, and its revert."""

from __future__ import annotations

import json
from decimal import Decimal

from django.db import connection, transaction

import ledger
from tests.ledger.toyapp.models import TABLES, Book, Owner, Shelf, Tag


def build_toy():
    """The toy tables registered, with two owners, three shelves, books, tags and loans;
    a generator: it unregisters them when resumed."""
    for table, label in TABLES:
        ledger.register_table(table, label=label)
    ana, bob = Owner.objects.create(name="ana"), Owner.objects.create(name="bob")
    a1 = Shelf.objects.create(owner=ana, name="one")
    a2 = Shelf.objects.create(owner=ana, name="two")
    b1 = Shelf.objects.create(owner=bob, name="one")
    red, blue = Tag.objects.create(label="red"), Tag.objects.create(label="blue")
    for shelf in (a1, a2, b1):
        for n in range(3):
            book = Book.objects.create(
                shelf=shelf, title=f"{shelf.name}-{n}", price=Decimal("9.90") + n, coauthor=bob
            )
            book.tags.set([red] if n % 2 else [red, blue])
            book.loans.create(borrower=f"reader{n}")
    yield {"ana": ana, "bob": bob, "a1": a1, "a2": a2, "b1": b1, "red": red, "blue": blue}
    for table, _ in TABLES:
        ledger.unregister_table(table)


def dump() -> dict[str, dict[str, object]]:
    """Every row of every toy table, by table and primary key."""
    rows: dict[str, dict[str, object]] = {}
    with connection.cursor() as cursor:
        for table, _ in TABLES:
            cursor.execute(f"SELECT id::text, to_jsonb(t)::text FROM {table} t")
            rows[table] = {pk: json.loads(row) for pk, row in cursor.fetchall()}
    return rows


def reorganise(world) -> ledger.Recording:
    """A move touching every toy table: updates, inserts, an M2M change, cascades, a swap
    of two names under the composite unique key."""
    with (
        transaction.atomic(),
        ledger.recording(
            command="reorganise", reason="tidy", operator="7", subjects={"owner": 1}
        ) as rec,
    ):
        with rec.step("[move-books]", action="update"):
            Book.objects.filter(shelf=world["a1"]).update(shelf=world["b1"], price=1)
        with rec.step("[swap-names]", expected_rows=3, action="update"):
            Shelf.objects.filter(pk=world["a1"].pk).update(name="tmp")
            Shelf.objects.filter(pk=world["a2"].pk).update(name="one")
            Shelf.objects.filter(pk=world["a1"].pk).update(name="two")
        with rec.step("[retag]", action="m2m"):
            green = Tag.objects.create(label="green")
            for book in Book.objects.filter(shelf=world["b1"]):
                book.tags.add(green)
            world["blue"].books.clear()
        with rec.step("[drop-shelf]", action="delete"):
            # Django cascades to the shelf's books, their loans and their tag links.
            Shelf.objects.filter(pk=world["a2"].pk).delete()
        with rec.step("[unset-coauthor]", action="update"):
            Owner.objects.filter(pk=world["bob"].pk).update(name="robert")
            Book.objects.filter(coauthor=world["bob"]).update(coauthor=None)
    return rec


def undo(move_id: int, **policy: bool) -> ledger.ReplayReport:
    return ledger.revert(
        move_id,
        execute=True,
        policy=ledger.ReplayPolicy(**policy),
        reason="undo",
        operator="8",
    )
