"""Label Studio configs on split collections: ``[clone-labelstudio-configs]``.

A config whose task collection was split gets a copy for the target, on the split
collection's target copy; the original keeps the source's collection. One INSERT for all
of them. The copy carries the config's credentials, which are never printed or logged.
"""

from __future__ import annotations

from django.db import connection

from ami.labelstudio.models import LabelStudioConfig
from ami.move.steps.base import StepContext
from ami.move.structs import StepResult

_SKIPPED = ("id", "task_collection_id", "created_at", "updated_at")

_CLONE = """
INSERT INTO labelstudio_labelstudioconfig ({columns}, task_collection_id, created_at, updated_at)
SELECT {columns}, m.n, now(), now()
FROM labelstudio_labelstudioconfig c
JOIN unnest(%(old)s::bigint[], %(new)s::bigint[]) AS m(o, n) ON m.o = c.task_collection_id
WHERE c.id = ANY(%(ids)s)
ORDER BY c.id
RETURNING id
"""


def _columns() -> str:
    names = [f.column for f in LabelStudioConfig._meta.concrete_fields if f.column not in _SKIPPED]
    return ", ".join(connection.ops.quote_name(n) for n in names)


def clone_labelstudio_configs(ctx: StepContext) -> StepResult:
    """Writes labelstudio_labelstudioconfig: a copy per config on a split collection."""
    ids = [p.config_id for p in ctx.plan.labelstudio_configs if p.action == "clone"]
    with ctx.step(len(ids), "insert") as run:
        if ids:
            mapping = ctx.clones.get("collection", {})
            rows = run.returning(
                _CLONE.format(columns=_columns()),
                {"old": list(mapping), "new": list(mapping.values()), "ids": ids},
            )
            run.created["labelstudio_config"] = [r[0] for r in rows]
            run.detail.append(f"{len(rows)} config(s) copied for the target: {ids}")
        for p in ctx.plan.labelstudio_configs:
            if p.action != "clone":
                run.detail.append(f"config {p.config_id}: {p.note}")
        if not ctx.plan.labelstudio_configs:
            run.detail.append("No Label Studio config on a collection with moved images")
    return run.result()
