"""Render plans and reports as text or JSON: the only module of ``ami.move`` that formats.

Text is a list of ``Line``s (style, text); the command writes them through ``self.style``.
``--execute``'s progress is ``PhaseLog`` (one timestamped line per phase, for a log) or, on a
terminal, ``PhaseDisplay`` (a rich line per phase and step with its elapsed time). Counts carry
thousands separators. Users appear by id only, storage credentials never (they are not even
loaded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, NamedTuple

import msgspec

from ami.move.counts import COUNTED
from ami.move.structs import MovePlan, MoveReport, ProjectTotals, StepResult
from ledger.progress import TerminalPhases
from ledger.progress import phase_line as ledger_phase_line

RULE = "=" * 70
KIND_NAMES = {"s3": "S3StorageSource", "device": "Device", "site": "Site"}


class Line(NamedTuple):
    style: str | None  # None, "HTTP_INFO" (heading), "WARNING", "ERROR", "SUCCESS"
    text: str


def _h(text: str) -> list[Line]:
    return [Line(None, ""), Line("HTTP_INFO", text)]


def header(plan_or_execute: bool) -> list[Line]:
    """The banner printed before anything else."""
    mode = "EXECUTE" if plan_or_execute else "DRY RUN"
    return [Line(None, RULE), Line("HTTP_INFO", f"  MOVE PROJECT DATA — {mode}"), Line(None, RULE)]


def _totals(t: ProjectTotals) -> str:
    return ", ".join(f"{k}={getattr(t, k):,}" for k in ProjectTotals.__struct_fields__)


def _counts(obj: object) -> str:
    return " ".join(f"{k}={getattr(obj, k):,}" for k in COUNTED)


def render_plan(plan: MovePlan) -> list[Line]:
    """The before-analysis: what the dry run prints, and what --execute prints first."""
    r = plan.request
    target = (
        f"{plan.target.name} (id={plan.target.id})"
        if plan.target.id
        else f"NEW — '{plan.target.name}'"
    )
    out = [
        Line(None, f"Source project: {plan.source.name} (id={plan.source.id})"),
        Line(None, f"Target project: {target}"),
        Line(None, f"Deployments to move: {list(r.deployment_ids)}"),
    ]
    if r.operator or r.reason:
        out.append(Line(None, f"Operator: {r.operator or '-'}; reason: {r.reason or '-'}"))
    out += _h("BEFORE — Per-deployment breakdown")
    for d in plan.deployments:
        out += [
            Line(None, f"  {d.name} (id={d.deployment_id})"),
            Line(None, f"    project: {plan.source.name} (id={d.project_id})"),
            Line(
                None,
                f"    device: {d.device_name} (id={d.device_id})"
                if d.device_id
                else "    device: None",
            ),
            Line(
                None,
                f"    site: {d.site_name} (id={d.site_id})" if d.site_id else "    site: None",
            ),
            Line(None, f"    S3 source: {d.data_source_id}"),
            Line(None, f"    {_counts(d)}"),
        ]
    out += _h("BEFORE — Aggregate totals")
    out.append(Line(None, f"  deployments={len(plan.deployments)} {_counts(plan.totals)}"))
    out.append(Line(None, f"  Source project totals: {_totals(plan.source_totals)}"))
    if plan.target.id:
        out.append(Line(None, f"  Target project totals: {_totals(plan.target_totals)}"))
    foreign = ", ".join(f"{k}={v:,}" for k, v in plan.foreign_rows.items() if v)
    if foreign:
        out.append(
            Line(
                "WARNING",
                f"  Rows on the moved deployments outside the source "
                f"project (NULL or another project), retagged too: {foreign}",
            )
        )
    out += _render_resources(plan) + _render_collections(plan) + _render_jobs(plan)
    out += _render_access(plan) + _render_settings(plan) + _render_ml(plan)
    out += _render_scope(plan)
    return out


def _render_resources(plan: MovePlan) -> list[Line]:
    out = _h("SHARED RESOURCE ANALYSIS")
    for res in plan.resources:
        owner = res.owner_project_id
        if res.action == "skip":
            why = (
                "no change needed (project=NULL)"
                if owner is None
                else f"no change needed (owned by project {owner})"
            )
        elif res.action == "clone":
            why = f"SHARED with {res.others_count:,} others {list(res.others_sample)} → will CLONE"
        else:
            why = "exclusive to moved deployments → will REASSIGN"
        out.append(
            Line(
                None,
                f"  {KIND_NAMES[res.kind]} '{res.name}' (id={res.resource_id}, "
                f"project={owner}): {why}",
            )
        )
    if not plan.resources:
        out.append(Line(None, "  No S3 source, device or site referenced"))
    return out


def _render_collections(plan: MovePlan) -> list[Line]:
    out = _h("COLLECTIONS")
    for c in plan.collections:
        if c.action == "reassign":
            text = f"EXCLUSIVE — all {c.moved_images:,} images moving → will REASSIGN"
        else:
            text = f"MIXED — {c.moved_images:,} moving, {c.other_images:,} staying → " + (
                "will SPLIT (clone to target, remove from source)"
                if c.action == "split"
                else "will REMOVE moved images from source only"
            )
        out.append(Line(None, f"  '{c.name}' (id={c.collection_id}): {text}"))
    if not plan.collections:
        out.append(Line(None, "  No source collection holds moved images"))
    out += _render_all_images(plan) + _render_labelstudio(plan)
    return out


def _render_all_images(plan: MovePlan) -> list[Line]:
    out = []
    for a in plan.all_images:
        what = {
            "merge": f"its {a.moved_images} moved image(s) will MERGE into the target's own "
            f"'All Images' (id={a.target_collection_id}); no second copy",
            "rename": f"the target has its own (id={a.target_collection_id}): it will arrive "
            f"RENAMED '{a.new_name}'",
            "adopt": "it will be the new project's 'All Images' (no empty one is created)",
        }[a.action]
        out.append(Line(None, f"  'All Images' (id={a.source_collection_id}): {what}"))
    return out


def _render_labelstudio(plan: MovePlan) -> list[Line]:
    out = []
    for p in plan.labelstudio_configs:
        out.append(
            Line(
                None,
                f"  Label Studio config id={p.config_id} on collection id={p.collection_id}: "
                f"{p.action.upper()} ({p.note})",
            )
        )
    return out


def _render_jobs(plan: MovePlan) -> list[Line]:
    out = _h("JOBS")
    out.append(
        Line(None, f"  {plan.totals.jobs:,} job(s) on the moved deployments move with them")
    )
    for j in plan.jobs:
        changes = [
            f"{name} → {'target copy' if action == 'clone' else 'NULL'}"
            for name, action in (
                ("collection", j.collection_action),
                ("image", j.image_action),
                ("export", j.export_action),
            )
            if action != "keep"
        ]
        out.append(
            Line(
                None,
                f"  Job id={j.job_id} ({j.note}): will {j.action.upper()}"
                + (f"; {', '.join(changes)}" if changes else "")
                + (f" [collection id={j.collection_id}]" if j.collection_id else ""),
            )
        )
    if plan.running_job_ids:
        out.append(
            Line(
                "WARNING",
                f"  Running job(s) {list(plan.running_job_ids)}: --execute "
                "refuses unless --allow-running-jobs",
            )
        )
    return out


def _render_access(plan: MovePlan) -> list[Line]:
    out = _h("TAXA")
    out.append(Line(None, f"  {plan.taxa_count:,} distinct taxa; {plan.taxa_to_link:,} to link"))
    for t in plan.tags:
        how = (
            f"the target's tag of that name (id={t.target_tag_id}) is reused"
            if t.target_tag_id
            else "will be created on the target"
        )
        out.append(
            Line(
                None,
                f"  Tag '{t.name}' (id={t.tag_id}) on {t.taxa} moved taxa: {how}; "
                f"{t.links_to_add} taxon link(s) to add",
            )
        )
    out += _h("ROLES AND PERMISSIONS")
    if plan.target.id is None:
        out.append(
            Line(
                None,
                "  The new project gets Antenna's five role groups with their model and object "
                "permissions (6, 8, 9, 20, 54), the owner as ProjectManager, and view_project "
                "for every other user",
            )
        )
    elif plan.role_grants.total:
        g = plan.role_grants
        out.append(
            Line(
                None,
                f"  Target role groups incomplete: will add {g.groups} group(s), "
                f"{g.group_permissions} group permission(s), {g.object_permissions} object "
                f"permission(s), {g.permissions} permission row(s)",
            )
        )
    else:
        out.append(Line(None, "  Target role groups hold Antenna's permissions already"))
    out += _h("IDENTIFIERS AND MEMBERS")
    for p in plan.identifiers:
        origin = "source project role" if p.source_role else "default (not a source member)"
        what = (
            f"→ {p.role} on the target"
            if p.role
            else f"already a target member ({', '.join(p.target_roles_before) or 'no role'})"
            ", role unchanged"
        )
        kind = "identifier" if p.is_identifier else "member"
        out.append(
            Line(None, f"  User id={p.user_id} ({kind}): {p.source_role or '-'} ({origin}) {what}")
        )
    if not plan.identifiers:
        out.append(Line(None, "  No identifier users"))
    out += _h("TAXA LISTS LINKED TO THE SOURCE")
    if not plan.taxa_lists:
        out.append(Line(None, "  (none)"))
    for tl in plan.taxa_lists:
        action = "already linked" if tl.linked_to_target else "will link to target"
        out.append(
            Line(
                None,
                f"  '{tl.name}' (id={tl.taxalist_id}): {tl.taxa_count:,} taxa, shared "
                f"with {tl.projects_count} project(s) → {action}",
            )
        )
    return out


def _render_settings(plan: MovePlan) -> list[Line]:
    s = plan.settings
    out = _h("SOURCE DEFAULT SETTINGS")
    out += [
        Line(None, f"  Score threshold: {s.score_threshold}"),
        Line(
            None,
            f"  Session gap: {s.session_time_gap_seconds}s; default pipeline: "
            f"{s.default_pipeline_id}",
        ),
        Line(None, f"  Include taxa: {', '.join(s.include_names) or '(none)'}"),
        Line(None, f"  Exclude taxa: {', '.join(s.exclude_names) or '(none)'}"),
    ]
    if s.action == "keep":
        out.append(Line(None, "  → Target keeps its own settings (--keep-target-settings)"))
    else:
        out.append(
            Line(
                None,
                "  → Will copy default filter config to target project (replacing the target's)",
            )
        )
        if plan.target.id:
            out.append(
                Line(
                    None,
                    f"    target now: threshold={s.target_score_threshold}, "
                    f"gap={s.target_session_time_gap_seconds}s, pipeline="
                    f"{s.target_default_pipeline_id}, include="
                    f"{len(s.target_include_taxa)}, exclude={len(s.target_exclude_taxa)}",
                )
            )
    return out


def _render_ml(plan: MovePlan) -> list[Line]:
    out = _h("PIPELINES AND PROCESSING SERVICES")
    if not plan.request.clone_pipelines:
        out.append(Line(None, "  Pipeline configs: not cloned (--no-clone-pipelines)"))
    else:
        out.append(Line(None, f"  Pipeline configs to clone: {list(plan.pipelines_to_clone)}"))
    out.append(Line(None, f"  Processing services to link: {list(plan.services_to_link)}"))
    if plan.target.id is None:
        adopted = any(a.action == "adopt" for a in plan.all_images)
        out.append(
            Line(
                None,
                "  The new project gets Antenna's defaults: Default Device, "
                "Default Site, 'Default Station'"
                + (
                    " (its 'All Images' is the source's)"
                    if adopted
                    else ", an empty 'All Images' collection"
                ),
            )
        )
    return out


def _render_scope(plan: MovePlan) -> list[Line]:
    t = plan.totals
    if not t.detections:
        return [
            Line(None, ""),
            Line(
                None,
                "This is a lightweight transfer (unprocessed image "
                f"data): {t.source_images:,} source images, {t.events:,} events.",
            ),
        ]
    out = [
        Line(None, ""),
        Line("WARNING", "SCOPE WARNING — This is a significant data transfer:"),
        Line(None, f"  {t.source_images:,} source images"),
        Line(None, f"  {t.detections:,} detections (ML predictions)"),
    ]
    if t.classifications:
        out.append(Line(None, f"  {t.classifications:,} classifications"))
    if t.identifications:
        out.append(Line(None, f"  {t.identifications:,} identifications (human reviews)"))
    out += [
        Line(None, f"  {t.occurrences:,} occurrences"),
        Line(None, f"  {t.jobs:,} job records"),
        Line(None, f"  {plan.taxa_count:,} taxa references"),
    ]
    if plan.identifiers:
        out.append(Line(None, f"  {len(plan.identifiers)} identifier user(s)"))
    out.append(
        Line(
            None,
            "All of this data will be moved to the target project. The source "
            "project will no longer contain this data.",
        )
    )
    return out


def dry_run_done(digest: str) -> list[Line]:
    return [
        Line(None, ""),
        Line(None, f"Plan digest: {digest}"),
        Line("WARNING", "DRY RUN COMPLETE — no changes made. Re-run with --execute to proceed."),
        Line(
            None,
            f'To carry out exactly this plan: --execute --expect-plan {digest} --reason "..."',
        ),
    ]


def render_step(
    step: StepResult, seconds: float | None = None, statements: int | None = None
) -> Line:
    """A step's result; with ``seconds`` (``-v 2``) its time and statement count."""
    expected = "" if step.expected_rows is None else f"/{step.expected_rows:,}"
    timing = "" if seconds is None else f" {seconds:.2f} s, {statements or 0:,} statement(s)"
    what = f"{step.label} {step.detail}" if step.detail else step.label
    return Line(None, f"{what} (rows={step.rows:,}{expected}){timing}")


def render_checks(report: MoveReport) -> list[Line]:
    failed = [m for c in report.checks if not c.ok for m in c.messages]
    if not failed:
        return [*_h("VALIDATION"), Line("SUCCESS", "ALL VALIDATION CHECKS PASSED")]
    return [
        *_h("VALIDATION"),
        Line("ERROR", "VALIDATION FAILED — ROLLING BACK"),
        *(Line("ERROR", f"✗ {m}") for m in failed),
    ]


def render_report(report: MoveReport) -> list[Line]:
    """What --execute prints after the steps."""
    out = render_checks(report)
    out += _h("UPDATING CACHED FIELDS")
    out.append(
        Line(
            None,
            f"  Recounted {len(report.cached_deployment_ids):,} deployment(s) whose filtered "
            "counts the move changed, their events and images, inside the transaction",
        )
    )
    plan = report.plan
    out += _h("POST-MOVE SUMMARY")
    if report.source_after:
        diffs = ", ".join(
            f"{k}={getattr(report.source_after, k):,} "
            f"({getattr(report.source_after, k) - getattr(plan.source_totals, k):+,d})"
            for k in ProjectTotals.__struct_fields__
        )
        out.append(Line(None, f"  Source (id={plan.source.id}): {diffs}"))
    if report.target_after:
        out.append(
            Line(None, f"  Target (id={report.target_project_id}): {_totals(report.target_after)}")
        )
    out += _render_notes(report)
    out += [Line(None, ""), Line("SUCCESS", "MOVE COMPLETE")]
    return out


def _render_notes(report: MoveReport) -> list[Line]:
    plan = report.plan
    out = _h("OPERATOR NOTES")
    out.append(
        Line(
            None,
            "  1. Cached counts were recomputed in the move's transaction; UI "
            "caches may still show old counts briefly.",
        )
    )
    if report.post_save_deployment_ids:
        out.append(
            Line(
                None,
                f"  2. post_save sent for deployments "
                f"{list(report.post_save_deployment_ids)} (--fire-post-save).",
            )
        )
    else:
        out.append(
            Line(
                None,
                "  2. Bulk updates sent no post_save signals; pass "
                "--fire-post-save to send them for the moved deployments.",
            )
        )
    detached = sum(1 for j in plan.jobs if j.export_action == "null")
    out.append(
        Line(
            None,
            f"  3. DataExport residue: {detached} moved job(s) detached from an "
            "export that stays in the source"
            if detached
            else "  3. DataExport residue: none",
        )
    )
    out.append(
        Line(
            None,
            "  4. The source keeps the originals of cloned S3 sources, devices "
            "and sites, its TaxaLists, and its taxa and filter-taxa links.",
        )
    )
    out.append(
        Line(
            None,
            "  5. Antenna caches query results (django-cachalot): until its cache is cleared "
            "(`python manage.py invalidate_cachalot` in Antenna, or a flush of its Redis "
            "cache), its web app may still show the moved stations in the source.",
        )
    )
    if report.move_id is not None:
        out.append(Line(None, f"  Ledger move id: {report.move_id}; digest: {report.digest}"))
    return out


def to_json(report: MoveReport) -> str:
    """One JSON document: plan, counts, steps, checks, and the ledger ids after --execute."""
    return msgspec.json.encode(report, order="sorted").decode()


def failure_json(error: str, report: MoveReport | None = None) -> str:
    """The one JSON document of a refused or rolled-back move: ``ok`` false and the error,
    with the report of the attempt when checks failed (``executed`` is false: nothing was
    committed)."""
    document: dict[str, object] = {"ok": False, "executed": False, "error": error}
    if report is not None:
        document["report"] = msgspec.structs.replace(report, executed=False, ok=False)
    return msgspec.json.encode(document, order="sorted").decode()


def move_done(report: MoveReport) -> Line:
    """All ``-v 0`` prints, once committed: the move id and digest the operator keeps."""
    return Line(None, f"move {report.move_id} digest {report.digest}")


def phase_line(name: str, at: datetime, elapsed: float) -> Line:
    """One phase of ``--execute`` as a log line: UTC time, seconds since the start, name."""
    return Line(None, ledger_phase_line(name, at, elapsed))


class PhaseLog:
    """``--execute``'s progress as one timestamped line per phase (for a log or a pipe).

    Args:
        write: where lines go (the command's stdout or stderr).
        statements: the number of SQL statements run so far (the command counts them).
        detail: ``-v 2``: each step's line adds its time and statement count.
    """

    def __init__(
        self,
        write: Callable[[Line], None],
        statements: Callable[[], int] = lambda: 0,
        detail: bool = False,
    ) -> None:
        self.write, self.statements, self.detail = write, statements, detail
        self.started = self.phase_started = time.monotonic()
        self.phase_statements = 0

    def __enter__(self) -> PhaseLog:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _begin(self, name: str) -> None:
        self.phase_started, self.phase_statements = time.monotonic(), self.statements()

    def phase(self, name: str) -> None:
        self._begin(name)
        self.write(phase_line(name, datetime.now(UTC), self.phase_started - self.started))

    def step_line(self, step: StepResult) -> Line:
        if not self.detail:
            return render_step(step)
        seconds = time.monotonic() - self.phase_started
        return render_step(step, seconds, self.statements() - self.phase_statements)

    def step(self, step: StepResult) -> None:
        self.write(self.step_line(step))

    def lines(self, lines: list[Line]) -> None:
        for line in lines:
            self.write(line)


RICH_STYLES = {"HTTP_INFO": "bold", "WARNING": "yellow", "ERROR": "bold red", "SUCCESS": "green"}


class PhaseDisplay(PhaseLog):
    """``--execute``'s progress on a terminal: a rich line per phase and per step, with a
    spinner while it runs and its elapsed time; other lines print above it."""

    def __init__(
        self, file: IO[str], statements: Callable[[], int] = lambda: 0, detail: bool = False
    ) -> None:
        super().__init__(lambda line: None, statements, detail)
        self.display = TerminalPhases(file)

    def __enter__(self) -> PhaseDisplay:
        self.display.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.display.__exit__(*exc)

    def phase(self, name: str) -> None:
        self._begin(name)
        self.display.phase(name)

    def step(self, step: StepResult) -> None:
        self.display.describe(self.step_line(step).text)

    def lines(self, lines: list[Line]) -> None:
        for line in lines:
            self.display.print(line.text, RICH_STYLES.get(line.style or ""))
