from django.apps import AppConfig


class MainConfig(AppConfig):
    name = "ami.main"
    label = "main"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from ami.main import signals  # noqa: F401  (connects receivers)

        if getattr(settings, "AMI_ATTACH", False):
            content_types_for_migrated_apps_only(settings.MIGRATION_MODULES)


def content_types_for_migrated_apps_only(migration_modules: dict) -> None:
    """Attached to Antenna's database, ``migrate`` writes content types and permissions for the
    apps it migrates only (the ledger's). Antenna's own ``migrate`` made its apps' rows; models
    Antenna does not have (pghistory's, the settings history) get none in its tables."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes
    from django.db.models.signals import post_migrate

    left_alone = {label for label, module in migration_modules.items() if module is None}

    def only_migrated(receiver):
        def receive(app_config, **kwargs):
            if app_config.label not in left_alone:
                receiver(app_config, **kwargs)

        return receive

    post_migrate.disconnect(create_contenttypes)
    post_migrate.disconnect(dispatch_uid="django.contrib.auth.management.create_permissions")
    for receiver in (create_contenttypes, create_permissions):
        post_migrate.connect(
            only_migrated(receiver), weak=False, dispatch_uid=f"ami.attach.{receiver.__name__}"
        )
