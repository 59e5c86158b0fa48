"""The whole story on demo data: generate, dry run, move, show the ledger, verify, revert.

python manage.py run_demo [--scale tiny|bci|bci10] [--output-dir DIR]
"""

from __future__ import annotations

import re
import time
from io import StringIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from ami.main.demo import SCALES, generate_demo_data
from ledger.models import Move


class Command(BaseCommand):
    help = "Run the demo: migrate, generate data, move, inspect and verify the ledger, revert."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", choices=sorted(SCALES), default="tiny")
        parser.add_argument(
            "--output-dir", default=".demo", help="where the ledger export is written"
        )

    def _section(self, title: str) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {title}"))

    def _keys(self) -> Path:
        """The demo's keys, outside the database: made once in .ledger-keys/ and used."""
        folder = Path(settings.LEDGER_KEYS_DIR)
        signing, fingerprint = folder / "signing.pem", folder / "fingerprint.key"
        self._section(f"keys outside the database ({folder}/)")
        if not signing.exists():
            call_command("ledger_keygen", "--signing", str(signing), stdout=self.stdout)
        if not fingerprint.exists():
            call_command("ledger_keygen", "--fingerprint", str(fingerprint), stdout=self.stdout)
        settings.LEDGER_SIGNING_KEY_FILE = str(signing)
        settings.LEDGER_FINGERPRINT_KEY_FILE = str(fingerprint)
        database = connection.settings_dict["NAME"]
        checkpoint = folder / f"checkpoint-{database}.jsonl"
        if checkpoint.exists() and not Move.objects.exists():
            # A checkpoint of a database since recreated: verification would (rightly) call
            # this ledger a rewrite. The demo starts a new one and keeps the old one aside.
            aside = checkpoint.with_suffix(f".jsonl.{int(time.time())}.old")
            checkpoint.rename(aside)
            self.stdout.write(f"the database holds no move: previous checkpoint kept as {aside}")
        settings.LEDGER_CHECKPOINT_FILE = str(checkpoint)
        self.stdout.write(
            f"moves are signed with {signing} (reviewers get {signing.with_suffix('.pub')}); "
            f"each chain head is appended to {settings.LEDGER_CHECKPOINT_FILE}"
        )
        return signing.with_suffix(".pub")

    def handle(self, *args: Any, **options: Any) -> None:
        self._section("migrate")
        call_command("migrate", verbosity=0)
        public_key = self._keys()
        trust = ["--public-key", str(public_key), "--checkpoint", settings.LEDGER_CHECKPOINT_FILE]
        self._section(f"generate demo data ({options['scale']}; previous demo data replaced)")
        demo = generate_demo_data(options["scale"], reset=True)
        deployments = ",".join(map(str, demo.moved_deployment_ids))
        self.stdout.write(
            f"source project {demo.source_project_id}, target project "
            f"{demo.target_project_id}, deployments to move {deployments} "
            f"({demo.elapsed_seconds:.1f} s)"
        )
        move_args = [
            "--source-project", str(demo.source_project_id),
            "--target-project", str(demo.target_project_id),
            "--deployment-ids", deployments,
        ]  # fmt: skip
        self._section("move_project_data: dry run (the default)")
        dry = StringIO()
        call_command("move_project_data", *move_args, stdout=dry)
        self.stdout.write(dry.getvalue().rstrip())
        digest = re.search(r"Plan digest: (\S+)", dry.getvalue()).group(1)  # type: ignore[union-attr]
        self._section("move_project_data --execute --expect-plan <the digest just reviewed>")
        call_command(
            "move_project_data",
            *move_args,
            "--execute",
            "--expect-plan",
            digest,
            "--reason",
            "demo: stations filed under the wrong project",
            stdout=self.stdout,
        )
        move = Move.objects.order_by("-id").first()
        assert move is not None
        self._section(f"show_move {move.pk}")
        call_command("show_move", str(move.pk), stdout=self.stdout)
        self._section("verify_ledger, with the public key and the checkpoint")
        call_command("verify_ledger", *trust, stdout=self.stdout)
        export = Path(options["output_dir"]) / f"move-{move.pk}.jsonl"
        export.parent.mkdir(parents=True, exist_ok=True)
        self._section(f"export_ledger --move {move.pk}, then verify the file offline")
        call_command("export_ledger", "--move", str(move.pk), "--output", str(export))
        call_command(
            "verify_ledger",
            "--file",
            str(export),
            "--public-key",
            str(public_key),
            stdout=self.stdout,
        )
        self._section(f"revert_move {move.pk}: dry run, then --execute")
        call_command("revert_move", str(move.pk), stdout=self.stdout)
        call_command(
            "revert_move",
            str(move.pk),
            "--execute",
            "--reason",
            "demo: undo the move",
            stdout=self.stdout,
        )
        self._section("list_moves, and the whole chain verified again")
        call_command("list_moves", stdout=self.stdout)
        call_command("verify_ledger", *trust, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("\nDemo complete."))
