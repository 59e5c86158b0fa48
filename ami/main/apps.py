from django.apps import AppConfig


class MainConfig(AppConfig):
    name = "ami.main"
    label = "main"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ami.main import signals  # noqa: F401  (connects receivers)
