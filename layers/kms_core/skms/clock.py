"""Wall-clock time as the service stores it: integer milliseconds since the Unix epoch.

A module of its own so that every package (auth, logic, ...) can read the clock without
importing another package for it.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
