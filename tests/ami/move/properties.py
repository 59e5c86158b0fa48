"""How many examples the slow database properties run: a few in CI, many in the deep profile.

    HYPOTHESIS_PROFILE=deep python -m pytest -n 2 tests/ami/move/test_revert_chains.py \
        tests/ami/move/test_revert_properties.py
"""

from __future__ import annotations

import os

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"


def examples(ci: int, deep: int) -> int:
    """``ci`` examples by default, ``deep`` under the deep profile."""
    return deep if DEEP else ci
