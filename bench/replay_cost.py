"""What replay protection costs per request (KMS_REPLAY_PROTECTION), on vs off in one run.

In one process, on the SQLite store with warm caches (a warm Lambda), interleaved rounds of AK/SK
requests that the authorizer allowed, each signed once and sent once (a fresh ``sequence`` makes
every signature new, so the guard records each one rather than answering from a record):
- create-key (AES_256, a state-changing operation: ``state-changing`` vs ``off``; a claim in process
  memory, a SELECT, and one SQLite commit of the record with its answer),
- create-datakey (an operation whose answer holds a secret: ``all`` vs ``off``; a marker in process
  memory, written behind by the flusher thread).
The function-side signature check runs in both. Prints medians per call and on/off throughput.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS, CALLS = 7, 200
PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
AK, SK = "AKBENCHAKBENCHAKBENC", "bench-secret-key-bench-secret-key-000000"


def run() -> float:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # measure the work, not the log lines
    from skms.auth.principals import create_access_key
    from skms.config import Settings
    from skms.runtime import Services, build_services, set_services
    from skms.sam_template import load_handler, routes_from_template
    from skms.storage.idempotency import close_replay_markers
    from tests.support.signer import authorized_event

    handlers = {r.code_uri.name: load_handler(r) for r in routes_from_template(ROOT / "template.yaml")}

    def signed(function: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        return authorized_event(operation, body, access_key=AK, secret_key=SK, project_id=PROJECT)

    def per_call(services: Services, function: str, events: list[dict[str, Any]]) -> float:
        set_services(services)
        handler = handlers[function]
        started = time.perf_counter()
        for event in events:
            reply = handler(event, None)
            assert reply["statusCode"] == 200, reply["body"]
        return (time.perf_counter() - started) / len(events)

    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        base = Settings(data_dir=Path(data_dir), key_quota=100_000)
        modes = {
            mode: build_services(base.model_copy(update={"replay_protection": mode}))
            for mode in ("state-changing", "all", "off")
        }
        create_access_key(
            modes["off"], domain_id="d" * 32, project_ids=(PROJECT,), access_key=AK, secret_key=SK
        )
        set_services(modes["off"])
        created = handlers["create_key"](signed("create_key", "create-key", {"key_alias": "bench"}), None)
        key_id = json.loads(created["body"])["key_info"]["key_id"]
        cases: list[tuple[str, str, str, Callable[[], dict[str, Any]]]] = [
            (
                "create-key",
                "create_key",
                "state-changing",
                lambda: {"key_alias": f"b-{uuid.uuid4().hex[:16]}", "sequence": str(uuid.uuid4())},
            ),
            (
                "create-datakey",
                "create_datakey",
                "all",
                lambda: {"key_id": key_id, "datakey_length": "256", "sequence": str(uuid.uuid4())},
            ),
        ]
        for operation, function, on, body in cases:
            samples: dict[str, list[float]] = {on: [], "off": []}
            for _ in range(ROUNDS + 1):  # the first round warms both sides up and is not counted
                for mode in (on, "off"):
                    events = [signed(function, operation, body()) for _ in range(CALLS)]
                    samples[mode].append(per_call(modes[mode], function, events))
            rows.append(
                (operation, on, statistics.median(samples[on][1:]), statistics.median(samples["off"][1:]))
            )
        set_services(None)
        close_replay_markers()  # its flusher writes into data_dir: done before the directory goes

    print(
        "replay protection cost, AK/SK requests through the function, "
        f"median of {ROUNDS} interleaved rounds of {CALLS}:"
    )
    print(f"  {'operation':<16} {'setting':<16} {'on us':>8} {'off us':>8} {'on/off throughput':>18}")
    for operation, on, t_on, t_off in rows:
        print(f"  {operation:<16} {on:<16} {t_on * 1e6:8.1f} {t_off * 1e6:8.1f} {t_off / t_on:18.2f}")
    worst = min(t_off / t_on for _, _, t_on, t_off in rows)
    print(f"  worst on/off throughput ratio: {worst:.2f} (target >= 0.90)")
    return worst


if __name__ == "__main__":
    run()
