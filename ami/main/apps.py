from django.apps import AppConfig


class MainConfig(AppConfig):
    name = "ami.main"
    label = "main"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ami.main import signals  # noqa: F401  (connects receivers)
        from ami.move.revert import register_revert_hooks
        from ami.move.tracking import register_move_tables

        # Tell the ledger what a move writes and how a move checks itself when reverted.
        register_move_tables()
        register_revert_hooks()
