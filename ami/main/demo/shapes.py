"""Sizes of the demo data set and the names that mark its rows.

``bci`` is the size of the real project the original move command was tried on: two deployments
to move with 73k captures, 57k occurrences, about 60k detections, 81k classifications and 751
identifications, plus deployments that stay. ``bci10`` is ten times that; ``tiny`` is for tests.
"""

from __future__ import annotations

import msgspec


class DemoScale(msgspec.Struct, frozen=True, kw_only=True):
    """How much data to generate. Image counts are per deployment; the rest are ratios.

    Attributes:
        name: the ``--scale`` value.
        moved_images: captures of each source deployment meant to be moved.
        staying_images: captures of each source deployment that stays.
        target_images: captures of each deployment the target project already has.
        third_images: captures of each deployment of the third project.
        images_per_night: captures per night (one every five minutes from 20:00).
        occurrences_per_image: occurrences generated per capture.
        tracked_fraction: share of occurrences detected on a second, following capture.
        empty_fraction: share of the captures without an occurrence that carry a null-bbox
            detection ("processed, nothing found").
        second_classification_fraction: share of detections with an extra, non-terminal
            binary classification on top of the terminal species one.
        identifications_per_occurrence: share of occurrences a human identified (one in ten
            kept identifications then gets a second, agreeing one).
    """

    name: str
    moved_images: tuple[int, ...]
    staying_images: tuple[int, ...]
    target_images: tuple[int, ...]
    third_images: tuple[int, ...]
    images_per_night: int = 120
    occurrences_per_image: float = 0.78
    tracked_fraction: float = 0.03
    empty_fraction: float = 0.08
    second_classification_fraction: float = 0.38
    identifications_per_occurrence: float = 0.0119


SCALES: dict[str, DemoScale] = {
    scale.name: scale
    for scale in (
        DemoScale(
            name="tiny",
            moved_images=(60, 40),
            staying_images=(30, 20, 10),
            target_images=(25,),
            third_images=(10,),
            images_per_night=12,
            tracked_fraction=0.1,
            empty_fraction=0.1,
            identifications_per_occurrence=0.15,
        ),
        DemoScale(
            name="bci",
            moved_images=(40_000, 33_000),
            staying_images=(10_000, 6_000, 4_000),
            target_images=(5_000, 2_000),
            third_images=(2_000,),
        ),
        DemoScale(
            name="bci10",
            moved_images=(400_000, 330_000),
            staying_images=(100_000, 60_000, 40_000),
            target_images=(50_000, 20_000),
            third_images=(20_000,),
        ),
    )
}

# Every demo row can be found again from these marks, so --reset and the "already there"
# check never depend on ids kept elsewhere.
PROJECT_MARKER = "[demo-data]"
"""Start of ``Project.description`` for every demo project."""
USER_EMAIL_DOMAIN = "demo.invalid"
"""Domain of every demo user's e-mail address (a reserved TLD: never deliverable)."""
GLOBAL_NAME_PREFIX = "demo-"
"""Prefix of the slugs and keys of demo pipelines and algorithms."""
SHARED_NAME_PREFIX = "Demo "
"""Prefix of project-less demo rows: processing services, public S3 sources, devices, sites."""
TAXON_SUFFIX = " (demo)"
"""Suffix of every demo taxon's name (taxon names are globally unique)."""

# order -> families -> genera -> number of species in each genus.
TAXA_TREE: dict[str, dict[str, dict[str, int]]] = {
    "Lepidoptera": {
        "Erebidae": {"Eulepidotis": 4, "Letis": 2, "Hypena": 3},
        "Noctuidae": {"Spodoptera": 3, "Agrotis": 2},
        "Geometridae": {"Oxydia": 3, "Semiothisa": 2, "Eupithecia": 2},
        "Crambidae": {"Diaphania": 3, "Palpita": 2},
        "Sphingidae": {"Xylophanes": 3, "Manduca": 2},
    }
}
