"""encrypt-data by alias against encrypt-data by key id, over real HTTP, in one run (target >= 0.9).

`skms serve` on a free loopback port, request logs off. One AES_256 key, one alias of it
(create-alias); then the same AK/SK-signed encrypt-data request, once naming the key by id and once
by ``alias/...``, is sent for a short fixed time over a few keep-alive connections by the load
generator of bench/_common.py, in pairs whose order alternates (id, alias, alias, id, ...), so that
drift in a shared machine's load falls on both alike; the ratio printed is the median of the
pairs' ratios. What the alias adds is one more consistent read (the alias record, in the gate) per
request: the ratio alias/id throughput shows what that costs beside HTTP, the authorizer, the
signature check and the encryption.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import kms_path, paired_ratio, skms_server

ROUNDS, SECONDS, CONNECTIONS = 12, 0.5, 4
TARGET = 0.9
ALIAS = "alias/bench-orders"


def run() -> float:
    print("encrypt-data by alias vs by key id (skms serve, SQLite, AK/SK)")
    with skms_server(log_level="WARNING") as server:
        status, created = server.call("create-key", {"key_alias": "bench-alias-target"})
        if status != 200:
            raise RuntimeError(f"create-key answered {status}: {created}")
        key_id = created["key_info"]["key_id"]
        status, alias = server.call("aliases", {"key_id": key_id, "alias": ALIAS})
        if status != 201:
            raise RuntimeError(f"create-alias answered {status}: {alias}")
        plain = "x" * 256
        requests = {
            "key id": server.signed(kms_path("encrypt-data"), {"key_id": key_id, "plain_text": plain}),
            "alias": server.signed(kms_path("encrypt-data"), {"key_id": ALIAS, "plain_text": plain}),
        }
        return paired_ratio(
            server.port,
            requests,
            rounds=ROUNDS,
            seconds=SECONDS,
            connections=CONNECTIONS,
            target=TARGET,
            label="by {}",
        )


if __name__ == "__main__":
    run()
