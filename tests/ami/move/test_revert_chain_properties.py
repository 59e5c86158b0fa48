"""Property: chains of moves, reverted in any order, never leave a broken or half-changed state.

Each example builds a small world (three projects; the source's stations with captures,
occurrences, identifiers and shared resources), COMMITS it, then runs two or three moves, each
its own transaction (so clocks advance, as months later), and tries to revert them in an order
Hypothesis draws. Laws, over every table of the database (not only the registered ones):

(a) a refused revert changes nothing, and says "refused";
(b) after every committed move or revert the domain's invariants hold: each event, capture,
    occurrence and job is in its deployment's project; each identifier is a member of the
    project of the occurrences they identified; each determination is linked to its project;
(c) reverting whatever is left, newest first, goes through where every revert so far was
    newest first (an older move reverted first may rightly hold a newer one in place: its
    revert is then refused, changing nothing);
(d) once every move is reverted, every table is exactly as before the first move.

A few examples in CI; ``HYPOTHESIS_PROFILE=deep`` runs 150 (tests/ami/move/properties.py).
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Device, Project, S3StorageSource, Site, Taxon, UserProjectMembership
from ami.users import roles as role_classes
from ledger.models import Move
from tests.ami.move.properties import examples
from tests.builders import add_deployment, make_pipeline, make_pipeline_config, make_project
from tests.builders import make_user as new_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROLES = ("BasicMember", "Researcher", "Identifier", "ProjectManager")
# Tables whose rows only ever grow, whatever is reverted, or that migrate fills.
NOT_DUMPED = ("django_migrations", "django_content_type", "auth_permission", "django_session")


@st.composite
def chains(draw: st.DrawFn) -> dict:
    """Stations of the source, then 2-3 moves, each of one or two stations to another project."""
    stations = [
        {
            "images": draw(st.integers(1, 4)),
            "occurrences": draw(st.booleans()),
            "identifier": draw(st.sampled_from(ROLES)),
            "shared": draw(st.booleans()),  # the source's S3, device and site, or public ones
        }
        for _ in range(3)
    ]
    where = [0, 0, 0]  # the project index (0 source, 1 target, 2 third) of each station
    moves = []
    for _ in range(draw(st.integers(2, 3))):
        first = draw(st.integers(0, 2))
        together = [s for s in range(3) if s != first and where[s] == where[first]]
        picked = (
            [first, *draw(st.lists(st.sampled_from(together), max_size=1))]
            if together
            else [first]
        )
        to = draw(st.sampled_from([p for p in range(3) if p != where[first]]))
        moves.append(
            {
                "stations": sorted(set(picked)),
                "from": where[first],
                "to": to,
                "keep_settings": draw(st.booleans()),
            }
        )
        for s in picked:
            where[s] = to
    order = draw(st.permutations(range(len(moves))))
    return {"stations": stations, "moves": moves, "order": list(order)}


def _give_role(user, project: Project, role: str) -> None:
    UserProjectMembership.objects.get_or_create(user=user, project=project)
    role_classes.BasicMember.assign_user(user, project)
    role_classes.ROLES_BY_NAME[role].assign_user(user, project)


def build(spec: dict) -> tuple[list[int], list[int]]:
    """The world of ``spec``, committed; the project ids and the station ids."""
    projects = [make_project(name, new_user(name)) for name in ("Source", "Target", "Third")]
    source = projects[0]
    shared = {
        "data_source": S3StorageSource.objects.create(
            name="s3", project=source, bucket="b", access_key="AK", secret_key="SK"
        ),
        "device": Device.objects.create(name="device", project=source),
        "site": Site.objects.create(name="site", project=source),
    }
    public = {
        "data_source": S3StorageSource.objects.create(name="pub", project=None, bucket="p"),
        "device": Device.objects.create(name="pub", project=None),
        "site": Site.objects.create(name="pub", project=None),
    }
    order = Taxon.objects.create(name="Lepidoptera", rank="ORDER")
    species = Taxon.objects.create(name="Actias luna", rank="SPECIES", parent=order)
    species.projects.add(source)
    make_pipeline_config(source, make_pipeline(), config={"threshold": 0.4})
    Project.objects.filter(pk=source.pk).update(default_filters_score_threshold=0.3)
    stations = []
    for i, s in enumerate(spec["stations"]):
        identifier = new_user(f"identifier{i}")
        _give_role(identifier, source, s["identifier"])
        built = add_deployment(
            source,
            f"Station {i}",
            s["images"],
            taxon=species,
            occurrences=s["occurrences"],
            identifier=identifier,
            **(shared if s["shared"] else public),
        )
        stations.append(built.dep.pk)
    ids = [p.pk for p in projects]
    refresh_project_cached_fields(ids)
    return ids, stations


def dump() -> dict[str, list[str]]:
    """Every table of the schema but the ledger's own and what only grows, whole rows, sorted."""
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND c.relname NOT LIKE 'ledger\\_%%' AND c.relname NOT LIKE 'pghistory\\_%%' "
            "AND c.relname NOT LIKE '%%event' AND NOT c.relname = ANY(%s) ORDER BY 1",
            [list(NOT_DUMPED)],
        )
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            name = connection.ops.quote_name(table)
            cursor.execute(f"SELECT to_jsonb(t)::text FROM {name} t")
            out[table] = sorted(row[0] for row in cursor.fetchall())
    return out


# The domain's invariants, as rows that break them (none expected).
BROKEN = """
SELECT 'event ' || e.id FROM main_event e JOIN main_deployment d ON d.id = e.deployment_id
 WHERE e.project_id IS DISTINCT FROM d.project_id
UNION ALL SELECT 'capture ' || i.id FROM main_sourceimage i
 JOIN main_deployment d ON d.id = i.deployment_id WHERE i.project_id IS DISTINCT FROM d.project_id
UNION ALL SELECT 'occurrence ' || o.id FROM main_occurrence o
 JOIN main_deployment d ON d.id = o.deployment_id WHERE o.project_id IS DISTINCT FROM d.project_id
UNION ALL SELECT 'job ' || j.id FROM jobs_job j
 JOIN main_deployment d ON d.id = j.deployment_id WHERE j.project_id IS DISTINCT FROM d.project_id
UNION ALL SELECT 'identifier ' || x.user_id || ' not a member of project ' || o.project_id
 FROM main_identification x JOIN main_occurrence o ON o.id = x.occurrence_id
 WHERE NOT EXISTS (SELECT 1 FROM main_userprojectmembership m
                   WHERE m.user_id = x.user_id AND m.project_id = o.project_id)
UNION ALL SELECT 'taxon ' || o.determination_id || ' not linked to project ' || o.project_id
 FROM main_occurrence o WHERE o.determination_id IS NOT NULL AND NOT EXISTS (
   SELECT 1 FROM main_taxon_projects tp
   WHERE tp.taxon_id = o.determination_id AND tp.project_id = o.project_id)
"""


def broken() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(BROKEN)
        return sorted(row[0] for row in cursor.fetchall())


def reset() -> None:
    """Empty every table but what migrate fills, ids from 1 again (the test runner owns the
    ledger, so its TRUNCATE guard lets it through)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(quote_ident(c.relname), ', ') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relname = ANY(%s)",
            [["django_migrations", "django_content_type", "auth_permission"]],
        )
        (tables,) = cursor.fetchone()
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def run_move(projects: list[int], stations: list[int], move: dict) -> int:
    args = [
        "--source-project", str(projects[move["from"]]),
        "--target-project", str(projects[move["to"]]),
        "--deployment-ids", ",".join(str(stations[s]) for s in move["stations"]),
        "--execute", "--reason", "chain",
    ]  # fmt: skip
    if move["keep_settings"]:
        args.append("--keep-target-settings")
    call_command("move_project_data", *args, stdout=StringIO(), stderr=StringIO())
    return Move.objects.order_by("-id").values_list("id", flat=True)[0]


def try_revert(move_id: int) -> bool:
    """Revert ``move_id``; False when it was refused (a CommandError naming the refusal)."""
    try:
        call_command(
            "revert_move", str(move_id), "--execute", "--reason", "chain", stdout=StringIO()
        )
    except CommandError as refusal:
        message = str(refusal)
    else:
        return True
    assert "refused" in message or "reverted" in message, message
    return False


# Found by this property: move 1 is reverted before moves 2 and 3 of another station, whose
# revert would then take the source's S3 source, device and site (re-assigned by move 2, back
# by move 3) away from the stations move 1's revert brought back: move 3 is rightly held.
@example(
    spec={
        "stations": [
            {"images": 4, "occurrences": s > 0, "identifier": "BasicMember", "shared": True}
            for s in range(3)
        ],
        "moves": [
            {"stations": [1, 2], "from": 0, "to": 2, "keep_settings": True},
            {"stations": [0], "from": 0, "to": 1, "keep_settings": False},
            {"stations": [0], "from": 1, "to": 0, "keep_settings": False},
        ],
        "order": [0, 1, 2],
    }
)
@settings(max_examples=examples(ci=6, deep=150))
@given(spec=chains())
# The case: two stations moved to the same target one after the other; the first
# move's revert must not take away the members and taxa links the second one relies on.
@example(
    spec={
        "stations": [{"images": 2, "occurrences": True, "identifier": "Identifier",
                      "shared": True}] * 3,
        "moves": [{"stations": [s], "from": 0, "to": 1, "keep_settings": True} for s in (0, 1)],
        "order": [0, 1],
    }
)  # fmt: skip
def test_reverts_in_any_order_refuse_or_leave_a_sound_state(spec: dict) -> None:
    reset()
    projects, stations = build(spec)
    first = dump()
    assert broken() == []
    moves = []
    for move in spec["moves"]:
        moves.append(run_move(projects, stations, move))
        assert broken() == [], f"after move {moves[-1]}"
    reverted: set[int] = set()
    for index in spec["order"]:
        attempt(moves[index], reverted)
    # Whatever is left, newest first. After reverts in newest-first order only, each of these
    # must go through; after an older one went first, its own writes may (rightly) hold a
    # newer move in place: then that one is refused, and changes nothing.
    newest_first = reverted == set(moves[len(moves) - len(reverted) :])
    for move_id in reversed(moves):
        if move_id not in reverted:
            done = attempt(move_id, reverted)
            assert done or not newest_first, f"newest first, move {move_id} must revert"
    if len(reverted) == len(moves):
        last = dump()
        changed = {t: (sorted(set(first[t]) - set(last[t])), sorted(set(last[t]) - set(first[t])))
                   for t in first if first[t] != last.get(t)}  # fmt: skip
        assert changed == {}


def attempt(move_id: int, reverted: set[int]) -> bool:
    """Revert ``move_id``: a refusal changes nothing, a committed revert breaks no invariant."""
    before = dump()
    if not try_revert(move_id):
        assert dump() == before, f"refusing to revert move {move_id} changed data"
        return False
    reverted.add(move_id)
    assert broken() == [], f"after reverting move {move_id}"
    return True
