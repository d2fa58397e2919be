"""list-keys page time at 10,000 keys against 100 keys (target ratio <= 1.5).

Two projects in one SQLite store, one with 100 keys and one with 10,000 (a mix of specs), the
same page request against each, interleaved: first page, a page from the middle (by marker), and
the default AES_256 filter. Pages are queries with a limit; the total is an indexed count.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS, CALLS = 7, 50
SPECS = ("AES_256", "AES_256", "SM4", "RSA_2048", "EC_P256")


def _seed(store: object, project: str, count: int) -> None:
    from skms.crypto.keyspec import KeySpec, KeyUsage
    from skms.domain import KeyRecord, KeyState, KeyVersions, Origin

    for index in range(count):
        store.create_key(  # type: ignore[attr-defined]
            KeyRecord(
                project_id=project,
                key_id=str(uuid.uuid4()),
                domain_id="d" * 32,
                key_alias=f"bench-{index}",
                key_spec=KeySpec(SPECS[index % len(SPECS)]),
                key_usage=KeyUsage.ENCRYPT_DECRYPT,
                key_state=KeyState.ENABLED,
                origin=Origin.KMS,
                creation_date=1_700_000_000_000 + index,
                versions=KeyVersions.first(os.urandom(61), 1_700_000_000_000 + index),
            )
        )


def run(large: int = 10_000, small: int = 100) -> float:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from skms.caller import Caller
    from skms.config import Settings
    from skms.logic.keys import list_keys
    from skms.models.lifecycle import ListKeysRequestBody
    from skms.runtime import build_services

    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=Path(data_dir)))
        seeded = time.perf_counter()
        _seed(services.stores.keys, "small", small)
        _seed(services.stores.keys, "large", large)
        seeded = time.perf_counter() - seeded

        def middle_marker(project: str) -> str:
            body = ListKeysRequestBody(limit="20", key_spec="ALL")
            caller = Caller(project, "d" * 32, "bench")
            marker = ""
            for _ in range((small if project == "small" else large) // 40):
                marker = list_keys(body.model_copy(update={"marker": marker}), caller, services).next_marker
            return marker

        requests = {
            "first page, ALL": {"limit": "20", "key_spec": "ALL"},
            "first page, default AES_256 filter": {"limit": "20"},
        }
        markers = {project: middle_marker(project) for project in ("small", "large")}
        results: dict[str, dict[str, list[float]]] = {name: {"small": [], "large": []} for name in requests}
        results["middle page, ALL"] = {"small": [], "large": []}
        for _ in range(ROUNDS):
            for project in ("small", "large"):
                caller = Caller(project, "d" * 32, "bench")
                for name, fields in requests.items():
                    body = ListKeysRequestBody(**fields)
                    started = time.perf_counter()
                    for _ in range(CALLS):
                        list_keys(body, caller, services)
                    results[name][project].append((time.perf_counter() - started) / CALLS)
                body = ListKeysRequestBody(limit="20", key_spec="ALL", marker=markers[project] or None)
                started = time.perf_counter()
                for _ in range(CALLS):
                    list_keys(body, caller, services)
                results["middle page, ALL"][project].append((time.perf_counter() - started) / CALLS)
        services.stores.close()

    print(f"list-keys page of 20, {large:,} keys against {small:,} keys (SQLite; seeded in {seeded:.1f} s):")
    worst = 0.0
    for name, per_project in results.items():
        small_t = statistics.median(per_project["small"])
        large_t = statistics.median(per_project["large"])
        ratio = large_t / small_t
        worst = max(worst, ratio)
        print(f"  {name:<36} {small_t * 1e3:7.2f} ms vs {large_t * 1e3:7.2f} ms   ratio {ratio:.2f}")
    print(f"  worst ratio: {worst:.2f}  (target <= 1.5)")
    return worst


if __name__ == "__main__":
    run()
