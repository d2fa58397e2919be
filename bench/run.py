"""`make bench`: every benchmark, each printing ratios measured side by side in one run."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import auth_cost
import import_time
import memory_peak


def main() -> int:
    print(
        f"skms benchmarks, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.processor() or 'cpu'}"
    )
    print()
    import_time.run()
    print()
    memory_peak.run()
    print()
    auth_cost.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
