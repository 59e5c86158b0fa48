"""The ledger's ``revert_move``, followed by what to do about Antenna's query cache.

Antenna caches query results (django-cachalot, in Redis). A revert run from this checkout
writes Antenna's tables from another process, which that cache never hears of. This command
takes the ledger's place (``ami.main`` comes first in ``INSTALLED_APPS``) and adds the note;
run from Antenna's own ``manage.py`` (the ``ledger`` app in its ``INSTALLED_APPS``), cachalot
sees the revert's statements itself.
"""

from __future__ import annotations

from ledger.management.commands.revert_move import Command as LedgerRevertMove

CACHE_NOTE = (
    "Antenna caches query results (django-cachalot): until its cache is cleared "
    "(`python manage.py invalidate_cachalot` in Antenna, or a flush of its Redis cache), its "
    "web app may still show the reverted stations where the move had put them."
)


class Command(LedgerRevertMove):
    def handle(self, *args, **options) -> None:
        super().handle(*args, **options)
        if options["execute"] and options["format"] == "text" and options["verbosity"]:
            self.stdout.write(CACHE_NOTE)
