"""Global rows of the demo: the taxa tree, and the ML algorithms, pipelines and services.

These are a few dozen rows, created through the ORM. Taxa, pipelines and algorithms are global
in Antenna; projects reach them through ``Taxon.projects``, ``ProjectPipelineConfig`` and
``ProcessingService.projects``, which ``link_catalog`` fills.
"""

from __future__ import annotations

import msgspec

from ami.main.demo.shapes import GLOBAL_NAME_PREFIX, SHARED_NAME_PREFIX, TAXA_TREE, TAXON_SUFFIX
from ami.main.models import Project, Tag, TaxaList, Taxon, TaxonRank
from ami.ml.models import (
    Algorithm,
    AlgorithmCategoryMap,
    Pipeline,
    ProcessingService,
    ProjectPipelineConfig,
)


class Catalog(msgspec.Struct, frozen=True, kw_only=True):
    """Ids of the global demo rows that the bulk SQL and the projects refer to."""

    order_id: int
    family_ids: tuple[int, ...]
    genus_ids: tuple[int, ...]
    species_ids: tuple[int, ...]
    category_map_id: int
    detector_id: int
    binary_id: int
    classifier_id: int
    regional_pipeline_id: int
    global_pipeline_id: int
    service_ids: tuple[int, ...]


def _taxon(name: str, rank: TaxonRank, parent: Taxon | None) -> Taxon:
    parents = []
    if parent is not None:
        parents = [
            *parent.parents_json,
            {"id": parent.pk, "name": parent.name, "rank": parent.rank},
        ]
    return Taxon.objects.create(
        name=f"{name}{TAXON_SUFFIX}", rank=rank.name, parent=parent, parents_json=parents
    )


def create_taxa() -> dict[str, list[Taxon]]:
    """Create order -> family -> genus -> species, with ``parents_json`` filled.

    Returns:
        Taxa by rank name (``ORDER``, ``FAMILY``, ``GENUS``, ``SPECIES``), in tree order.
    """
    taxa: dict[str, list[Taxon]] = {"ORDER": [], "FAMILY": [], "GENUS": [], "SPECIES": []}
    for order_name, families in TAXA_TREE.items():
        order = _taxon(order_name, TaxonRank.ORDER, None)
        taxa["ORDER"].append(order)
        for family_name, genera in families.items():
            family = _taxon(family_name, TaxonRank.FAMILY, order)
            taxa["FAMILY"].append(family)
            for genus_name, n_species in genera.items():
                genus = _taxon(genus_name, TaxonRank.GENUS, family)
                taxa["GENUS"].append(genus)
                for i in range(1, n_species + 1):
                    taxa["SPECIES"].append(
                        _taxon(f"{genus_name} sp{i:02d}", TaxonRank.SPECIES, genus)
                    )
    return taxa


def create_ml(species: list[Taxon]) -> dict[str, int]:
    """Create a category map, three algorithms, two pipelines and two processing services.

    Processing services go through the ORM: ours makes no network call on create.
    """
    category_map = AlgorithmCategoryMap.objects.create(
        data=[{"index": i, "label": t.name, "taxon_id": t.pk} for i, t in enumerate(species)],
        labels=[t.name for t in species],
        version="demo-2024",
        description="Panama moths (demo)",
    )
    algos = {
        key: Algorithm.objects.create(
            name=name, key=f"{GLOBAL_NAME_PREFIX}{key}", task_type=task, category_map=cmap
        )
        for key, name, task, cmap in (
            ("detector", "Demo moth detector", "detection", None),
            ("binary", "Demo moth / non-moth", "classification", None),
            ("classifier", "Demo Panama species classifier", "classification", category_map),
        )
    }
    regional = Pipeline.objects.create(
        name="Demo Panama moths 2024", slug=f"{GLOBAL_NAME_PREFIX}panama-moths-2024"
    )
    global_ = Pipeline.objects.create(
        name="Demo global moths", slug=f"{GLOBAL_NAME_PREFIX}global-moths"
    )
    regional.algorithms.add(*algos.values())
    global_.algorithms.add(algos["detector"], algos["binary"])
    services = [
        ProcessingService.objects.create(
            name=f"{SHARED_NAME_PREFIX}GPU service", endpoint_url="http://ml.demo.invalid:2000"
        ),
        ProcessingService.objects.create(name=f"{SHARED_NAME_PREFIX}pull workers"),
    ]
    services[0].pipelines.add(regional, global_)
    services[1].pipelines.add(regional)
    return {
        "category_map_id": category_map.pk,
        "detector_id": algos["detector"].pk,
        "binary_id": algos["binary"].pk,
        "classifier_id": algos["classifier"].pk,
        "regional_pipeline_id": regional.pk,
        "global_pipeline_id": global_.pk,
        "service_ids": (services[0].pk, services[1].pk),
    }


def create_catalog() -> Catalog:
    """Create every global demo row and return their ids."""
    taxa = create_taxa()
    ml = create_ml(taxa["SPECIES"])
    return Catalog(
        order_id=taxa["ORDER"][0].pk,
        family_ids=tuple(t.pk for t in taxa["FAMILY"]),
        genus_ids=tuple(t.pk for t in taxa["GENUS"]),
        species_ids=tuple(t.pk for t in taxa["SPECIES"]),
        **ml,
    )


def link_catalog(catalog: Catalog, source: Project, target: Project, third: Project) -> None:
    """Link taxa, taxa lists, tags, pipelines and services to the three projects.

    The source and the target differ on purpose: the target has its own enabled pipeline and
    config, only part of the taxa, and a taxa list it shares with the source.
    """
    every = [catalog.order_id, *catalog.family_ids, *catalog.genus_ids, *catalog.species_ids]
    source.taxa.add(*every)
    target.taxa.add(catalog.order_id, *catalog.family_ids[:2], *catalog.species_ids[:6])
    third.taxa.add(catalog.order_id)

    bci_list = TaxaList.objects.create(name="BCI species (demo)")
    bci_list.taxa.add(*catalog.species_ids)
    bci_list.projects.add(source)
    checklist = TaxaList.objects.create(name="Panama checklist (demo)")
    checklist.taxa.add(*catalog.species_ids[::2])
    checklist.projects.add(source, target)
    Tag.objects.create(name="pollinator", project=source).taxa.add(*catalog.species_ids[:3])
    Tag.objects.create(name="pest", project=target).taxa.add(catalog.species_ids[4])

    configs = (
        (source, catalog.regional_pipeline_id, True, {"batch_size": 16}),
        (source, catalog.global_pipeline_id, False, {}),
        (target, catalog.global_pipeline_id, True, {"batch_size": 4, "threshold": 0.7}),
        (third, catalog.regional_pipeline_id, True, {}),
    )
    ProjectPipelineConfig.objects.bulk_create(
        ProjectPipelineConfig(project=p, pipeline_id=pipe, enabled=on, config=cfg)
        for p, pipe, on, cfg in configs
    )
    gpu, pull = ProcessingService.objects.filter(pk__in=catalog.service_ids).order_by("pk")
    gpu.projects.add(source, target)
    pull.projects.add(source)
