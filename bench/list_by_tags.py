"""list-kms-by-tags filter page at 10,000 keys against 100 keys, same tag selectivity (target ratio <= 1.5).

Two projects in one SQLite store, one with 100 keys and one with 10,000, tagged alike: every key
carries ``env`` (one in five ``prod``) and ``tier`` (one in two ``gold``), so each filter matches the
same share of keys in both (20 and 2,000 keys for ``env=prod``; 10 and 1,000 for both tags). The
same requests against each, interleaved: a first filter page of 10, a page from the middle (offset
= half the matches), the two-tag filter (``env=prod`` AND ``tier=gold``), and ``count``. Keys and
tags are made through the stores (as create-key and batch-create-kms-tags would), the requests go
through the logic function. The target is the one-tag filter page's; the two-tag filter is shown
as well: its total needs a pass over the keys of its rarer tag (a probe each), so it grows with them.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS, CALLS = 7, 30
PROD_EVERY, GOLD_EVERY = 5, 2


def _seed(services: Any, project: str, count: int) -> None:
    from skms.domain import KeyVersions
    from tests.support.records import CREATED_MS, key_record

    for index in range(count):
        record = key_record(
            project,
            key_alias=f"bench-{index}",
            creation_date=CREATED_MS + index,
            versions=KeyVersions.first(os.urandom(61), CREATED_MS + index),
        )
        services.stores.keys.create_key(record)
        tags = {
            "env": "prod" if index % PROD_EVERY == 0 else f"dev{index % 7}",
            "tier": "gold" if index % GOLD_EVERY == 0 else "silver",
            "owner": f"team-{index % 13}",
        }
        services.stores.tags.change_tags(project, record.key_id, put=tags, max_tags=10)


def run(large: int = 10_000, small: int = 100) -> float:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from skms.caller import Caller
    from skms.config import Settings
    from skms.logic.tags import list_kms_by_tags
    from skms.models.base import parse_body
    from skms.models.tags import ListKmsByTagsRequestBody
    from skms.runtime import build_services

    prod = [{"key": "env", "values": ["prod"]}]
    requests: dict[str, dict[str, Any]] = {
        "filter env=prod, first page": {"action": "filter", "limit": "10", "tags": prod},
        "filter env=prod, middle page": {"action": "filter", "limit": "10", "tags": prod},
        "filter env=prod AND tier=gold": {
            "action": "filter",
            "limit": "10",
            "tags": [*prod, {"key": "tier", "values": ["gold"]}],
        },
        "count env=prod": {"action": "count", "tags": prod},
    }
    sizes = {"small": small, "large": large}
    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=Path(data_dir)))
        # Seeding only: this thread's connection (the one the stores use here) without an fsync
        # per write; the measured reads are the same either way.
        cast(Any, services.stores.tags)._db.connection().execute("PRAGMA synchronous = OFF")
        seeded = time.perf_counter()
        for project, count in sizes.items():
            _seed(services, project, count)
        seeded = time.perf_counter() - seeded
        results: dict[str, dict[str, list[float]]] = {name: {"small": [], "large": []} for name in requests}
        for _ in range(ROUNDS):
            for project, count in sizes.items():
                caller = Caller(project, "d" * 32, "bench")
                for name, request in requests.items():
                    fields = dict(request)
                    if name.endswith("middle page"):
                        fields["offset"] = str(count // PROD_EVERY // 2)
                    body = parse_body(ListKmsByTagsRequestBody, fields)
                    answer = list_kms_by_tags(body, caller, services)
                    assert fields["action"] == "count" or len(answer.resources or []) == 10, name
                    started = time.perf_counter()
                    for _ in range(CALLS):
                        list_kms_by_tags(body, caller, services)
                    results[name][project].append((time.perf_counter() - started) / CALLS)
        services.stores.close()

    print(
        f"list-kms-by-tags, page of 10, {large:,} keys against {small:,} keys, 20% carry env=prod "
        f"(SQLite; seeded in {seeded:.1f} s):"
    )
    worst = 0.0
    for name, per_project in results.items():
        small_t = statistics.median(per_project["small"])
        large_t = statistics.median(per_project["large"])
        ratio = large_t / small_t
        if name.startswith("filter env=prod,"):
            worst = max(worst, ratio)
        print(f"  {name:<36} {small_t * 1e3:7.2f} ms vs {large_t * 1e3:7.2f} ms   ratio {ratio:.2f}")
    print(f"  worst filter-page ratio: {worst:.2f}  (target <= 1.5)")
    return worst


if __name__ == "__main__":
    run()
