"""How fast this machine is, as docs/performance.md compares the machines it ran on.

The targets' figures move with the machine (single-row verification is bound by Python's
hashing, capture by how fast the server writes): each benchmark prints this beside them.
"""

from __future__ import annotations

import hashlib
import timeit


def sha256_us() -> float:
    """Microseconds Python takes for ``sha256`` of 100 bytes (best of five)."""
    data = b"x" * 100
    number = 200_000
    best = min(timeit.repeat(lambda: hashlib.sha256(data).digest(), number=number, repeat=5))
    return best / number * 1e6
