"""The 41 scenarios of the original command's test module, one test each, in its classes.

Where the original only checked membership, roles are asserted; where it used
``assertRaises(msg=...)`` (which never checks the message), the message is asserted.
"""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError
from django.test import TestCase

from ami.jobs.models import Job
from ami.main.models import (
    Classification,
    Deployment,
    Detection,
    Device,
    Event,
    Occurrence,
    Project,
    S3StorageSource,
    SourceImage,
    SourceImageCollection,
    Taxon,
)
from ami.ml.models import ProjectPipelineConfig
from tests.ami.move.commands import primary_role, roles, run_move
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
    service_links,
    setup_source,
)


class MoveTestCase(TestCase):
    with_identifications = False

    def setUp(self) -> None:
        self.s = setup_source(3, with_identifications=self.with_identifications)
        self.source = self.s.project
        self.target = make_project("Target Project", make_user("target-owner"))

    def move(self, *flags: str, deployments: list[int] | None = None, **kwargs: object) -> str:
        kwargs.setdefault("target", self.target)
        return run_move(self.source, deployments or [self.s.dep.pk], *flags, **kwargs)


class TestMoveToExistingProject(MoveTestCase):
    def test_basic_move(self) -> None:
        out = self.move()
        assert "ALL VALIDATION CHECKS PASSED" in out
        assert out.rstrip().endswith("MOVE COMPLETE")
        self.s.dep.refresh_from_db()
        assert self.s.dep.project_id == self.target.pk
        assert SourceImage.objects.filter(deployment=self.s.dep, project=self.target).count() == 3
        assert not SourceImage.objects.filter(deployment=self.s.dep, project=self.source).exists()
        assert Occurrence.objects.filter(deployment=self.s.dep, project=self.target).count() == 3
        assert not Occurrence.objects.filter(project=self.source).exists()
        assert Event.objects.filter(deployment=self.s.dep, project=self.target).count() == 1
        assert Detection.objects.filter(source_image__deployment=self.s.dep).count() == 3
        assert Detection.objects.filter(source_image__project=self.target).count() == 3
        assert (
            Classification.objects.filter(detection__source_image__project=self.target).count()
            == 3
        )
        assert SourceImage.objects.filter(project=self.source).count() == 0

    def test_taxa_linked_to_target(self) -> None:
        self.move()
        assert self.s.species in self.target.taxa.all()
        # The order is linked to the source only; determinations (the species) are linked.
        assert set(self.target.taxa.all()) == {self.s.species}

    def test_conservation_counts(self) -> None:
        images = SourceImage.objects.filter(project=self.source).count()
        occurrences = Occurrence.objects.filter(project=self.source).count()
        self.move()
        assert SourceImage.objects.filter(project__in=[self.source, self.target]).count() == images
        assert (
            Occurrence.objects.filter(project__in=[self.source, self.target]).count()
            == occurrences
        )

    def test_jobs_moved(self) -> None:
        job = make_job(self.source, deployment=self.s.dep, pipeline=make_pipeline())
        self.move()
        job.refresh_from_db()
        assert job.project_id == self.target.pk
        assert Job.objects.filter(project=self.source).count() == 0


class TestDryRun(MoveTestCase):
    def test_dry_run_no_changes(self) -> None:
        out = self.move(execute=False)
        assert "DRY RUN" in out
        assert "DRY RUN COMPLETE — no changes made. Re-run with --execute to proceed." in out
        self.s.dep.refresh_from_db()
        assert self.s.dep.project_id == self.source.pk
        assert SourceImage.objects.filter(project=self.source).count() == 3
        assert Occurrence.objects.filter(project=self.source).count() == 3
        assert SourceImage.objects.filter(project=self.target).count() == 0


class TestCreateProject(MoveTestCase):
    def test_create_new_target(self) -> None:
        out = self.move(target=None, create="Nunavik")
        assert "Target project: NEW — 'Nunavik'" in out
        created = Project.objects.get(name="Nunavik")
        self.s.dep.refresh_from_db()
        assert self.s.dep.project_id == created.pk
        assert created.owner_id == self.s.owner.pk
        assert SourceImage.objects.filter(project=created).count() == 3
        # Real defaults, not mocked: the default station, device, site and collection exist.
        assert Deployment.objects.filter(project=created, name="Default Station").exists()
        assert SourceImageCollection.objects.filter(project=created, name="All Images").exists()
        assert primary_role(self.s.owner, created) == "ProjectManager"

    def test_create_project_copies_members(self) -> None:
        member = make_user("member")
        self.source.members.add(member)
        self.move(target=None, create="Nunavik")
        created = Project.objects.get(name="Nunavik")
        assert member in created.members.all()
        assert roles(member, created) == {"BasicMember"}


class TestErrorHandling(MoveTestCase):
    def test_source_project_not_found(self) -> None:
        with pytest.raises(CommandError, match=r"^Source project 999999 does not exist"):
            run_move(Project(pk=999999), [self.s.dep.pk], target=self.target)

    def test_target_project_not_found(self) -> None:
        with pytest.raises(CommandError, match=r"^Target project 999999 does not exist"):
            self.move(target=Project(pk=999999))

    def test_deployment_not_found(self) -> None:
        with pytest.raises(CommandError, match=r"^Deployments not found: \[999999\]"):
            self.move(deployments=[self.s.dep.pk, 999999])

    def test_deployment_wrong_project(self) -> None:
        other = make_project("Other")
        dep = add_deployment(other, "Elsewhere", 1).dep
        pattern = (
            rf"^Deployments not in source project {self.source.pk}: \{{{dep.pk}: {other.pk}\}}"
            rf".*pass --source-project {other.pk} or drop {dep.pk}"
        )
        with pytest.raises(CommandError, match=pattern):
            self.move(deployments=[self.s.dep.pk, dep.pk])

    def test_both_target_and_create(self) -> None:
        with pytest.raises(
            CommandError, match=r"^Use either --target-project or --create-project, not both$"
        ):
            self.move(create="New")

    def test_neither_target_nor_create(self) -> None:
        with pytest.raises(
            CommandError, match=r"^Must specify either --target-project or --create-project"
        ):
            self.move(target=None)

    def test_source_equals_target(self) -> None:
        with pytest.raises(
            CommandError, match=r"^Target project cannot be the same as source project"
        ):
            self.move(target=self.source)
        self.s.dep.refresh_from_db()
        assert self.s.dep.project_id == self.source.pk

    def test_duplicate_deployment_ids(self) -> None:
        out = self.move(deployments=[self.s.dep.pk, self.s.dep.pk])
        assert f"Deployments to move: [{self.s.dep.pk}]" in out
        self.s.dep.refresh_from_db()
        assert self.s.dep.project_id == self.target.pk


class TestSharedResourceCloning(MoveTestCase):
    def _staying(self, **resources: object) -> Deployment:
        return add_deployment(self.source, "Dep B", 1, **resources).dep

    def test_exclusive_device_reassigned(self) -> None:
        out = self.move(execute=False)
        assert f"Device 'Trap camera' (id={self.s.device.pk}" in out
        self.move()
        self.s.device.refresh_from_db()
        self.s.dep.refresh_from_db()
        assert self.s.dep.device_id == self.s.device.pk
        assert self.s.device.project_id == self.target.pk

    def test_shared_device_cloned(self) -> None:
        self._staying(device=self.s.device)
        assert "will CLONE" in self.move(execute=False)
        self.move()
        self.s.device.refresh_from_db()
        self.s.dep.refresh_from_db()
        assert self.s.device.project_id == self.source.pk
        assert self.s.dep.device_id != self.s.device.pk
        assert self.s.dep.device.project_id == self.target.pk
        assert self.s.dep.device.name == "Trap camera"

    def test_exclusive_site_reassigned(self) -> None:
        self.move()
        self.s.site.refresh_from_db()
        assert self.s.site.project_id == self.target.pk
        assert Deployment.objects.get(pk=self.s.dep.pk).research_site_id == self.s.site.pk

    def test_shared_site_cloned(self) -> None:
        self._staying(site=self.s.site)
        self.move()
        self.s.site.refresh_from_db()
        self.s.dep.refresh_from_db()
        assert self.s.site.project_id == self.source.pk
        assert self.s.dep.research_site_id != self.s.site.pk
        assert self.s.dep.research_site.project_id == self.target.pk
        assert self.s.dep.research_site.name == "Field site"

    def test_exclusive_s3_source_reassigned(self) -> None:
        self.move()
        self.s.s3.refresh_from_db()
        assert self.s.s3.project_id == self.target.pk
        assert Deployment.objects.get(pk=self.s.dep.pk).data_source_id == self.s.s3.pk

    def test_shared_s3_source_cloned(self) -> None:
        self._staying(data_source=self.s.s3)
        out = self.move()
        assert "SECRET-DO-NOT-PRINT" not in out
        assert "AKIA-DO-NOT-PRINT" not in out
        self.s.s3.refresh_from_db()
        self.s.dep.refresh_from_db()
        assert self.s.s3.project_id == self.source.pk
        clone = S3StorageSource.objects.get(pk=self.s.dep.data_source_id)
        assert clone.pk != self.s.s3.pk
        assert clone.project_id == self.target.pk

    def test_device_owned_by_other_project_unchanged(self) -> None:
        other = make_project("Third")
        device = Device.objects.create(name="Borrowed", project=other)
        # Antenna's original test does exactly this: a plain save through its model API.
        self.s.dep.device = device
        self.s.dep.save(update_calculated_fields=False, regroup_async=False)
        assert f"no change needed (owned by project {other.pk})" in self.move(execute=False)
        self.move()
        device.refresh_from_db()
        assert device.project_id == other.pk
        assert Deployment.objects.get(pk=self.s.dep.pk).device_id == device.pk


class TestCollectionHandling(MoveTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.b = add_deployment(self.source, "Dep B", 2)

    def test_exclusive_collection_reassigned(self) -> None:
        coll = make_collection(self.source, self.s.images, "Only A")
        assert "EXCLUSIVE — all 3 images moving → will REASSIGN" in self.move(execute=False)
        self.move()
        coll.refresh_from_db()
        assert coll.project_id == self.target.pk
        assert coll.images.count() == 3

    def test_mixed_collection_split(self) -> None:
        coll = make_collection(
            self.source,
            self.s.images + self.b.images,
            "Mixed",
            method="random",
            kwargs={"seed": 42},
        )
        assert (
            "MIXED — 3 moving, 2 staying → will SPLIT (clone to target, remove from source)"
            in self.move(execute=False)
        )
        self.move()
        assert set(coll.images.all()) == set(self.b.images)
        clone = SourceImageCollection.objects.get(project=self.target, name="Mixed")
        assert set(clone.images.all()) == set(self.s.images)
        assert (clone.method, clone.kwargs) == ("random", {"seed": 42})
        assert coll.images.count() + clone.images.count() == 5

    def test_no_clone_collections_flag(self) -> None:
        coll = make_collection(self.source, self.s.images + self.b.images, "Mixed")
        assert "will REMOVE moved images from source only" in self.move(
            "--no-clone-collections", execute=False
        )
        self.move("--no-clone-collections")
        assert set(coll.images.all()) == set(self.b.images)
        assert not SourceImageCollection.objects.filter(project=self.target, name="Mixed").exists()

    def test_mixed_collection_split_remaps_jobs(self) -> None:
        coll = make_collection(self.source, self.s.images + self.b.images, "Mixed")
        moved_job = make_job(self.source, deployment=self.s.dep, source_image_collection=coll)
        staying_job = make_job(self.source, deployment=self.b.dep, source_image_collection=coll)
        self.move()
        clone = SourceImageCollection.objects.get(project=self.target, name="Mixed")
        moved_job.refresh_from_db()
        staying_job.refresh_from_db()
        assert (moved_job.source_image_collection_id, moved_job.project_id) == (
            clone.pk,
            self.target.pk,
        )
        assert (staying_job.source_image_collection_id, staying_job.project_id) == (
            coll.pk,
            self.source.pk,
        )

    def test_no_clone_collections_nulls_moved_job_collection(self) -> None:
        coll = make_collection(self.source, self.s.images + self.b.images, "Mixed")
        job = make_job(self.source, deployment=self.s.dep, source_image_collection=coll)
        self.move("--no-clone-collections")
        job.refresh_from_db()
        assert job.source_image_collection_id is None
        assert job.project_id == self.target.pk


class TestPipelineConfigCloning(MoveTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.pipeline = make_pipeline()
        make_pipeline_config(self.source, self.pipeline, enabled=False, config={"batch_size": 32})

    def test_pipeline_config_cloned(self) -> None:
        assert f"Pipeline configs to clone: [{self.pipeline.pk}]" in self.move(execute=False)
        self.move()
        config = ProjectPipelineConfig.objects.get(project=self.target, pipeline=self.pipeline)
        assert (config.enabled, config.config) == (False, {"batch_size": 32})

    def test_existing_pipeline_config_not_duplicated(self) -> None:
        make_pipeline_config(self.target, self.pipeline, enabled=True, config={"batch_size": 64})
        self.move()
        configs = ProjectPipelineConfig.objects.filter(project=self.target, pipeline=self.pipeline)
        assert configs.count() == 1
        assert (configs[0].enabled, configs[0].config) == (True, {"batch_size": 64})

    def test_no_clone_pipelines_flag(self) -> None:
        self.move("--no-clone-pipelines")
        assert not ProjectPipelineConfig.objects.filter(project=self.target).exists()


class TestProcessingServiceLinking(MoveTestCase):
    def test_processing_services_linked(self) -> None:
        service = make_processing_service(self.source)
        self.move()
        assert service_links(service, self.target) == 1

    def test_already_linked_service_not_duplicated(self) -> None:
        service = make_processing_service(self.source, self.target)
        assert "Processing services to link: []" in self.move(execute=False)
        self.move()
        assert service_links(service, self.target) == 1


class TestIdentifierRolePreservation(MoveTestCase):
    with_identifications = True

    def test_identifiers_added_to_target(self) -> None:
        out = self.move(execute=False)
        assert f"User id={self.s.identifier.pk} (identifier)" in out
        assert "@example.com" not in out
        self.move()
        assert self.s.identifier in self.target.members.all()
        assert roles(self.s.identifier, self.target) == {"BasicMember", "Identifier"}

    def test_identifier_already_member_not_duplicated(self) -> None:
        self.target.members.add(self.s.identifier)
        before = self.target.members.count()
        self.move()
        assert self.target.members.count() == before
        assert roles(self.s.identifier, self.target) == {"BasicMember"}


class TestTaxaListLinking(MoveTestCase):
    def test_taxa_lists_linked(self) -> None:
        taxa_list = make_taxa_list("Moths", self.source, taxa=(self.s.species,))
        assert (
            f"'Moths' (id={taxa_list.pk}): 1 taxa, shared with 1 project(s) → will link to target"
            in self.move(execute=False)
        )
        self.move()
        assert self.target in taxa_list.projects.all()
        assert self.source in taxa_list.projects.all()


class TestDefaultFilterCopying(MoveTestCase):
    def test_score_threshold_copied(self) -> None:
        Project.objects.filter(pk=self.source.pk).update(default_filters_score_threshold=0.75)
        self.move()
        self.target.refresh_from_db()
        assert self.target.default_filters_score_threshold == 0.75

    def test_include_exclude_taxa_copied(self) -> None:
        self.source.default_filters_include_taxa.add(self.s.order)
        self.source.default_filters_exclude_taxa.add(self.s.species)
        out = self.move(execute=False)
        assert f"Include taxa: {self.s.order.name}" in out
        assert f"Exclude taxa: {self.s.species.name}" in out
        self.move()
        assert list(self.target.default_filters_include_taxa.all()) == [self.s.order]
        assert list(self.target.default_filters_exclude_taxa.all()) == [self.s.species]


class TestEdgeCases(MoveTestCase):
    def test_move_deployment_with_no_images(self) -> None:
        empty = add_deployment(self.source, "Empty", 0).dep
        out = self.move(deployments=[empty.pk])
        assert "lightweight transfer" in out
        empty.refresh_from_db()
        assert empty.project_id == self.target.pk

    def test_move_all_deployments_from_source(self) -> None:
        b = add_deployment(self.source, "Dep B", 2).dep
        self.move(deployments=[self.s.dep.pk, b.pk])
        assert Deployment.objects.filter(project=self.source).count() == 0
        assert SourceImage.objects.filter(project=self.source).count() == 0
        assert Deployment.objects.filter(project=self.target).count() == 2

    def test_move_multiple_deployments(self) -> None:
        b = add_deployment(self.source, "Dep B", 2).dep
        self.move(deployments=[self.s.dep.pk, b.pk])
        assert SourceImage.objects.filter(project=self.target).count() == 5

    def test_target_already_has_taxa(self) -> None:
        second = Taxon.objects.create(name="Second species")
        add_deployment(self.source, "Dep B", 1, taxon=second, occurrences=True)
        self.s.species.projects.add(self.target)
        # An occurrence not determined yet is no taxon, neither counted nor linked.
        Occurrence.objects.create(
            project=self.source, deployment=self.s.dep, event=self.s.event, determination=None
        )
        out = self.move(
            execute=False, deployments=[self.s.dep.pk, Deployment.objects.get(name="Dep B").pk]
        )
        assert "2 distinct taxa; 1 to link" in out
        self.move(deployments=[self.s.dep.pk, Deployment.objects.get(name="Dep B").pk])
        assert self.target.taxa.filter(pk=self.s.species.pk).count() == 1
        assert second in self.target.taxa.all()
