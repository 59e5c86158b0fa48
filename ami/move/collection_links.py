"""What hangs off a moved collection (read-only planning): the target's "All Images" and
Label Studio configs.

"All Images" (method ``full``) is the collection Antenna gives every project. A source "All
Images" holding moved images would give the target a second one:

- a created target adopts it: ``[create-target]`` makes no empty "All Images", and the split
  copy (or the reassigned collection) is the target's;
- an existing target with its own: a split re-points the moved images' links straight at the
  target's (no copy is made; jobs follow to the target's); a collection that moves whole is
  renamed "All Images (from <source>)", since jobs may still point at it;
- an existing target without one simply receives it.

Only the oldest source "All Images" is considered, as Antenna looks collections up by name.

A Label Studio config publishes its ``task_collection``. On a split collection it keeps the
source's collection and gets a copy on the target copy (secrets copied, never printed), unless
its moved images join the target's "All Images"; a config on a collection that moves whole
keeps pointing at it; with ``--no-clone-collections`` it stays on the source's collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ami.move.sql import rows as _query
from ami.move.structs import AllImagesPlan, CollectionDecision, LabelStudioPlan, ProjectRef

ALL_IMAGES = "All Images"
_NAME_MAX = 255

_TARGET_ALL_IMAGES = """
SELECT id FROM main_sourceimagecollection
WHERE project_id = %(t)s AND name = %(name)s AND method = 'full'
ORDER BY created_at, id LIMIT 1
"""

_CONFIGS = """
SELECT id, task_collection_id FROM labelstudio_labelstudioconfig
WHERE task_collection_id = ANY(%(c)s) ORDER BY id
"""


def plan_all_images(
    collections: Sequence[CollectionDecision], source: ProjectRef, target: ProjectRef
) -> tuple[AllImagesPlan, ...]:
    """Decide what the source's "All Images" does on the target (see the module docstring)."""
    arriving = [
        c
        for c in collections
        if c.name == ALL_IMAGES and c.method == "full" and c.action in ("split", "reassign")
    ]
    if not arriving:
        return ()
    c = arriving[0]
    common: dict[str, Any] = {
        "source_collection_id": c.collection_id,
        "collection_action": c.action,
        "moved_images": c.moved_images,
    }
    if target.id is None:
        return (AllImagesPlan(**common, action="adopt", target_collection_id=None),)
    own = _query(_TARGET_ALL_IMAGES, {"t": target.id, "name": ALL_IMAGES})
    if not own:
        return ()
    if c.action == "split":
        return (AllImagesPlan(**common, action="merge", target_collection_id=own[0][0]),)
    new_name = f"{ALL_IMAGES} (from {source.name})"[:_NAME_MAX]
    return (
        AllImagesPlan(
            **common, action="rename", target_collection_id=own[0][0], new_name=new_name
        ),
    )


def plan_labelstudio_configs(
    collections: Sequence[CollectionDecision], all_images: Sequence[AllImagesPlan]
) -> tuple[LabelStudioPlan, ...]:
    """Decide what each Label Studio config on a collection with moved images does."""
    by_id = {c.collection_id: c for c in collections}
    merged = {a.source_collection_id for a in all_images if a.action == "merge"}
    plans = []
    for config_id, collection_id in _query(_CONFIGS, {"c": list(by_id)}):
        c = by_id[collection_id]
        if c.action == "split" and collection_id in merged:
            action, note = "keep", "stays on the source's collection (moved images merged)"
        elif c.action == "split":
            action, note = "clone", "a copy for the target, on the split collection's copy"
        elif c.action == "reassign":
            action, note = "follow", "its collection moves to the target whole"
        else:
            action, note = "keep", "stays on the source's collection, without the moved images"
        plans.append(
            LabelStudioPlan(
                config_id=config_id, collection_id=collection_id, action=action, note=note
            )
        )
    return tuple(plans)
