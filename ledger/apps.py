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
