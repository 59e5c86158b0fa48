"""Ledger tables ``ledger_move``, ``ledger_step``, ``ledger_change``; the ``ledger_entry`` view.

Every table is append-only: statement-level triggers (``ledger.protect``, installed by a
migration) refuse UPDATE and DELETE for every role, and TRUNCATE for every role but the
tables' owner, with no setting that switches them off. A move's header, its steps and its
changes are all inserted once, complete, when the recording is sealed. Ids are given out at
seal time, without gaps, so the tables have no sequences.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class StoredJSONField(models.JSONField):
    """A row's values as ``json``: the text stored as it was written, byte for byte.

    ``jsonb`` stores a parsed value and writes its text anew on every read, costing the server
    half of what a verification reads, and binding that text to the server's way of writing
    it. Drivers decode ``json`` themselves (psycopg2, psycopg 3), so a value read through the
    ORM may arrive decoded already.
    """

    def db_type(self, connection: Any) -> str:
        return "json"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class Move(models.Model):
    """One recorded unit of work: a move or the revert of one."""

    class Kind(models.TextChoices):
        MOVE = "move"
        REVERT = "revert"

    id = models.BigIntegerField(primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, help_text="move or revert")
    reverts = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reverted_by",
        help_text="The move this one undoes (a move is reverted at most once).",
    )
    command = models.CharField(max_length=200, help_text="The command that recorded the move.")
    arguments = models.JSONField(default=dict, help_text="The command's arguments, as given.")
    subjects = models.JSONField(
        null=True,
        blank=True,
        help_text="What the move concerns, in the domain's words (sealed in the header from "
        "version 3; NULL: none given). The ledger filters on it and never interprets it.",
    )
    reason = models.TextField(help_text="Why the move was made, in the operator's words.")
    operator = models.CharField(max_length=200, help_text="Who ran it (an id, never an e-mail).")
    started_at = models.DateTimeField()
    committed_at = models.DateTimeField(help_text="When the recording was sealed.")
    schema_fingerprint = models.CharField(
        max_length=80, help_text="sha256 of the applied migrations of the registered apps."
    )
    tables = models.JSONField(
        default=dict, help_text="Per captured table: primary key, column types, secret columns."
    )
    context_id = models.UUIDField(help_text="The pghistory context the move's writes carried.")
    entry_count = models.BigIntegerField()
    first_entry_id = models.BigIntegerField(null=True, blank=True)
    entries_root = models.CharField(max_length=64, help_text="Merkle root of the entries (hex).")
    # NULL, not "", marks an unsigned move (in the header, covered by the digest).
    signer = models.CharField(  # noqa: DJ001
        max_length=80,
        null=True,
        blank=True,
        help_text="Fingerprint of the key meant to sign the move; NULL: unsigned.",
    )
    digest = models.CharField(max_length=64, unique=True, help_text="Chain link (hex).")
    signature = models.CharField(  # noqa: DJ001
        max_length=128,
        null=True,
        blank=True,
        help_text="Ed25519 signature of the digest by the signer's key (hex).",
    )
    # NULL, not "", marks the first move of the chain: it has no predecessor.
    prev_digest = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        db_table = "ledger_move"
        ordering = ["id"]
        # ``subjects @> '{"key": value}'`` (list_moves --subject key=value) uses it.
        indexes = [GinIndex(fields=["subjects"], name="ledger_move_subjects")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class Step(models.Model):
    """A declared step of a move and its row counts."""

    id = models.BigIntegerField(primary_key=True)
    move = models.ForeignKey(Move, on_delete=models.PROTECT, related_name="steps")
    seq = models.IntegerField(help_text="Position of the step in its move, from 1.")
    label = models.CharField(max_length=200, help_text="Stable label, e.g. [clone-device].")
    action = models.CharField(max_length=200, blank=True, default="")
    expected_rows = models.BigIntegerField(
        null=True, blank=True, help_text="Row changes the step declared; NULL: not checked."
    )
    captured_rows = models.BigIntegerField(help_text="Row changes the triggers captured.")

    class Meta:
        db_table = "ledger_step"
        ordering = ["move_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["move", "seq"], name="ledger_step_seq")]

    def __str__(self) -> str:
        return f"{self.move_id}/{self.seq} {self.label}"


class Change(models.Model):
    """Physical storage: one row per group of rows that got the same change in one statement.

    ``id`` is the id of the group's first entry; its entries take ``id .. id + row_count - 1``
    in ``pks`` order. Updates keep the changed columns only, and rows of one statement whose
    changed columns went from the same values to the same values share one group.
    """

    id = models.BigIntegerField(primary_key=True)
    move = models.ForeignKey(Move, on_delete=models.PROTECT, related_name="changes")
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    table_name = models.CharField(max_length=63)
    op = models.CharField(max_length=1, help_text="I, U or D.")
    row_count = models.IntegerField()
    pks = ArrayField(models.TextField(), help_text="Primary keys, as text, in entry order.")
    before = StoredJSONField(null=True, blank=True)
    after = StoredJSONField(null=True, blank=True)
    hash = models.CharField(max_length=64, help_text="Locates tampering: sha256 of the leaves.")

    class Meta:
        db_table = "ledger_change"
        ordering = ["id"]
        indexes = [models.Index(fields=["move", "id"], name="ledger_change_move")]

    def __str__(self) -> str:
        return f"{self.op} {self.table_name} x{self.row_count}"


class Entry(models.Model):
    """One row change, read from the ``ledger_entry`` view (one row per pk of a change)."""

    id = models.BigIntegerField(primary_key=True)
    move = models.ForeignKey(Move, on_delete=models.DO_NOTHING, related_name="+")
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    table_name = models.CharField(max_length=63)
    op = models.CharField(max_length=1)
    row_pk = models.TextField()
    before = StoredJSONField(null=True, blank=True)
    after = StoredJSONField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "ledger_entry"
        ordering = ["id"]
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return f"{self.id} {self.op} {self.table_name}:{self.row_pk}"


class RowIndex(models.Model):
    """Which entry touched which row: the lookup behind ``row_history`` (``ledger.rowindex``).

    Derived from ``ledger_change`` after a move commits, append-only like the ledger.
    """

    entry_id = models.BigIntegerField(primary_key=True)
    table_name = models.CharField(max_length=63)
    row_pk = models.TextField()
    change = models.ForeignKey(Change, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "ledger_row_index"
        indexes = [models.Index(fields=["table_name", "row_pk"], name="ledger_row_index_row")]

    def __str__(self) -> str:
        return f"{self.table_name}:{self.row_pk} -> entry {self.entry_id}"


class RowIndexDone(models.Model):
    """A sealed move whose entries are in the row index."""

    move = models.OneToOneField(Move, primary_key=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "ledger_row_index_done"

    def __str__(self) -> str:
        return f"move {self.move_id} indexed"
