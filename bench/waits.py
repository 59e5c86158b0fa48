"""What the live probe's backends wait on, sampled from ``pg_stat_activity`` while they run.

A slow probe statement either waited for a lock a move holds (``wait_event_type`` ``Lock``:
the move froze part of the platform) or for something every heavy writer causes (the WAL
flush of its own commit behind the move's WAL, ``LWLock:WALWrite`` / ``IO:WALSync``; the
disk; the CPU). Sampling tells which, in the same run as the latencies.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg2

# Active probe backends that wait on something (an idle one waits for its client).
_SAMPLE = """
SELECT pid, wait_event_type, wait_event FROM pg_stat_activity
WHERE pid = ANY(%s) AND state = 'active' AND wait_event_type IS NOT NULL
"""


class WaitSampler(threading.Thread):
    """Samples the wait events of ``pids`` every ``interval`` seconds until stopped."""

    def __init__(self, url: str, pids: list[int], interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.pids = pids
        self.interval = interval
        self.stop = threading.Event()
        self.seen: Counter[str] = Counter()
        self.samples = 0
        # The longest run of consecutive samples in which one backend waited on a lock.
        self.longest_lock = 0
        self.longest_lock_event = ""

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        streak: dict[int, int] = {}
        with conn.cursor() as cur:
            while not self.stop.is_set():
                cur.execute(_SAMPLE, [self.pids])
                self.samples += 1
                locked = set()
                for pid, kind, event in cur.fetchall():
                    self.seen[f"{kind}:{event}"] += 1
                    if kind == "Lock":
                        locked.add(pid)
                        streak[pid] = streak.get(pid, 0) + 1
                        if streak[pid] > self.longest_lock:
                            self.longest_lock, self.longest_lock_event = streak[pid], event
                for pid in set(streak) - locked:
                    del streak[pid]
                time.sleep(self.interval)
        conn.close()

    def summary(self) -> str:
        """One line: the longest lock wait seen and the wait events, most frequent first."""
        ms = self.interval * 1000
        if self.longest_lock:
            lock = (
                f"a lock wait ({self.longest_lock_event}) over {self.longest_lock} samples, "
                f"about {self.longest_lock * ms:.0f} ms"
            )
        else:
            lock = "no lock wait"
        events = ", ".join(f"{event} x{n}" for event, n in self.seen.most_common(4)) or "none"
        return (
            f"  waits  {self.samples} samples every {ms:g} ms of the probes' backends: {lock}; "
            f"waiting on {events}"
        )
