from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "ami.users"
    label = "users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ami.users import signals  # noqa: F401  (connects receivers)
