"""msgspec Structs carried between plan, steps, checks and report.

They hold ids, counts and labels, never ORM instances, and are frozen: a plan is data.
Users appear by id only.
"""

from __future__ import annotations

import msgspec


class MoveRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the operator asked for (the command's flags, parsed)."""

    source_project_id: int
    deployment_ids: tuple[int, ...]
    target_project_id: int | None = None
    create_project: str | None = None
    clone_pipelines: bool = True
    clone_collections: bool = True
    execute: bool = False
    fire_post_save: bool = False
    preserve_roles: bool = False
    keep_target_settings: bool = False
    allow_running_jobs: bool = False
    reason: str = ""
    operator: str = ""


class ProjectRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int | None
    name: str
    owner_id: int | None = None


class ProjectTotals(msgspec.Struct, frozen=True, kw_only=True):
    """Rows of a project by ``project_id`` (what conservation compares)."""

    deployments: int = 0
    events: int = 0
    source_images: int = 0
    occurrences: int = 0
    jobs: int = 0


class DeploymentCounts(msgspec.Struct, frozen=True, kw_only=True):
    """One moved deployment, its shared resources and its seven row counts."""

    deployment_id: int
    name: str
    project_id: int | None
    data_source_id: int | None
    device_id: int | None
    device_name: str | None
    site_id: int | None
    site_name: str | None
    events: int = 0
    source_images: int = 0
    occurrences: int = 0
    detections: int = 0
    classifications: int = 0
    identifications: int = 0
    jobs: int = 0


class ResourceDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What happens to one S3 source, device or site used by a moved deployment."""

    kind: str  # "s3" | "device" | "site"
    resource_id: int
    name: str
    owner_project_id: int | None
    action: str  # "clone" | "reassign" | "skip"
    others_count: int
    others_sample: tuple[str, ...]


class CollectionDecision(msgspec.Struct, frozen=True, kw_only=True):
    """A source collection holding moved images."""

    collection_id: int
    name: str
    method: str
    moved_images: int
    other_images: int
    action: str  # "reassign" | "split" | "remove"


class JobDecision(msgspec.Struct, frozen=True, kw_only=True):
    """A job the move must do something about beyond retagging its project.

    ``*_action`` is "keep", "clone" (point at the split collection's target copy) or "null".
    """

    job_id: int
    deployment_id: int | None
    status: str
    action: str  # "move" | "stay"
    collection_id: int | None
    collection_action: str
    image_action: str
    export_action: str
    note: str


class IdentifierPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A user the move gives access to the target (an identifier, or a copied member)."""

    user_id: int
    is_identifier: bool
    is_source_member: bool
    source_role: str | None
    target_roles_before: tuple[str, ...]
    role: str | None  # primary role assigned on the target; None: left unchanged
    add_membership: bool
    groups_to_add: tuple[str, ...]


class SettingsPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Default settings: the source's values and the target's before the move."""

    action: str  # "replace" | "keep"
    score_threshold: float
    session_time_gap_seconds: int
    default_pipeline_id: int | None
    include_taxa: tuple[int, ...]
    exclude_taxa: tuple[int, ...]
    include_names: tuple[str, ...]
    exclude_names: tuple[str, ...]
    target_score_threshold: float | None
    target_session_time_gap_seconds: int | None
    target_default_pipeline_id: int | None
    target_include_taxa: tuple[int, ...]
    target_exclude_taxa: tuple[int, ...]


class TaxaListPlan(msgspec.Struct, frozen=True, kw_only=True):
    taxalist_id: int
    name: str
    taxa_count: int
    projects_count: int
    linked_to_target: bool


class RoleGrantsPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Rows ``[role-groups]`` adds so the target's five role groups hold Antenna's permissions
    (all zero for a created target: its creation grants them)."""

    permissions: int = 0
    groups: int = 0
    group_permissions: int = 0
    object_permissions: int = 0

    @property
    def total(self) -> int:
        return self.permissions + self.groups + self.group_permissions + self.object_permissions


class TagPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A source project's tag carried by moved taxa: copied to the target by name."""

    tag_id: int
    name: str
    target_tag_id: int | None  # the target's tag of the same name, reused; None: created
    taxa: int  # moved taxa carrying the tag
    links_to_add: int  # of those, taxa not yet carrying the target's tag


class AllImagesPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A source "All Images" collection whose moved images would give the target a second one.

    ``action``: "merge" (a split: the moved images join the target's own "All Images"),
    "rename" (reassigned whole to a target that has its own: it arrives as ``new_name``) or
    "adopt" (a created target: it becomes the target's "All Images", no empty one is made).
    """

    source_collection_id: int
    collection_action: str  # the collection decision: "split" | "reassign"
    action: str
    target_collection_id: int | None
    moved_images: int
    new_name: str | None = None


class LabelStudioPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A Label Studio config whose task collection holds moved images.

    ``action``: "clone" (a copy for the target, on the split collection's target copy),
    "follow" (its collection moves whole, it keeps pointing at it) or "keep" (it stays on the
    source's collection).
    """

    config_id: int
    collection_id: int
    action: str
    note: str


class MovePlan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the move will do, computed read-only from the database."""

    request: MoveRequest
    source: ProjectRef
    target: ProjectRef
    deployments: tuple[DeploymentCounts, ...]
    totals: DeploymentCounts
    retag: dict[str, int]  # rows per table whose project_id the move changes
    foreign_rows: dict[str, int]  # rows on moved deployments not in the source project
    source_totals: ProjectTotals
    target_totals: ProjectTotals
    resources: tuple[ResourceDecision, ...]
    collections: tuple[CollectionDecision, ...]
    jobs: tuple[JobDecision, ...]
    running_job_ids: tuple[int, ...]
    taxa_count: int
    taxa_to_link: int
    identifiers: tuple[IdentifierPlan, ...]
    settings: SettingsPlan
    taxa_lists: tuple[TaxaListPlan, ...]
    pipelines_to_clone: tuple[int, ...]
    services_to_link: tuple[int, ...]
    role_grants: RoleGrantsPlan = msgspec.field(default_factory=RoleGrantsPlan)
    tags: tuple[TagPlan, ...] = ()
    all_images: tuple[AllImagesPlan, ...] = ()
    labelstudio_configs: tuple[LabelStudioPlan, ...] = ()

    @property
    def project_level_jobs_moved(self) -> list[int]:
        """The project-level jobs (no deployment) the move takes with it."""
        return [j.job_id for j in self.jobs if j.deployment_id is None and j.action == "move"]


class StepResult(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    action: str
    rows: int
    expected_rows: int | None
    detail: str = ""
    created: dict[str, tuple[int, ...]] = {}
    touched: dict[str, tuple[int, ...]] = {}
    # Rows copied for the target, by kind: (source id, the copy's id) pairs.
    clones: dict[str, tuple[tuple[int, int], ...]] = {}


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ok: bool
    messages: tuple[str, ...] = ()


class MoveReport(msgspec.Struct, frozen=True, kw_only=True):
    """The result of ``apply_plan`` (or the plan alone, for a dry run)."""

    plan: MovePlan
    executed: bool
    ok: bool
    target_project_id: int | None = None
    steps: tuple[StepResult, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    source_after: ProjectTotals | None = None
    target_before: ProjectTotals | None = None
    target_after: ProjectTotals | None = None
    cached_deployment_ids: tuple[int, ...] = ()
    post_save_deployment_ids: tuple[int, ...] = ()
    plan_digest: str | None = None
    move_id: int | str | None = None
    digest: str | None = None
