"""The move as an app of its own: it tells the ledger what a move captures and how a move
checks itself when reverted, so the models app does not depend on the feature."""

from django.apps import AppConfig


class MoveConfig(AppConfig):
    name = "ami.move"
    label = "move"
    verbose_name = "Move stations between projects"

    def ready(self) -> None:
        from ami.move.listing import register_list_filters
        from ami.move.revert import register_revert_hooks
        from ami.move.tracking import register_move_tables

        register_move_tables()
        register_revert_hooks()
        register_list_filters()
