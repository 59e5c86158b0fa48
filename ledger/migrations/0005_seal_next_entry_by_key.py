"""``ledger_seal_write`` version 2: the next entry id is read off the last change group by its
key, not by a scan of every group (``ledger.protect.SEAL_FUNCTION_V2``). The function keeps
its owner, grants and ``SECURITY DEFINER``; on a database whose ledger objects belong to a
ledger owner (``ledger_setup_roles``), run this migration as a superuser, then
``ledger_setup_roles`` again (``OwnedSQL`` says so to any other role, in one line)."""

from django.db import migrations

from ledger.owned_sql import OwnedSQL
from ledger.protect import SEAL_FUNCTION_V1, SEAL_FUNCTION_V2


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_move_subjects")]

    operations = [OwnedSQL(SEAL_FUNCTION_V2, SEAL_FUNCTION_V1)]
