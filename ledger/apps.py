from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    label = "ledger"
    verbose_name = "Move ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ledger import checks  # noqa: F401 - registers the system checks
        from ledger.registry import register_from_settings

        register_from_settings()  # LEDGER_TABLES: a host's tables, from its settings
        from django.db.models.signals import post_migrate

        from ledger.installed import forget_checked

        post_migrate.connect(forget_checked, dispatch_uid="ledger.installed.forget_checked")
