"""What signing and checkpointing add to one move's execute.

    python bench/signing.py [--repeat 500] [--execute-seconds 11.05 | --baseline bench-bci.json]

A signed move does three things an unsigned one does not, each once per move whatever its
size: read and parse the private key (``configured_signer``), sign the digest (Ed25519), and
append the chain head to the checkpoint file with an ``fsync``. This times exactly those
calls, the ledger's own functions on a real key file and a real checkpoint file in a scratch
folder, ``--repeat`` times, and prints the median and worst per move beside a move's execute
time (``--execute-seconds``, or the bci execute median of a ``bench/run.py --json`` file).
No database is involved: nothing else in a move differs between signed and unsigned.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

out = sys.stdout.write  # a benchmark prints its figures

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup_django(key_file: Path, checkpoint_file: Path) -> None:
    from django.conf import settings

    settings.configure(
        LEDGER_SIGNING_KEY_FILE=str(key_file),
        LEDGER_CHECKPOINT_FILE=str(checkpoint_file),
        INSTALLED_APPS=[],
    )


def _median_ms(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1000, max(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--execute-seconds", type=float, default=None)
    parser.add_argument("--baseline", default=None, help="a bench/run.py --json file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        key, public, heads = folder / "key.pem", folder / "key.pub", folder / "heads.jsonl"
        _setup_django(key, heads)
        from ledger import checkpoint, signing

        signing.generate(key, public)
        digest = "ab" * 32
        load, sign, append = [], [], []
        for move_id in range(1, args.repeat + 1):
            t0 = time.perf_counter()
            signer = signing.configured_signer()
            t1 = time.perf_counter()
            signature = signer.sign(digest)
            t2 = time.perf_counter()
            checkpoint.append(
                heads,
                checkpoint.CheckpointLine(
                    move_id=move_id,
                    digest=digest,
                    signature=signature,
                    signer=signer.fingerprint,
                    committed_at="2026-11-29T00:00:00+00:00",
                ),
            )
            t3 = time.perf_counter()
            load.append(t1 - t0)
            sign.append(t2 - t1)
            append.append(t3 - t2)
        total = [a + b + c for a, b, c in zip(load, sign, append, strict=True)]

    out(f"per move, {args.repeat} moves (median / worst, ms):\n")
    for name, samples in (
        ("read and parse the key", load),
        ("sign the digest", sign),
        ("append + fsync the checkpoint", append),
        ("all three", total),
    ):
        median, worst = _median_ms(samples)
        out(f"  {name:32} {median:8.3f} / {worst:8.3f}\n")

    execute = args.execute_seconds
    if execute is None and args.baseline:
        data = json.loads(Path(args.baseline).read_text())
        execute = data["scales"]["bci"]["commands"]["execute"]["median"]
    if execute:
        median, worst = _median_ms(total)
        share = median / 1000 / execute * 100
        verdict = "PASS" if worst / 1000 / execute * 100 < 5 else "FAIL"
        out(
            f"against a {execute:.2f} s execute: {share:.4f} % (median), "
            f"{worst / 1000 / execute * 100:.4f} % (worst); target < 5 %: {verdict}\n"
        )


if __name__ == "__main__":
    main()
