"""The digest of a plan: what an operator reviewed in a dry run, checked again by ``--execute``.

A digest is ``<16 hex of the whole plan>-<4 hex per section>``. The whole part decides whether
the plan changed; the section parts name what changed (deployments, resources, jobs, ...)
without the reviewed plan itself. Who runs the move and why, and ``--execute``, are not part
of the plan: a dry run and its execution share the digest.
"""

from __future__ import annotations

from hashlib import sha256

import msgspec

from ami.move import errors
from ami.move.structs import MovePlan

# (section name, plan fields), in the order the digest lists them. Every field of MovePlan
# belongs to exactly one section (a test holds this).
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("request", ("request",)),
    ("projects", ("source", "target", "source_totals", "target_totals")),
    ("deployments", ("deployments", "totals", "retag", "foreign_rows")),
    ("resources", ("resources",)),
    ("collections", ("collections",)),
    ("jobs", ("jobs", "running_job_ids")),
    ("taxa", ("taxa_count", "taxa_to_link", "taxa_lists")),
    ("people", ("identifiers",)),
    ("settings", ("settings",)),
    ("ml", ("pipelines_to_clone", "services_to_link")),
)
# Request fields that say who runs the move and how, not what it does.
_NOT_PLANNED = ("execute", "reason", "operator", "allow_running_jobs")
_WHOLE = 16
_PART = 4


def _encode(value: object) -> bytes:
    return msgspec.json.encode(value, order="sorted")


def _section_bytes(plan: MovePlan, fields: tuple[str, ...]) -> bytes:
    values = {}
    for name in fields:
        value = msgspec.to_builtins(getattr(plan, name))
        if name == "request":
            value = {k: v for k, v in value.items() if k not in _NOT_PLANNED}
        values[name] = value
    return _encode(values)


def plan_digest(plan: MovePlan) -> str:
    """The digest printed by the dry run and accepted by ``--expect-plan``."""
    parts = [_section_bytes(plan, fields) for _, fields in SECTIONS]
    whole = sha256(b"\x00".join(parts)).hexdigest()[:_WHOLE]
    return whole + "-" + "".join(sha256(p).hexdigest()[:_PART] for p in parts)


_HEX = frozenset("0123456789abcdef")


def parse_digest(text: str) -> str:
    """``--expect-plan`` as a digest (case and surrounding spaces ignored), checked before the
    move takes any lock.

    Raises:
        InvalidRequest: ``text`` is not a plan digest.
    """
    digest = text.strip().lower()
    whole, _, parts = digest.partition("-")
    if (
        len(whole) != _WHOLE
        or len(parts) != _PART * len(SECTIONS)
        or not set(whole + parts) <= _HEX
    ):
        raise errors.InvalidRequest(
            f"--expect-plan {text.strip()!r} is not a plan digest: copy the 'Plan digest' line "
            "of the dry run you reviewed"
        )
    return digest


def changed_sections(expected: str, actual: str) -> list[str]:
    """The sections whose part differs between two digests (empty when they are equal).

    Raises:
        InvalidRequest: ``expected`` is not a plan digest.
    """
    expected = parse_digest(expected)
    if expected == actual:
        return []
    parts, a_parts = expected.partition("-")[2], actual.partition("-")[2]
    changed = [
        name
        for i, (name, _) in enumerate(SECTIONS)
        if parts[i * _PART : (i + 1) * _PART] != a_parts[i * _PART : (i + 1) * _PART]
    ]
    # Every section's part the same but the whole's: a change no 4-digit part shows (rare),
    # or a digest mistyped in its first part.
    return changed or ["the plan (no section's part differs: check the digest was copied whole)"]
