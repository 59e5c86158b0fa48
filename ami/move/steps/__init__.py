"""The ordered steps of a move: (label, function) pairs, nothing else."""

from __future__ import annotations

from ami.move.steps import (
    access,
    cached,
    collections,
    deployments,
    labelstudio,
    ml,
    project,
    shared,
)

CREATE_TARGET = "[create-target]"

STEPS = (
    (CREATE_TARGET, project.create_target),
    ("[clone-s3]", shared.clone_s3),
    ("[clone-device]", shared.clone_device),
    ("[clone-site]", shared.clone_site),
    ("[move-deployment]", deployments.move_deployment),
    ("[move-events]", deployments.move_events),
    ("[move-images]", deployments.move_images),
    ("[move-occurrences]", deployments.move_occurrences),
    ("[move-jobs]", deployments.move_jobs),
    ("[handle-collections]", collections.handle_collections),
    ("[all-images]", project.all_images),
    ("[clone-labelstudio-configs]", labelstudio.clone_labelstudio_configs),
    ("[remap-jobs-to-collections]", collections.remap_jobs_to_collections),
    ("[detach-job-images]", collections.detach_job_images),
    ("[data-export-residue]", collections.data_export_residue),
    ("[clone-pipeline-config]", ml.clone_pipeline_config),
    ("[link-services]", ml.link_services),
    ("[link-taxa]", access.link_taxa),
    ("[copy-tags]", access.copy_tags),
    ("[role-groups]", access.role_groups),
    ("[add-identifiers]", access.add_identifiers),
    ("[link-taxalists]", access.link_taxalists),
    ("[copy-defaults]", project.copy_defaults),
    ("[refresh-cached-fields]", cached.refresh_cached),
    ("[fire-post-save]", deployments.fire_post_save),
)

__all__ = ["CREATE_TARGET", "STEPS"]
