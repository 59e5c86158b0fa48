"""Property: a move replayed backwards restores every registered table, whatever its shape.

Hypothesis draws a plain description of a dataset (``datasets()``); each example builds it with
the builders and the ORM inside a savepoint of the test's transaction and rolls it back at the
end, so every example starts from the same empty database. Laws:

(a) dump before the move == dump after move + revert;
(b) dump after the move == dump after move + revert + revert of the revert.
"""

from __future__ import annotations

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ami.exports.models import DataExport
from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import (
    Device,
    Identification,
    Project,
    S3StorageSource,
    Site,
    Taxon,
    UserProjectMembership,
)
from ami.users import roles as role_classes
from ledger.models import Move
from tests.ami.move.commands import dump
from tests.ami.move.properties import examples
from tests.builders import (
    add_deployment,
    make_collection,
    make_job,
    make_pipeline,
    make_pipeline_config,
    make_processing_service,
    make_project,
    make_taxa_list,
    make_user,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ROLE_NAMES = ("none", "BasicMember", "Researcher", "Identifier", "MLDataManager", "ProjectManager")
METHODS = ("full", "random", "manual", "starred", "interval", "common_combined")
# Per deployment and resource kind: an index into the pool built by ``_resources``.
RESOURCE_CHOICES = ("source-a", "source-b", "third", "public", "none")
FLAGS = (
    "--no-clone-collections",
    "--no-clone-pipelines",
    "--keep-target-settings",
    "--preserve-roles",
)


class _Rollback(Exception):
    """Ends an example: rolls its savepoint back so the next one starts clean."""


@st.composite
def datasets(draw: st.DrawFn) -> dict:
    """A plain description of a source project, its neighbours and a move request."""
    n_deps = draw(st.integers(1, 3))
    deps = [
        {
            "images": draw(st.integers(0, 6)),
            "occurrences": draw(st.booleans()),
            "identifier": draw(st.sampled_from((*ROLE_NAMES, "absent"))),
            "s3": draw(st.sampled_from(RESOURCE_CHOICES)),
            "device": draw(st.sampled_from(RESOURCE_CHOICES)),
            "site": draw(st.sampled_from(RESOURCE_CHOICES)),
            "job": draw(st.booleans()),
        }
        for _ in range(n_deps)
    ]
    moved = draw(st.lists(st.integers(0, n_deps - 1), min_size=1, max_size=n_deps, unique=True))
    n_images = sum(d["images"] for d in deps)
    image_subsets = st.lists(st.integers(0, max(n_images - 1, 0)), unique=True, max_size=n_images)
    collections = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "method": st.sampled_from(METHODS),
                    "kwargs": st.sampled_from([{}, {"size": 3}, {"minute_interval": 10}]),
                    "images": image_subsets if n_images else st.just([]),
                }
            ),
            max_size=3,
        )
    )
    n_coll = len(collections)
    jobs = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "collection": st.none() | st.integers(0, max(n_coll - 1, 0)),
                    "export": st.booleans(),
                    "image": st.none() | st.integers(0, max(n_images - 1, 0)),
                }
            ),
            max_size=3,
        )
    )
    create = draw(st.booleans())
    flags = draw(st.lists(st.sampled_from(FLAGS), unique=True, max_size=len(FLAGS)))
    if create and "--keep-target-settings" in flags:
        flags.remove("--keep-target-settings")
    return {
        "deps": deps,
        "moved": sorted(moved),
        "staying_images": draw(st.integers(0, 3)) if draw(st.booleans()) else None,
        "collections": collections,
        "jobs": [
            j
            for j in jobs
            if (j["collection"] is None or n_coll) and (j["image"] is None or n_images)
        ],
        "pipelines": draw(st.integers(0, 2)),
        "target_shares_pipeline": draw(st.booleans()),
        "services": draw(st.integers(0, 2)),
        "taxa_lists": draw(st.integers(0, 2)),
        "settings": draw(st.booleans()),
        "create": create,
        "target_members": draw(st.lists(st.sampled_from(ROLE_NAMES[1:]), max_size=2)),
        "identifier_in_target": draw(st.booleans()),
        "target_settings": draw(st.booleans()),
        "target_deployment": draw(st.booleans()),
        "flags": flags,
    }


def _resources(source: Project, third: Project) -> dict[str, dict[str, object | None]]:
    """Two resources of each kind owned by the source, one by a third project, one public."""
    pool: dict[str, dict[str, object | None]] = {}
    for kind, model, extra in (
        ("s3", S3StorageSource, {"bucket": "b", "access_key": "AK", "secret_key": "SK"}),
        ("device", Device, {}),
        ("site", Site, {}),
    ):
        pool[kind] = {
            "source-a": model.objects.create(name=f"{kind} a", project=source, **extra),
            "source-b": model.objects.create(name=f"{kind} b", project=source, **extra),
            "third": model.objects.create(name=f"{kind} 3rd", project=third, **extra),
            "public": model.objects.create(name=f"{kind} pub", project=None, **extra),
            "none": None,
        }
    return pool


def _give_role(user, project: Project, role: str) -> None:
    if role in ("none", "absent"):
        if role == "none":
            UserProjectMembership.objects.get_or_create(user=user, project=project)
        return
    UserProjectMembership.objects.get_or_create(user=user, project=project)
    role_classes.BasicMember.assign_user(user, project)
    role_classes.ROLES_BY_NAME[role].assign_user(user, project)


def build(spec: dict) -> SimpleNamespace:
    """Build the dataset ``spec`` describes; return the move's command-line arguments."""
    owner = make_user("owner")
    source = make_project("Source", owner)
    third = make_project("Third", make_user("third"))
    pool = _resources(source, third)
    order = Taxon.objects.create(name="Lepidoptera", rank="ORDER")
    species = Taxon.objects.create(name="Actias luna", rank="SPECIES", parent=order)
    species.projects.add(source)
    images, deps = [], []
    for i, d in enumerate(spec["deps"]):
        identifier = None
        if d["occurrences"] and d["identifier"] != "absent":
            identifier = make_user("identifier")
            _give_role(identifier, source, d["identifier"])
        built = add_deployment(
            source,
            f"Dep {i}",
            d["images"],
            data_source=pool["s3"][d["s3"]],
            device=pool["device"][d["device"]],
            site=pool["site"][d["site"]],
            taxon=species,
            occurrences=d["occurrences"],
            identifier=identifier,
        )
        if d["job"]:
            make_job(source, deployment=built.dep)
        deps.append(built.dep)
        images += built.images
    if spec["staying_images"] is not None:
        staying = add_deployment(
            source,
            "Staying",
            spec["staying_images"],
            data_source=pool["s3"]["source-a"],
            device=pool["device"]["source-a"],
            site=pool["site"]["source-b"],
            taxon=species,
            occurrences=True,
        )
        images += staying.images
    collections = [
        make_collection(
            source,
            [images[i] for i in c["images"]],
            name=f"Collection {n}",
            method=c["method"],
            kwargs=c["kwargs"],
        )
        for n, c in enumerate(spec["collections"])
    ]
    for j in spec["jobs"]:
        collection = None if j["collection"] is None else collections[j["collection"]]
        image = None if j["image"] is None else images[j["image"]]
        export = DataExport.objects.create(project=source, user=owner) if j["export"] else None
        make_job(
            source,
            source_image_collection=collection,
            source_image_single=image,
            data_export=export,
        )
    pipelines = [make_pipeline() for _ in range(spec["pipelines"])]
    for p in pipelines:
        make_pipeline_config(source, p, config={"threshold": 0.4})
    for n in range(spec["services"]):
        make_processing_service(source, name=f"Service {n}")
    for n in range(spec["taxa_lists"]):
        make_taxa_list(f"List {n}", source, taxa=(species,))
    if spec["settings"]:
        Project.objects.filter(pk=source.pk).update(
            default_filters_score_threshold=0.3,
            session_time_gap_seconds=5400,
            default_processing_pipeline=pipelines[0] if pipelines else None,
        )
        source.default_filters_include_taxa.add(order)
        source.default_filters_exclude_taxa.add(species)
    args = ["--source-project", str(source.pk), "--deployment-ids"]
    args.append(",".join(str(deps[i].pk) for i in spec["moved"]))
    if spec["create"]:
        args += ["--create-project", "Created"]
        projects = [source.pk, third.pk]
    else:
        target = _target(spec, pipelines, species)
        args += ["--target-project", str(target.pk)]
        projects = [source.pk, third.pk, target.pk]
    refresh_project_cached_fields(projects)
    return SimpleNamespace(args=[*args, *spec["flags"], "--reason", "property"])


def _target(spec: dict, pipelines: list, species: Taxon) -> Project:
    target = make_project("Target", make_user("target-owner"))
    for role in spec["target_members"]:
        _give_role(make_user("member"), target, role)
    if spec["identifier_in_target"]:
        someone = Identification.objects.select_related("user").first()
        if someone is not None:
            _give_role(someone.user, target, "Researcher")
    if spec["target_settings"]:
        Project.objects.filter(pk=target.pk).update(
            default_filters_score_threshold=0.8, session_time_gap_seconds=600
        )
        target.default_filters_exclude_taxa.add(species)
    if spec["target_shares_pipeline"] and pipelines:
        make_pipeline_config(target, pipelines[0], config={"threshold": 0.9})
    if spec["target_deployment"]:
        add_deployment(
            target, "Target own", 2, taxon=species, occurrences=True, identifier=make_user("t")
        )
    return target


def _move(args: list[str]) -> int:
    call_command(
        "move_project_data",
        *args,
        "--execute",
        "--reason",
        "t",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    return Move.objects.order_by("-id").values_list("id", flat=True)[0]


def _revert(move_id: int) -> int:
    call_command(
        "revert_move", str(move_id), "--execute", "--reason", "property", stdout=StringIO()
    )
    return Move.objects.get(reverts_id=move_id).pk


def _diff(a: dict[str, list], b: dict[str, list]) -> dict[str, tuple[list, list]]:
    """Per table, rows only in ``a`` and rows only in ``b`` (for a readable failure)."""
    out = {}
    for table in sorted(set(a) | set(b)):
        only_a = sorted(set(a.get(table, [])) - set(b.get(table, [])))
        only_b = sorted(set(b.get(table, [])) - set(a.get(table, [])))
        if only_a or only_b:
            out[table] = (only_a, only_b)
    return out


@settings(
    max_examples=examples(ci=12, deep=200),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=datasets())
def test_move_revert_and_revert_of_revert_restore_every_table(spec: dict) -> None:
    try:
        with transaction.atomic():
            world = build(spec)
            before = dump()
            move_id = _move(world.args)
            after_move = dump()
            assert after_move != before
            revert_id = _revert(move_id)
            after_revert = dump()
            assert _diff(before, after_revert) == {}
            assert after_revert == before
            _revert(revert_id)
            assert _diff(after_move, dump()) == {}
            assert dump() == after_move
            raise _Rollback
    except _Rollback:
        pass
