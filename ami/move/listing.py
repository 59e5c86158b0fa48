"""How ``list_moves`` finds a move's projects: the move's subjects, and ``--project`` as a
filter over them (the ledger knows neither)."""

from __future__ import annotations

import ledger

# The subject keys a move (and its revert, which records the same subjects) is sealed with.
SOURCE, TARGET, DEPLOYMENTS = "source_project", "target_project", "deployment_ids"


def move_subjects(source: int, target: int, deployment_ids: tuple[int, ...]) -> dict[str, object]:
    """What a move concerns, as the ledger stores, indexes and filters it."""
    return {SOURCE: source, TARGET: target, DEPLOYMENTS: sorted(deployment_ids)}


def project_id(value: str) -> int:
    """``--project`` as the subjects hold it (a JSON number: "07" matches 7).

    Raises:
        ValueError: not a positive number.
    """
    if not value.strip().isdecimal() or int(value) < 1:
        raise ValueError(f"--project {value!r} is not a project id: pass a number, e.g. 7")
    return int(value)


def register_list_filters() -> None:
    """``list_moves --project N``: moves whose source or target is project N. Idempotent."""
    ledger.register_list_filter(
        "project",
        keys=(SOURCE, TARGET),
        help="Only moves whose source or target is this project id.",
        parse=project_id,
    )
