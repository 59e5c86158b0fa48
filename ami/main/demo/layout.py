"""The small rows that give the demo its shape: users and roles, projects and their settings,
shared S3 sources, devices and sites, deployments and (empty) collections.

Created through the ORM so that Antenna's side effects (role groups, owner membership, project
defaults) happen as they would in the platform. Nothing here grows with the scale.
"""

from __future__ import annotations

import msgspec

from ami.main.demo.catalog import Catalog
from ami.main.demo.shapes import (
    PROJECT_MARKER,
    SHARED_NAME_PREFIX,
    USER_EMAIL_DOMAIN,
    DemoScale,
)
from ami.main.models import (
    Deployment,
    Device,
    Project,
    S3StorageSource,
    Site,
    SourceImageCollection,
)
from ami.users import roles
from ami.users.models import User


class Layout(msgspec.Struct, frozen=True, kw_only=True):
    """Ids of the demo's projects, deployments, users and collections.

    ``identifier_user_ids`` (source) and ``target_identifier_user_ids`` are ordered by how often
    each user identifies, the first most.
    """

    source_project_id: int
    target_project_id: int
    third_project_id: int
    moved_deployment_ids: tuple[int, ...]
    staying_deployment_ids: tuple[int, ...]
    target_deployment_ids: tuple[int, ...]
    third_deployment_ids: tuple[int, ...]
    user_ids: dict[str, int]
    identifier_user_ids: tuple[int, ...]
    target_identifier_user_ids: tuple[int, ...]
    collection_ids: dict[str, int]


# (key, primary role in the source, role in the target or None). Every member also holds
# BasicMember, as Antenna's membership API assigns it.
_PEOPLE: tuple[tuple[str, type[roles.Role] | None, type[roles.Role] | None], ...] = (
    ("source-owner", None, None),
    ("source-manager", roles.ProjectManager, None),
    ("identifier", roles.Identifier, None),
    ("researcher", roles.Researcher, None),
    ("ml-manager", roles.MLDataManager, None),
    ("basic", roles.BasicMember, None),
    ("shared-identifier", roles.Identifier, roles.Researcher),
    ("target-owner", None, None),
    ("target-identifier", None, roles.Identifier),
    ("third-owner", None, None),
)


# Who identifies source occurrences, most active first.
_SOURCE_IDENTIFIERS = (
    "identifier",
    "shared-identifier",
    "source-manager",
    "researcher",
    "source-owner",
)


def _create_users() -> dict[str, User]:
    return {
        key: User.objects.create_user(
            email=f"demo-{key}@{USER_EMAIL_DOMAIN}", password=None, name=f"Demo {key}"
        )
        for key, _, _ in _PEOPLE
    }


def _grant(user: User, project: Project, role: type[roles.Role]) -> None:
    roles.BasicMember.assign_user(user, project)
    if role is not roles.BasicMember:
        role.assign_user(user, project)


def _create_projects(users: dict[str, User], catalog: Catalog) -> tuple[Project, ...]:
    source = Project.objects.create(
        name="BCI (demo)",
        description=f"{PROJECT_MARKER} Source project: Barro Colorado Island light traps",
        owner=users["source-owner"],
        session_time_gap_seconds=5400,
        default_filters_score_threshold=0.3,
        default_processing_pipeline_id=catalog.regional_pipeline_id,
        create_defaults=False,
    )
    source.default_filters_include_taxa.add(catalog.order_id)
    source.default_filters_exclude_taxa.add(catalog.family_ids[-1])
    # The target exists already, with Antenna's defaults (default station, empty "All Images").
    target = Project.objects.create(
        name="Panama moths (demo)",
        description=f"{PROJECT_MARKER} Existing target project with its own data",
        owner=users["target-owner"],
        session_time_gap_seconds=10800,
        default_filters_score_threshold=0.6,
        default_processing_pipeline_id=catalog.global_pipeline_id,
    )
    target.default_filters_exclude_taxa.add(catalog.genus_ids[0])
    third = Project.objects.create(
        name="Gamboa (demo)",
        description=f"{PROJECT_MARKER} Third project, borrows some BCI captures",
        owner=users["third-owner"],
        create_defaults=False,
    )
    for key, source_role, target_role in _PEOPLE:
        if source_role is not None:
            _grant(users[key], source, source_role)
        if target_role is not None:
            _grant(users[key], target, target_role)
    return source, target, third


# (S3 source, device, site) of a station.
Resources = tuple[S3StorageSource, Device | None, Site]


def _deployments(
    project: Project, prefix: str, count: int, resources: list[Resources]
) -> list[Deployment]:
    return [
        Deployment.objects.create(
            name=f"{prefix} {i + 1}",
            project=project,
            data_source=s3,
            device=device,
            research_site=site,
            latitude=9.15 + i / 100,
            longitude=-79.85 - i / 100,
            data_source_subdir=f"{prefix.lower().replace(' ', '-')}-{i + 1}",
        )
        for i in range(count)
        for s3, device, site in [resources[i % len(resources)]]
    ]


def _create_stations(
    scale: DemoScale, source: Project, target: Project, third: Project
) -> dict[str, list[Deployment]]:
    """Deployments with the sharing a move must handle (see docs/demo-data.md)."""
    s3 = {
        "bci": S3StorageSource.objects.create(
            name="BCI bucket", project=source, bucket="bci-traps", prefix="bci/",
            access_key="demo-access-key", secret_key="demo-secret-key",
            public_base_url="https://bci.demo.invalid/",
        ),
        "bci-2": S3StorageSource.objects.create(
            name="BCI bucket 2", project=source, bucket="bci-traps-2",
            public_base_url="https://bci2.demo.invalid/",
        ),
        "public": S3StorageSource.objects.create(
            name=f"{SHARED_NAME_PREFIX}public bucket", project=None, bucket="open-traps",
            public_base_url="https://open.demo.invalid/",
        ),
        "target": S3StorageSource.objects.create(
            name="Panama bucket", project=target, bucket="panama-traps",
            public_base_url="https://panama.demo.invalid/",
        ),
    }  # fmt: skip
    device = {
        "bci": Device.objects.create(name="BCI trap", project=source),
        "target-owned": Device.objects.create(name="Panama trap", project=target),
        "public": Device.objects.create(name=f"{SHARED_NAME_PREFIX}loaner trap", project=None),
    }
    site = {
        "bci": Site.objects.create(name="BCI tower", project=source),
        "public": Site.objects.create(name=f"{SHARED_NAME_PREFIX}Gamboa field", project=None),
        "target": Site.objects.create(name="Panama canal", project=target),
    }
    # Moved 1 shares S3, device and site with staying 1; moved 2 uses a device the target owns.
    moved_res = [
        (s3["bci"], device["bci"], site["bci"]),
        (s3["bci-2"], device["target-owned"], site["bci"]),
    ]
    staying_res = [
        (s3["bci"], device["bci"], site["bci"]),
        (s3["public"], None, site["bci"]),
        (s3["public"], device["public"], site["public"]),
    ]
    target_res = [
        (s3["target"], device["target-owned"], site["target"]),
        (s3["public"], None, site["target"]),
    ]
    third_res = [(s3["public"], device["public"], site["public"])]
    return {
        "moved": _deployments(source, "BCI moved", len(scale.moved_images), moved_res),
        "staying": _deployments(source, "BCI staying", len(scale.staying_images), staying_res),
        "target": _deployments(target, "Panama", len(scale.target_images), target_res),
        "third": _deployments(third, "Gamboa", len(scale.third_images), third_res),
    }


def _create_collections(
    source: Project, target: Project, third: Project, stations: dict[str, list[Deployment]]
) -> dict[str, int]:
    """Empty collections; ``ami.main.demo.bulk`` fills their images set-based."""
    moved, staying = stations["moved"], stations["staying"]
    specs = {
        "mixed": (source, "All Images", "full", {}),
        "moved-exclusive": (
            source, "Moved station 1 sample", "random",
            {"deployment_ids": [moved[0].pk], "size": 100, "seed": 1},
        ),
        "staying-exclusive": (
            source, "Staying stations by interval", "interval",
            {"deployment_ids": [d.pk for d in staying], "minute_interval": 30},
        ),
        "starred": (source, "Starred Images", "starred", {}),
        "foreign": (
            third, "Borrowed BCI captures", "manual",
            {"deployment_ids": [moved[-1].pk], "research_site_ids": []},
        ),
        "target-own": (target, "Panama nightly sample", "random_from_each_event", {"size": 5}),
    }  # fmt: skip
    return {
        key: SourceImageCollection.objects.create(
            project=project, name=name, method=method, kwargs=kwargs
        ).pk
        for key, (project, name, method, kwargs) in specs.items()
    }


def create_layout(scale: DemoScale, catalog: Catalog) -> tuple[Layout, tuple[Project, ...]]:
    """Create users, projects, stations and collections.

    Returns:
        The layout's ids, and the (source, target, third) project instances for linking.
    """
    users = _create_users()
    source, target, third = _create_projects(users, catalog)
    stations = _create_stations(scale, source, target, third)
    layout = Layout(
        source_project_id=source.pk,
        target_project_id=target.pk,
        third_project_id=third.pk,
        moved_deployment_ids=tuple(d.pk for d in stations["moved"]),
        staying_deployment_ids=tuple(d.pk for d in stations["staying"]),
        target_deployment_ids=tuple(d.pk for d in stations["target"]),
        third_deployment_ids=tuple(d.pk for d in stations["third"]),
        user_ids={key: user.pk for key, user in users.items()},
        identifier_user_ids=tuple(users[key].pk for key in _SOURCE_IDENTIFIERS),
        target_identifier_user_ids=(users["target-identifier"].pk, users["shared-identifier"].pk),
        collection_ids=_create_collections(source, target, third, stations),
    )
    return layout, (source, target, third)
