"""How a move checks itself when the ledger replays it backwards (``revert_move``).

The ledger restores rows; this module adds what only the domain knows: which rows created
after the move depend on the moved state (rows pointing at moved rows through any foreign
key, moved captures put into the target's collections, rows later moves rely on), how
``--carry-new-data`` takes them back, which columns are cached counts or bookkeeping, the
locks to take first and the checks that must hold afterwards. A revert of a revert is a move
the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection

import ledger
from ami.main.filters import default_filters
from ami.move.counts import COUNTED, DIRECT, INDIRECT_TABLES, deployment_counts
from ami.move.dependencies import later_move_dependencies, missing_after_revert
from ami.move.errors import MoveBusy
from ami.move.invariants import project_invariants
from ami.move.locks import claim_deployments, lock_projects_and_deployments, name_session
from ami.move.references import (
    Referencing,
    count_sql,
    load_keys,
    new_rows_where,
    referencing_tables,
)
from ami.move.sql import rows as _query
from ledger.errors import LedgerError
from ledger.queries import read_header
from ledger.replay import CheckOutcome, Conflict, ReplayHooks, ReplayPolicy, register_replay_hooks
from ledger.structs import MoveHeader

SAMPLE = 5

# Cached counts, recomputed after the replay: restored, never compared.
DERIVED = {
    "main_deployment": frozenset(
        {
            "events_count",
            "occurrences_count",
            "captures_count",
            "detections_count",
            "taxa_count",
            "first_capture_timestamp",
            "last_capture_timestamp",
            "data_source_total_files",
            "data_source_total_size",
        }
    ),
    # An event's start and end follow its captures' timestamps: recounted with its counts.
    "main_event": frozenset(
        {
            "captures_count",
            "detections_count",
            "occurrences_count",
            "calculated_fields_updated_at",
            "start",
            "end",
        }
    ),
    "main_sourceimage": frozenset({"detections_count"}),
}


def _bookkeeping() -> dict[str, frozenset[str]]:
    """Per table a move writes: the columns that are bookkeeping, not data, for the engine's
    column-level drift (a change to them alone is never drift): ``updated_at`` of every model
    that has one, and the cached counts (``DERIVED``, with ``calculated_fields_updated_at``)."""
    from django.apps import apps

    from ami.move.tracking import MOVE_TABLES

    out: dict[str, set[str]] = {table: set(columns) for table, columns in DERIVED.items()}
    for table, label, _secrets in MOVE_TABLES:
        if label.count(".") != 1:
            continue  # a many-to-many through table: no timestamps
        model = apps.get_model(label)
        if any(f.column == "updated_at" for f in model._meta.concrete_fields):
            out.setdefault(table, set()).add("updated_at")
    return {table: frozenset(columns) for table, columns in out.items()}


# Moved captures in collections of the project they leave, put there by someone else: not
# links the move wrote, nor links of collections the move created or reassigned.
_LINKS_OF_MOVED = """
SELECT count(*), (array_agg(ci.id ORDER BY ci.id))[1:%(n)s]
FROM main_sourceimagecollection_images ci
JOIN main_sourceimagecollection col ON col.id = ci.sourceimagecollection_id
JOIN main_sourceimage si ON si.id = ci.sourceimage_id
WHERE si.deployment_id = ANY(%(d)s) AND col.project_id = %(to)s
"""
_FOREIGN_LINKS = (
    _LINKS_OF_MOVED
    + """AND NOT EXISTS (SELECT 1 FROM pg_temp.ami_move_keys k
                WHERE k.table_name = 'main_sourceimagecollection_images' AND k.pk = ci.id::text)
AND NOT EXISTS (SELECT 1 FROM pg_temp.ami_move_keys k
                WHERE k.table_name = 'main_sourceimagecollection' AND k.pk = col.id::text)
"""
)
# The tables a move wrote.
_MOVE_TABLES = "SELECT DISTINCT table_name FROM ledger_change WHERE move_id = %(move)s"
_LEFT_BEHIND = """
SELECT '{table}', count(*) FROM {table} WHERE deployment_id = ANY(%(d)s) AND project_id = %(to)s
"""


@dataclass(frozen=True)
class Direction:
    """Which way a recorded move took the data: replaying it takes them back."""

    from_project: int
    to_project: int
    deployment_ids: tuple[int, ...]
    created_target: bool


def direction(header: MoveHeader) -> Direction:
    """The direction of a move, or of a revert (the reverted move's, reversed)."""
    args = header.arguments
    assert isinstance(args, dict)
    if header.command == "revert_move":
        reverted, _ = read_header(int(args["move_id"]))
        inner = direction(reverted)
        return Direction(
            from_project=inner.to_project,
            to_project=inner.from_project,
            deployment_ids=inner.deployment_ids,
            created_target=False,
        )
    return Direction(
        from_project=int(args["source_project"]),
        to_project=int(args["target_project"]),
        deployment_ids=tuple(int(d) for d in args["deployment_ids"]),
        created_target=bool(args.get("create_project")),
    )


def _recorded_at_move(move: MoveHeader) -> dict[str, Any] | None:
    """What ``move`` recorded of its rows' links when it ran (its arguments), for its
    revert; None for a revert (its own revert takes the rows to the links they had when it
    ran)."""
    args = move.arguments
    if move.command != "move_project_data" or not isinstance(args, dict):
        return None
    return args


class MoveReplayHooks(ReplayHooks):
    """Replay hooks for ``move_project_data`` moves and their reverts.

    - ``lock``: before the scans, the moved deployments are claimed and both projects and the
      deployments row-locked as the move does (``ami.move.locks``).
    - ``conflicts``: new data found by reference (``ami.move.references``), moved captures in
      the target's collections, and dependencies between moves. DECISION: a revert that would
      delete rows a later, unreverted move into the same project relies on (taxon links,
      memberships, role-group links, pipeline configs, service and taxa-list links, tags,
      role groups; ``ami.move.dependencies``) REFUSES, naming the later move(s) and the rows,
      and says to revert the later move first (then re-run it if still wanted). Keeping the
      rows instead would leave the revert inexact and the project with rows no ledger entry
      explains.
    - ``refresh``: the recount, then the recorded ``calculated_fields_updated_at`` put back
      where the counts end as recorded (exact round trips).
    - ``after_replay``: counts per moved deployment, nothing left behind, the project
      invariants (``ami.move.invariants``) and the links later moves need.
    - ``bookkeeping_columns``: per table, columns that never make drift on their own.
    """

    derived_columns = DERIVED

    def __init__(self) -> None:
        self._before: dict[int, dict[str, int]] = {}
        self._counted: tuple[str, ...] = COUNTED
        self._rec: ledger.Recording | None = None
        self._counted_under: tuple[object, ...] | None = None
        self._bookkeeping: dict[str, frozenset[str]] | None = None

    # A property: read from the models on first use, once the apps are loaded.
    @property
    def bookkeeping_columns(self) -> Mapping[str, frozenset[str]]:  # type: ignore[override]
        """Per table, columns that never make drift on their own (read by the engine's
        column-level drift): ``updated_at``, cached counts and their timestamp."""
        if self._bookkeeping is None:
            self._bookkeeping = _bookkeeping()
        return self._bookkeeping

    def describe(self, move: MoveHeader) -> dict[str, object]:
        way = direction(move)
        # The keys list_moves shows: a revert moves the data from the target back to the source.
        return {
            "source_project": way.to_project,
            "target_project": way.from_project,
            "deployment_ids": list(way.deployment_ids),
            "removes_created_project": way.to_project if way.created_target else None,
        }

    def _params(self, move: MoveHeader, way: Direction) -> dict[str, Any]:
        return {
            "d": list(way.deployment_ids),
            "to": way.to_project,
            "from": way.from_project,
            "move": move.id,
            "n": SAMPLE,
            "at": move.committed_at,
        }

    def _references(self, move: MoveHeader) -> list[tuple[Referencing, str, bool]]:
        """The tables referencing what the move moved, with the condition that makes a row of
        them new data (``ami.move.references``) and whether ``--carry-new-data`` takes such
        rows back: events, captures, occurrences and jobs on the moved deployments (or on
        none), not those on another station of the project. Loads the move's keys."""
        marks = move.arguments.get("watermarks") if isinstance(move.arguments, dict) else None
        found = []
        for ref in referencing_tables(load_keys(move.id)):
            where = new_rows_where(ref, marks if isinstance(marks, dict) else None)
            if where is None:
                continue
            if _carried(ref):
                found.append((ref, f"{where} AND {_ON_MOVED}", True))
                found.append((ref, f"{where} AND NOT {_ON_MOVED}", False))
            else:
                found.append((ref, where, not ref.has_project))
        return found

    def conflicts(self, move: MoveHeader, policy: ReplayPolicy) -> list[Conflict]:
        way = direction(move)
        params = self._params(move, way)
        found = []
        for ref, where, carryable in self._references(move):
            found += _new_data(
                count_sql(ref, where),
                params,
                ref.table,
                _new_data_message(ref, way, carryable),
                resolved_by="carry_new_data" if carryable else "",
            )
        if move.command == "move_project_data":
            # Rows this move created in the target that later moves into it rely on.
            found += later_move_dependencies(move.id, way.to_project)
        found += _new_data(
            _FOREIGN_LINKS,
            params,
            "main_sourceimagecollection_images",
            f"{{count}} moved capture(s) were put into collections of project {way.to_project} "
            "after the move: remove them from those collections first (the revert never edits "
            "collections it did not write)",
        )
        return found

    def before_replay(self, move: MoveHeader, policy: ReplayPolicy, rec: ledger.Recording) -> None:
        way = direction(move)
        # Detections, classifications and identifications (no project of their own) are
        # counted only where the move wrote their table: the replay writes no other.
        written = {row[0] for row in _query(_MOVE_TABLES, {"move": move.id})}
        self._counted = tuple(
            kind
            for kind in COUNTED
            if kind not in INDIRECT_TABLES or INDIRECT_TABLES[kind] in written
        )
        self._rec = rec
        # The filters the moved deployments were last counted under: their project's, now.
        self._counted_under = default_filters([way.to_project]).get(way.to_project)
        per_dep, _, _ = deployment_counts(
            list(way.deployment_ids), way.from_project, None, kinds=self._counted
        )
        self._before = per_dep
        if not policy.carry_new_data:
            return
        params = self._params(move, way)
        carried = [
            (ref, where)
            for ref, where, carryable in self._references(move)
            if carryable and ref.has_project
        ]
        expected = sum(_query(count_sql(ref, where), params)[0][0] for ref, where in carried)
        with (
            rec.step("[carry-new-data]", expected_rows=expected, action="update"),
            connection.cursor() as cursor,
        ):
            # Rows without a project of their own (identifications, detections) follow what
            # they reference: nothing to write for them.
            for ref, where in carried:
                cursor.execute(
                    f"UPDATE {ref.table} x SET project_id = %(from)s WHERE {where}", params
                )

    def refresh(self, move: MoveHeader, policy: ReplayPolicy, rec: ledger.Recording) -> None:
        from ami.main.cached_fields import refresh_cached_fields

        # Recount what the revert changes: the other deployments of a project whose default
        # filters the replay restores (the target of a move; the target again, not the source,
        # when a revert is replayed), and the moved deployments where the replay put back
        # counts the move recorded (stale if data changed since) or where they were counted
        # under filters other than those they end under. Not every deployment of both
        # projects: a created project's Default Station was never counted by the move.
        way = direction(move)
        ends_under = default_filters([way.from_project]).get(way.from_project)
        recount = _recounted_deployments(move, way, ends_under != self._counted_under)
        with rec.step("[refresh-cached-fields]", expected_rows=None, action="recount"):
            refresh_cached_fields(recount)
        # A recount stamps calculated_fields_updated_at with now(): where it ends with the
        # counts the move recorded as before-values, the stamp is put back too, so a round
        # trip is exact to the timestamp (whatever the replay left of the derived columns).
        with (
            rec.step("[restore-count-timestamps]", expected_rows=None, action="update"),
            connection.cursor() as cursor,
        ):
            cursor.execute(_RESTORE_STAMPS, {"move": move.id, "d": recount})

    def lock(self, move: MoveHeader, policy: ReplayPolicy) -> None:
        """Claim the moved deployments and lock both projects and the deployments as the move
        does (``ami.move.locks``), before the scans: a move or revert of the same deployments
        is refused at once, and writers of these rows wait for the revert. No table is
        locked: writers of every other row go on (the order is the move's, so a move and a
        revert never wait on each other)."""
        way = direction(move)
        name_session(f"ami revert_move {move.id}")
        try:
            claim_deployments(way.deployment_ids)
        except MoveBusy as exc:
            raise LedgerError(str(exc)) from exc
        # The revert writes the project the data go back to, and reads the other one's rows:
        # the move's modes, with the revert's "target" being the move's source.
        lock_projects_and_deployments(way.to_project, way.from_project, way.deployment_ids)

    def after_replay(self, move: MoveHeader, policy: ReplayPolicy) -> list[CheckOutcome]:
        way = direction(move)
        checks = [
            self._check_counts(way),
            self._check_left_behind(way),
            *project_invariants(
                way.from_project,
                way.to_project,
                list(way.deployment_ids),
                lambda tables: load_keys(move.id, tables),
                _recorded_at_move(move),
            ),
            self._check_foreign_links(move, way),
        ]
        if move.command == "move_project_data":
            # The rows a move created in its target; a re-applied move re-creates its own.
            checks.append(missing_after_revert(move.id, way.to_project))
        return checks

    def _check_foreign_links(self, move: MoveHeader, way: Direction) -> CheckOutcome:
        """The scan for moved captures put into collections of the project the data leave,
        again after the replay, once sealed: a link another session made while the revert ran
        (its scans had run) would be left across projects. The move's keys are loaded only
        where the links of the moved captures to that project's collections are any."""
        params = self._params(move, way)
        [(count, sample)] = _query(_LINKS_OF_MOVED, params)
        if count:
            load_keys(move.id, ["main_sourceimagecollection_images", "main_sourceimagecollection"])
            [(count, sample)] = _query(_FOREIGN_LINKS, params)
        return CheckOutcome(
            name="foreign-collection-links",
            ok=not count,
            detail=f"{count} moved capture(s) were put into collections of project "
            f"{way.to_project} while the revert ran (links {sample})"
            if count
            else f"no collection of project {way.to_project} holds a moved capture",
        )

    def _check_counts(self, way: Direction) -> CheckOutcome:
        after, _, _ = deployment_counts(
            list(way.deployment_ids), way.from_project, None, kinds=self._counted
        )
        changed = [
            f"deployment {dep} {kind} {self._before[dep][kind]} -> {after[dep][kind]}"
            for dep in way.deployment_ids
            for kind in self._counted
            if self._before.get(dep, {}).get(kind) != after[dep][kind]
        ]
        written = self._rec.written_tables() if self._rec is not None else {}
        changed += [
            f"{kind}: the revert wrote {written[table]} row(s) of {table}, which the move "
            "never wrote"
            for kind, table in INDIRECT_TABLES.items()
            if kind not in self._counted and written.get(table)
        ]
        return CheckOutcome(
            name="per-deployment-counts",
            ok=not changed,
            detail="; ".join(changed) or "rows per moved deployment unchanged by the revert",
        )

    def _check_left_behind(self, way: Direction) -> CheckOutcome:
        sql = " UNION ALL ".join(_LEFT_BEHIND.format(table=t) for _k, t in DIRECT)
        rows = [
            (t, n)
            for t, n in _query(sql, {"d": list(way.deployment_ids), "to": way.to_project})
            if n
        ]
        return CheckOutcome(
            name="nothing-left-behind",
            ok=not rows,
            detail=", ".join(f"{n} {t}" for t, n in rows)
            or f"no row of the moved deployments is left in project {way.to_project}",
        )


def _carried(ref: Referencing) -> bool:
    """Rows ``--carry-new-data`` takes back to the project the data return to: those with a
    deployment and a project of their own (events, captures, occurrences, jobs)."""
    return ref.has_project and ref.table in {table for _kind, table in DIRECT}


# A row on a moved deployment, or on none (a project-level job): carried with them.
_ON_MOVED = "(x.deployment_id IS NULL OR x.deployment_id = ANY(%(d)s))"


def _new_data_message(ref: Referencing, way: Direction, carryable: bool) -> str:
    through = f" (found through {ref.columns})"
    if _carried(ref) and not carryable:
        return (
            f"{{count}} row(s) of {ref.table} on other stations of project {way.to_project} "
            f"reference rows the move moved and came after it: point them elsewhere first "
            f"(the revert takes those rows back to project {way.from_project}){through}"
        )
    if _carried(ref):
        return (
            f"{{count}} row(s) of {ref.table} were added to the moved deployments in project "
            f"{way.to_project} after the move: pass --carry-new-data to take them back to "
            f"project {way.from_project} with the deployments{through}"
        )
    if ref.has_project:
        return (
            f"{{count}} row(s) of {ref.table} in project {way.to_project} reference rows the "
            f"move moved or cloned and came after it: point them elsewhere first (the revert "
            f"takes those rows back to project {way.from_project}){through}"
        )
    if ref.table == "main_identification":
        return (
            "{count} identification(s) of moved occurrences were made after the move: pass "
            f"--carry-new-data to let them follow their occurrences back to project "
            f"{way.from_project}{through}"
        )
    return (
        f"{{count}} row(s) of {ref.table} referencing moved rows were made after the move: "
        f"pass --carry-new-data to let them follow those rows back to project "
        f"{way.from_project}{through}"
    )


def _new_data(
    sql: str, params: dict[str, object], table: str, message: str, resolved_by: str = ""
) -> list[Conflict]:
    """A new-data conflict from a ``count, sample`` query, or none when it counts nothing."""
    [(count, sample)] = _query(sql, params)
    if not count:
        return []
    return [
        Conflict(
            kind="new-data",
            table=table,
            count=count,
            sample=tuple(map(str, sample)),
            message=message.format(count=count),
            resolved_by=resolved_by,
        )
    ]


# Deployments of the projects whose settings the move updated (not of a project it only
# created or deleted), plus the moved deployments where ``moved``.
_RECOUNTED = """
SELECT d.id FROM main_deployment d WHERE (d.id = ANY(%(d)s) AND %(moved)s) OR d.project_id IN (
    SELECT u.pk::bigint FROM ledger_change c CROSS JOIN LATERAL unnest(c.pks) AS u(pk)
    WHERE c.move_id = %(move)s AND c.table_name = 'main_project' AND c.op = 'U'
    UNION SELECT (coalesce(c.after, c.before) ->> 'project_id')::bigint FROM ledger_change c
    WHERE c.move_id = %(move)s AND c.table_name IN (
        'main_project_default_filters_include_taxa', 'main_project_default_filters_exclude_taxa'))
"""


# Events of the recounted deployments whose cached counts (and start, end) equal the
# before-values the replayed move recorded for them, with its recorded stamp: the earliest
# change of each event in the move (the state before the move touched it).
_RESTORE_STAMPS = """
UPDATE main_event e SET calculated_fields_updated_at = r.stamp
FROM (
    SELECT DISTINCT ON (u.pk) u.pk::bigint AS id, c.before,
        (c.before ->> 'calculated_fields_updated_at')::timestamptz AS stamp,
        json_populate_record(NULL::main_event, c.before) AS b
    FROM ledger_change c CROSS JOIN LATERAL unnest(c.pks) AS u(pk)
    WHERE c.move_id = %(move)s AND c.table_name = 'main_event' AND c.op = 'U'
    AND (c.before -> 'calculated_fields_updated_at') IS NOT NULL
    ORDER BY u.pk, c.id
) r
WHERE e.id = r.id AND e.deployment_id = ANY(%(d)s)
AND e.calculated_fields_updated_at IS DISTINCT FROM r.stamp
AND ((r.before -> 'captures_count') IS NULL OR e.captures_count = (r.b).captures_count)
AND ((r.before -> 'detections_count') IS NULL OR e.detections_count = (r.b).detections_count)
AND ((r.before -> 'occurrences_count') IS NULL OR e.occurrences_count = (r.b).occurrences_count)
AND ((r.before -> 'start') IS NULL OR e.start IS NOT DISTINCT FROM (r.b).start)
AND ((r.before -> 'end') IS NULL OR e."end" IS NOT DISTINCT FROM (r.b)."end")
"""


# Whether the move wrote a cached count of a moved deployment, of its events or of its
# captures: the replay then puts back counts taken before the move, which later work may have
# made stale. (Counts the move wrote on the target's other deployments are not theirs.)
_WROTE_COUNTS_OF = """
EXISTS (SELECT 1 FROM ledger_change c CROSS JOIN LATERAL unnest(c.pks) AS u(pk)
    JOIN {table} x ON x.id = u.pk::bigint
    WHERE c.move_id = %(move)s AND c.op = 'U' AND c.table_name = '{table}'
    AND c.before::jsonb ?| %({table})s AND x.{deployment} = ANY(%(d)s))
"""
_WROTE_COUNTS = "SELECT " + " OR ".join(
    _WROTE_COUNTS_OF.format(table=table, deployment=deployment)
    for table, deployment in (
        ("main_deployment", "id"),
        ("main_event", "deployment_id"),
        ("main_sourceimage", "deployment_id"),
    )
)


def _recounted_deployments(move: MoveHeader, way: Direction, filters_change: bool) -> list[int]:
    """The deployments the revert recounts: those of a project whose default filters the replay
    puts back, and the moved ones where the move wrote their counts or ``filters_change``."""
    counted = {t: sorted(c - {"calculated_fields_updated_at"}) for t, c in DERIVED.items()}
    [(wrote,)] = _query(_WROTE_COUNTS, {"move": move.id, "d": list(way.deployment_ids), **counted})
    moved = wrote or filters_change
    rows = _query(_RECOUNTED, {"d": list(way.deployment_ids), "move": move.id, "moved": moved})
    return [pk for (pk,) in rows]


def register_revert_hooks() -> None:
    """Teach the ledger how moves check themselves when replayed (idempotent). The ledger
    looks hooks up by the command a chain of reverts started from, so the move's command is
    the only one to register."""
    register_replay_hooks("move_project_data", MoveReplayHooks())
