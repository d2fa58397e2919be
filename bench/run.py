"""`make bench`: every benchmark, each printing ratios measured side by side in one run."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alias_resolution
import auth_cost
import grant_cost
import iam_cost
import iam_decision
import import_time
import list_by_tags
import list_keys
import memory_peak
import peer
import per_message
import per_message_serve
import replay_cost
import rotation
import server_throughput
import sign_verify


def main() -> int:
    print(
        f"skms benchmarks, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.processor() or 'cpu'}"
    )
    for bench in (
        import_time,
        memory_peak,
        auth_cost,
        iam_cost,
        iam_decision,
        grant_cost,
        replay_cost,
        per_message,
        per_message_serve,
        rotation,
        list_keys,
        list_by_tags,
        server_throughput,
        peer,
        sign_verify,
        alias_resolution,
    ):
        print()
        bench.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
