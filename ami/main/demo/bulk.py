"""The data that grows with the scale, written with set-based SQL.

Captures, occurrences, detections, classifications, identifications and collection memberships
come from ``INSERT ... SELECT generate_series(...)``: a fixed number of statements per scale,
never a Python loop over rows. Rows get their ids from the table's sequence inside temporary
tables (``demo_*``, dropped at the end), so children can refer to parents without any id
reaching Python.

Randomness is ``hashint8extended(key, seed)``: every value depends only on the seed and on a
row's position in the plan (never on an id or on execution order), so a seed always gives the
same data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from django.db import connection

from ami.main.demo.catalog import Catalog
from ami.main.demo.layout import Layout
from ami.main.demo.shapes import DemoScale

# Uniform [0, 1) from a row key, a per-use salt and the seed. An inlinable SQL function.
_CREATE_RANDOM = """
CREATE OR REPLACE FUNCTION pg_temp.demo_u(key bigint, salt int, seed bigint)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8extended(key, seed * 1000 + salt) & 2147483647)::float8 / 2147483648.0 $$
"""

_TEMP_TABLES = ("demo_plan", "demo_image", "demo_occurrence", "demo_detection", "demo_ident")
_DROP_TEMP = f"DROP TABLE IF EXISTS {', '.join(_TEMP_TABLES)}"

_CREATE_PLAN = """
CREATE TEMP TABLE demo_plan AS
SELECT * FROM unnest(%(slot)s::int[], %(role)s::text[], %(role_pos)s::int[],
                     %(deployment_id)s::bigint[], %(project_id)s::bigint[], %(n_images)s::int[])
    AS t(slot, role, role_pos, deployment_id, project_id, n_images)
"""

# Five-minute captures from 20:00, one night per ``per_night`` captures. Some nights have a
# 100-minute outage (two groups starting the same date: one event) and some a 4-hour one after
# midnight (a group starting the next date, which shares its event with the next evening).
_CREATE_IMAGES = """
CREATE TEMP TABLE demo_image AS
SELECT nextval(pg_get_serial_sequence('main_sourceimage', 'id')) AS id, x.*
FROM (
    SELECT p.slot, p.role, p.role_pos, p.deployment_id, p.project_id, g.i AS idx,
        p.slot::bigint * 100000000 + g.i AS key,
        %(base)s::timestamptz
        + make_interval(days => p.slot * 3 + g.i / %(per_night)s,
                        mins => 5 * mod(g.i, %(per_night)s))
        + CASE
            WHEN mod(g.i / %(per_night)s, 7) = 3 AND mod(g.i, %(per_night)s) >= %(per_night)s / 6
                THEN interval '100 minutes'
            WHEN mod(g.i / %(per_night)s, 5) = 4
                 AND mod(g.i, %(per_night)s) >= 2 * %(per_night)s / 3
                THEN interval '4 hours'
            ELSE interval '0'
          END
        + make_interval(secs => floor(40 * pg_temp.demo_u(p.slot * 100000000 + g.i, 1, %(seed)s)))
            AS ts
    FROM demo_plan p CROSS JOIN LATERAL generate_series(0, p.n_images - 1) AS g(i)
    ORDER BY p.slot, g.i
) x
"""

_INSERT_IMAGES = """
INSERT INTO main_sourceimage (id, created_at, updated_at, project_id, deployment_id, path,
    public_base_url, timestamp, width, height, size, last_modified, test_image, detections_count)
SELECT di.id, now(), now(), di.project_id, di.deployment_id,
    dp.data_source_subdir || '/' || to_char(di.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD/HH24MISS')
        || '-' || lpad(di.idx::text, 7, '0') || '.jpg',
    s3.public_base_url, di.ts, 4096, 2160,
    150000 + floor(350000 * pg_temp.demo_u(di.key, 2, %(seed)s))::bigint, di.ts, false, 0
FROM demo_image di
JOIN main_deployment dp ON dp.id = di.deployment_id
LEFT JOIN main_s3storagesource s3 ON s3.id = dp.data_source_id
"""
"""Writes ``main_sourceimage``. ``detections_count`` starts at 0, which is right until the
detections exist, so the refresh run by event grouping rewrites no capture."""

# Occurrences are spread evenly over the captures; 5 % are determined at genus level only,
# species follow a skewed (power) distribution, as a few species dominate real catches.
_CREATE_OCCURRENCES = """
CREATE TEMP TABLE demo_occurrence AS
SELECT nextval(pg_get_serial_sequence('main_occurrence', 'id')) AS id, y.*
FROM (
    SELECT x.*,
        CASE WHEN pg_temp.demo_u(x.key, 3, %(seed)s) < 0.05
            THEN (%(genera)s::bigint[])[
                1 + floor(pg_temp.demo_u(x.key, 4, %(seed)s) * cardinality(%(genera)s::bigint[]))]
            ELSE (%(species)s::bigint[])[
                1 + floor(power(pg_temp.demo_u(x.key, 4, %(seed)s), 2)
                          * cardinality(%(species)s::bigint[]))]
        END AS taxon_id,
        0.15 + 0.85 * pg_temp.demo_u(x.key, 5, %(seed)s) AS score
    FROM (
        SELECT p.slot, p.role, p.project_id, p.deployment_id, g.j AS idx,
            p.slot::bigint * 100000000 + g.j AS key,
            (g.j::bigint * p.n_images / p.n_occ)::int AS image_idx
        FROM (SELECT *, round(n_images * %(occ_ratio)s)::int AS n_occ FROM demo_plan) p
        CROSS JOIN LATERAL generate_series(0, p.n_occ - 1) AS g(j)
    ) x
    ORDER BY x.key
) y
"""

_INSERT_OCCURRENCES = """
INSERT INTO main_occurrence (id, created_at, updated_at, determination_id, event_id,
    deployment_id, project_id, determination_score)
SELECT o.id, now(), now(), o.taxon_id, s.event_id, o.deployment_id, o.project_id, o.score
FROM demo_occurrence o
JOIN demo_image di ON di.deployment_id = o.deployment_id AND di.idx = o.image_idx
JOIN main_sourceimage s ON s.id = di.id
"""
"""Writes ``main_occurrence``, each in the event of its capture."""

# kind 0: the occurrence's detection; 1: the same moth tracked on the next capture;
# 2: "processed, nothing found" (NULL or [] bbox) on captures without an occurrence.
_CREATE_DETECTIONS = """
CREATE TEMP TABLE demo_detection AS
SELECT nextval(pg_get_serial_sequence('main_detection', 'id')) AS id, x.*
FROM (
    SELECT o.id AS occurrence_id, o.taxon_id, o.score, di.id AS image_id, di.ts,
        o.key * 4 AS key, 0 AS kind
    FROM demo_occurrence o
    JOIN demo_image di ON di.deployment_id = o.deployment_id AND di.idx = o.image_idx
    UNION ALL
    SELECT o.id, o.taxon_id, o.score, di.id, di.ts, o.key * 4 + 1, 1
    FROM demo_occurrence o
    JOIN demo_image di ON di.deployment_id = o.deployment_id AND di.idx = o.image_idx + 1
    WHERE pg_temp.demo_u(o.key, 6, %(seed)s) < %(tracked)s
    UNION ALL
    SELECT NULL, NULL, NULL, di.id, di.ts, di.key * 4 + 2, 2
    FROM demo_image di
    WHERE pg_temp.demo_u(di.key, 7, %(seed)s) < %(empty)s
      AND NOT EXISTS (SELECT 1 FROM demo_occurrence o
                      WHERE o.deployment_id = di.deployment_id AND o.image_idx = di.idx)
    ORDER BY key
) x
"""

_INSERT_DETECTIONS = """
INSERT INTO main_detection (id, created_at, updated_at, source_image_id, occurrence_id,
    detection_algorithm_id, bbox, timestamp, path, detection_score)
SELECT d.id, now(), now(), d.image_id, d.occurrence_id, %(detector)s,
    CASE
        WHEN d.kind = 2 AND mod(d.key, 8) = 2 THEN NULL
        WHEN d.kind = 2 THEN '[]'::jsonb
        ELSE jsonb_build_array(b.x, b.y, b.x + b.w, b.y + b.h)
    END,
    d.ts,
    CASE WHEN d.kind < 2 THEN 'crops/' || d.key || '.jpg' END,
    CASE WHEN d.kind < 2 THEN 0.5 + 0.5 * pg_temp.demo_u(d.key, 8, %(seed)s) END
FROM demo_detection d
CROSS JOIN LATERAL (
    SELECT floor(3800 * pg_temp.demo_u(d.key, 9, %(seed)s))::int AS x,
        floor(1900 * pg_temp.demo_u(d.key, 10, %(seed)s))::int AS y,
        40 + floor(200 * pg_temp.demo_u(d.key, 11, %(seed)s))::int AS w,
        40 + floor(200 * pg_temp.demo_u(d.key, 12, %(seed)s))::int AS h
) b
"""
"""Writes ``main_detection``."""

# A share of detections first goes through the binary moth / non-moth model; the species
# classification is then ``applied_to`` that binary result, as Antenna's pipelines record.
_INSERT_CLASSIFICATIONS = """
WITH binary_cls AS (
    INSERT INTO main_classification (created_at, updated_at, detection_id, taxon_id,
        algorithm_id, score, timestamp, terminal)
    SELECT now(), now(), d.id, %(order_id)s, %(binary)s,
        0.6 + 0.4 * pg_temp.demo_u(d.key, 13, %(seed)s), d.ts, false
    FROM demo_detection d
    WHERE d.kind < 2 AND pg_temp.demo_u(d.key, 14, %(seed)s) < %(second)s
    ORDER BY d.key
    RETURNING id, detection_id
)
INSERT INTO main_classification (created_at, updated_at, detection_id, taxon_id, algorithm_id,
    category_map_id, applied_to_id, score, timestamp, terminal)
SELECT now(), now(), d.id, d.taxon_id, %(classifier)s, %(category_map)s, b.id, d.score, d.ts,
    true
FROM demo_detection d LEFT JOIN binary_cls b ON b.detection_id = d.id
WHERE d.kind < 2
ORDER BY d.key
"""
"""Writes ``main_classification`` (binary, then terminal species ones)."""

# The first identifications of each project go to each identifier in turn, so every role
# appears even at a tiny scale; the rest are drawn with a skew, so the first user of each list
# does most of the work. 20 % disagree with the prediction, 4 % are withdrawn.
_CREATE_IDENTIFICATIONS = """
CREATE TEMP TABLE demo_ident AS
SELECT nextval(pg_get_serial_sequence('main_identification', 'id')) AS id, z.*
FROM (
    SELECT y.*,
        CASE WHEN y.turn <= cardinality(y.users) THEN y.users[y.turn]
            ELSE y.users[1 + floor(power(pg_temp.demo_u(y.key, 15, %(seed)s), 1.5)
                                   * cardinality(y.users))]
        END AS user_id
    FROM (
        SELECT o.id AS occurrence_id, o.key, o.taxon_id AS predicted_id, d.id AS detection_id,
            u.users,
            row_number() OVER (PARTITION BY o.role = 'target' ORDER BY o.key) AS turn,
            CASE WHEN pg_temp.demo_u(o.key, 16, %(seed)s) < 0.8 THEN o.taxon_id
                ELSE (%(species)s::bigint[])[
                    1 + floor(pg_temp.demo_u(o.key, 17, %(seed)s)
                              * cardinality(%(species)s::bigint[]))]
            END AS taxon_id,
            pg_temp.demo_u(o.key, 18, %(seed)s) < 0.04 AS withdrawn
        FROM demo_occurrence o
        JOIN demo_detection d ON d.occurrence_id = o.id AND d.kind = 0
        CROSS JOIN LATERAL (
            SELECT CASE o.role WHEN 'target' THEN %(target_users)s::bigint[]
                               ELSE %(source_users)s::bigint[] END AS users
        ) u
        WHERE o.role <> 'third'
          AND pg_temp.demo_u(o.key, 19, %(seed)s) < %(ident_rate)s
    ) y
    ORDER BY y.key
) z
"""

_INSERT_IDENTIFICATIONS = """
INSERT INTO main_identification (id, created_at, updated_at, user_id, taxon_id, occurrence_id,
    agreed_with_prediction_id, withdrawn, comment)
SELECT i.id, now(), now(), i.user_id, i.taxon_id, i.occurrence_id,
    CASE WHEN i.taxon_id = i.predicted_id THEN c.id END, i.withdrawn,
    CASE WHEN i.taxon_id = i.predicted_id THEN '' ELSE 'Wing pattern does not match' END
FROM demo_ident i
LEFT JOIN main_classification c ON c.detection_id = i.detection_id AND c.terminal
"""
"""Writes ``main_identification`` (first opinions)."""

# One in ten kept identifications gets a second opinion by the next user of the list.
_INSERT_AGREEMENTS = """
INSERT INTO main_identification (created_at, updated_at, user_id, taxon_id, occurrence_id,
    agreed_with_identification_id, withdrawn, comment)
SELECT now(), now(),
    i.users[1 + mod(array_position(i.users, i.user_id), cardinality(i.users))],
    i.taxon_id, i.occurrence_id, i.id, false, ''
FROM demo_ident i
WHERE NOT i.withdrawn AND pg_temp.demo_u(i.key, 20, %(seed)s) < 0.1
ORDER BY i.key
"""
"""Writes ``main_identification`` (agreements)."""

_APPLY_IDENTIFICATIONS = """
UPDATE main_occurrence o SET determination_id = i.taxon_id, determination_score = 1.0
FROM demo_ident i WHERE o.id = i.occurrence_id AND NOT i.withdrawn
"""
"""Writes ``main_occurrence.determination_id/score`` from human identifications."""

_INSERT_COLLECTION_IMAGES = """
INSERT INTO main_sourceimagecollection_images (sourceimagecollection_id, sourceimage_id)
SELECT %(mixed)s, id FROM demo_image WHERE role IN ('moved', 'staying')
UNION ALL
SELECT %(moved_exclusive)s, id FROM demo_image
WHERE role = 'moved' AND role_pos = 0 AND mod(idx, 20) = 0
UNION ALL
SELECT %(staying_exclusive)s, id FROM demo_image WHERE role = 'staying' AND mod(idx, 6) = 0
UNION ALL
SELECT %(starred)s, id FROM demo_image
WHERE role_pos = 0 AND ((role = 'moved' AND idx < 5) OR (role = 'staying' AND idx = 1))
UNION ALL
SELECT %(foreign)s, id FROM demo_image
WHERE (role = 'moved' AND role_pos = %(last_moved)s AND mod(idx, 25) = 0)
   OR (role = 'third' AND mod(idx, 5) = 0)
UNION ALL
SELECT %(target_own)s, id FROM demo_image WHERE role = 'target' AND mod(idx, 10) = 0
"""
"""Writes ``main_sourceimagecollection_images``: mixed, exclusive and foreign collections."""

BASE_TIMESTAMP = dt.datetime(2023, 5, 1, 20, 0, tzinfo=dt.UTC)


class PlanRow(msgspec.Struct, frozen=True, kw_only=True):
    """One deployment to fill: its position (``slot``) drives every generated value."""

    slot: int
    role: str
    role_pos: int
    deployment_id: int
    project_id: int
    n_images: int


def build_plan(scale: DemoScale, layout: Layout) -> list[PlanRow]:
    """List the deployments to fill, in a fixed order, with their number of captures."""
    groups = (
        ("moved", layout.moved_deployment_ids, scale.moved_images, layout.source_project_id),
        ("staying", layout.staying_deployment_ids, scale.staying_images, layout.source_project_id),
        ("target", layout.target_deployment_ids, scale.target_images, layout.target_project_id),
        ("third", layout.third_deployment_ids, scale.third_images, layout.third_project_id),
    )
    rows: list[PlanRow] = []
    for role, ids, sizes, project_id in groups:
        for pos, (deployment_id, n_images) in enumerate(zip(ids, sizes, strict=True)):
            rows.append(
                PlanRow(
                    slot=len(rows),
                    role=role,
                    role_pos=pos,
                    deployment_id=deployment_id,
                    project_id=project_id,
                    n_images=n_images,
                )
            )
    return rows


def bulk_params(scale: DemoScale, seed: int, layout: Layout, catalog: Catalog) -> dict[str, Any]:
    """Parameters shared by every bulk statement (ids of small rows, ratios, the seed)."""
    collections = layout.collection_ids
    return {
        "seed": seed,
        "base": BASE_TIMESTAMP,
        "per_night": scale.images_per_night,
        "occ_ratio": scale.occurrences_per_image,
        "tracked": scale.tracked_fraction,
        "empty": scale.empty_fraction,
        "second": scale.second_classification_fraction,
        "ident_rate": scale.identifications_per_occurrence,
        "species": list(catalog.species_ids),
        "genera": list(catalog.genus_ids),
        "order_id": catalog.order_id,
        "detector": catalog.detector_id,
        "binary": catalog.binary_id,
        "classifier": catalog.classifier_id,
        "category_map": catalog.category_map_id,
        "source_users": list(layout.identifier_user_ids),
        "target_users": list(layout.target_identifier_user_ids),
        "last_moved": len(layout.moved_deployment_ids) - 1,
        **{key.replace("-", "_"): pk for key, pk in collections.items()},
    }


def insert_captures(plan: list[PlanRow], params: dict[str, Any]) -> None:
    """Create the plan and capture temp tables and insert the captures (no events yet)."""
    columns = {name: [getattr(row, name) for row in plan] for name in PlanRow.__struct_fields__}
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_RANDOM)
        cursor.execute(_DROP_TEMP)
        cursor.execute(_CREATE_PLAN, columns)
        cursor.execute(_CREATE_IMAGES, params)
        cursor.execute("CREATE INDEX ON demo_image (deployment_id, idx)")
        cursor.execute("ANALYZE demo_image")
        cursor.execute(_INSERT_IMAGES, params)
        # Fresh statistics, so grouping and the cached-field refresh plan for the real sizes.
        cursor.execute("ANALYZE main_sourceimage")


def insert_observations(params: dict[str, Any]) -> None:
    """Insert occurrences, detections, classifications, identifications and collection images.

    Call after the captures are grouped into events: occurrences take their capture's event.
    """
    with connection.cursor() as cursor:
        for statement in (
            _CREATE_OCCURRENCES,
            "CREATE INDEX ON demo_occurrence (deployment_id, image_idx)",
            "ANALYZE demo_occurrence",
            _INSERT_OCCURRENCES,
            _CREATE_DETECTIONS,
            "CREATE INDEX ON demo_detection (occurrence_id)",
            "ANALYZE demo_detection",
            _INSERT_DETECTIONS,
            _INSERT_CLASSIFICATIONS,
            _CREATE_IDENTIFICATIONS,
            _INSERT_IDENTIFICATIONS,
            _INSERT_AGREEMENTS,
            _APPLY_IDENTIFICATIONS,
            _INSERT_COLLECTION_IMAGES,
            _DROP_TEMP,
            "ANALYZE main_occurrence",
            "ANALYZE main_detection",
            "ANALYZE main_classification",
        ):
            cursor.execute(statement, params)
