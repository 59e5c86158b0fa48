from django.apps import AppConfig


class ToyConfig(AppConfig):
    name = "tests.ledger.toyapp"
    label = "toyapp"
    verbose_name = "Ledger test schema"
    default_auto_field = "django.db.models.BigAutoField"
