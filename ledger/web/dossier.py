"""A move's dossier for a ticket: one self-contained Markdown or HTML document of the move and
its revert (or, for a revert, the move it undoes), as ``show_move --format markdown|html``
writes it.

Each move is read by ``ledger.web.review`` and verified in full (every entry, the Merkle root,
the digest, the chain link, and the signature when a public key is given), so the dossier
says what was checked, when, and what was not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.template.loader import render_to_string

from ledger.web.formats import number, when
from ledger.web.review import MoveReview, move_review, show_value

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def dossier_reviews(
    move_id: int, public_key: Ed25519PublicKey | None = None, using: str = "default"
) -> list[MoveReview]:
    """The move and its counterpart (its revert, or the move a revert undoes), verified.

    Raises:
        MoveNotFound: no move has this id.
    """
    first = move_review(move_id, public_key=public_key, recompute=True, using=using)
    other = first.detail.reverted_by or first.detail.header.reverts_id
    if other is None:
        return [first]
    second = move_review(other, public_key=public_key, recompute=True, using=using)
    return [first, second] if first.detail.header.reverts_id is None else [second, first]


def title(reviews: list[MoveReview]) -> str:
    """``Move 12`` or ``Move 12 and its revert 13``."""
    first = reviews[0].detail.header
    if len(reviews) == 1:
        return f"{first.kind.capitalize()} {first.id}"
    return f"Move {first.id} and its revert {reviews[1].id}"


def signature_text(review: MoveReview) -> str:
    """The signature's status in words."""
    s = review.signature
    if not s.signed:
        return "unsigned (sealed with no signing key configured)"
    if s.valid is None:
        return f"signed by {s.signer}; not checked (pass --public-key)"
    if s.valid:
        return f"signed by {s.signer}; verifies with the given public key"
    return f"DOES NOT VERIFY: signer {s.signer}, given key {s.checked_with}"


def recomputed_text(review: MoveReview) -> str:
    """The result of recomputing the move, in words."""
    v = review.verified
    if v is None:
        return "not recomputed"
    if v.ok:
        return (
            f"intact: {number(v.entries_checked)} entries, the Merkle root, the digest and the "
            "chain link recomputed"
        )
    return "DOES NOT VERIFY: " + "; ".join(f.reason for f in v.failures)


def chain_text(review: MoveReview) -> str:
    """The chain link in words."""
    if review.previous_id is None:
        return "first move of the ledger" if review.chain_ok else "BROKEN: no move before it"
    state = "links to" if review.chain_ok else "BROKEN: does not match"
    return f"{state} the digest of move {review.previous_id}"


def _cell(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split()) or " "


def _table(headings: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*out, ""]


def _markdown_move(review: MoveReview) -> list[str]:
    h, d = review.detail.header, review.detail
    out = [f"## {h.kind.capitalize()} {h.id}", ""]
    out += _table(
        ["", ""],
        [
            ["operator (who)", h.operator],
            ["reason (why)", h.reason or "- (none given)"],
            ["command", h.command],
            ["started", when(h.started_at)],
            ["committed (sealed)", when(h.committed_at)],
            ["entries", number(h.entry_count)],
            ["reverts", f"move {h.reverts_id}" if h.reverts_id else "- (not a revert)"],
            ["reverted by", f"move {d.reverted_by}" if d.reverted_by else "- (not reverted)"],
        ],
    )
    out += ["### Arguments", ""]
    out += _table(
        ["argument", "value"], [[k, show_value(v)] for k, v in sorted(h.arguments.items())]
    )
    out += ["### Verification", ""]
    out += _table(
        ["", ""],
        [
            ["digest", d.digest],
            ["previous digest", h.prev_digest or "- (first move)"],
            ["chain link", chain_text(review)],
            ["recomputed", recomputed_text(review)],
            ["signature", signature_text(review)],
            ["entries root", h.entries_root],
            ["schema", h.schema_fingerprint],
        ],
    )
    if review.verified is not None:
        out += [f"- not checked: {item}" for item in review.verified.not_checked] + [""]
    out += ["### Steps", ""]
    out += _table(
        ["#", "label", "action", "expected", "captured"],
        [
            [s.seq, s.label, s.action, number(s.expected_rows), number(s.captured_rows)]
            for s in h.steps
        ],
    )
    outside = [f"- {w.op} {w.table}: {number(w.rows)} row(s)" for w in d.outside_steps]
    out += ["Writes outside steps:", "", *(outside or ["- none"]), ""]
    out += ["### Rows changed per table", ""]
    out += _table(
        ["table", "inserts", "updates", "deletes", "total"],
        [
            [t.table, number(t.inserts), number(t.updates), number(t.deletes), number(t.total)]
            for t in review.tables
        ],
    )
    out += ["### Sample changes, before and after", ""]
    for c in review.samples:
        keys = ", ".join(c.pks) + (", …" if c.rows > len(c.pks) else "")
        out += [
            f"#### {c.action} {c.table} — {c.step or '(outside steps)'} — "
            f"{number(c.rows)} row(s): {keys} (entry {c.entry_id})",
            "",
        ]
        out += _table(
            ["column", "before", "after"],
            [[col.column, _side(col.before), _side(col.after)] for col in c.columns],
        )
    return out


def _side(value: str | None) -> str:
    return "—" if value is None else value


def render_markdown(reviews: list[MoveReview], generated: datetime | None = None) -> str:
    """The dossier as Markdown (GitHub tables)."""
    generated = generated or datetime.now(UTC)
    out = [
        f"# Ledger dossier: {title(reviews)}",
        "",
        f"Written {when(generated)} by `manage.py show_move`; every entry, root, digest and "
        "chain link below was recomputed from the database at that time.",
        "",
    ]
    for review in reviews:
        out += _markdown_move(review)
    return "\n".join(out).rstrip() + "\n"


def render_html(reviews: list[MoveReview], generated: datetime | None = None) -> str:
    """The dossier as one HTML file: styles inline, no links outside it."""
    return render_to_string(
        "ledger/dossier.html",
        {
            "title": title(reviews),
            "generated": generated or datetime.now(UTC),
            "moves": [
                {
                    "review": r,
                    "h": r.detail.header,
                    "arguments": sorted(r.detail.header.arguments.items()),
                    "chain": chain_text(r),
                    "recomputed": recomputed_text(r),
                    "signature": signature_text(r),
                }
                for r in reviews
            ],
        },
    )
