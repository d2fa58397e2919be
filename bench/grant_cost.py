"""encrypt-data by a grantee (an IAM user with no policy, one grant) vs by the account (target >= 0.9).


`skms serve` on a free loopback port, request logs off. One AES_256 key; an IAM user of the same
domain and project, made with the management CLI, with no policy at all and its own access key, and
one grant of describe-key, encrypt-data and decrypt-data on the key to that user (create-grant by the
account). The same encrypt-data request, signed once with the account's access key and once with the
user's, is sent for a short fixed time over a few keep-alive connections by the load generator of
bench/_common.py, in pairs whose order alternates; the ratio printed is the median of the pairs'
ratios. What the grantee adds per request is the policy decision (no policy: an implicit deny) and
the grant lookup (cached for the access-key cache time).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PROJECT, SKMS, Load, Skms, drive, kms_path, median_load, raw_request, skms_server

ROUNDS, SECONDS, CONNECTIONS = 12, 0.5, 4
TARGET = 0.9
GRANTED = ["describe-key", "encrypt-data", "decrypt-data"]


def _cli(server: Skms, *args: str, stdin: str = "") -> dict[str, Any]:
    done = subprocess.run(
        [str(SKMS), *args, "--data-dir", str(server.data_dir)],
        input=stdin,
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"skms {' '.join(args[:2])} failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _grantee_request(server: Skms, key_id: str) -> bytes:
    """The encrypt-data request signed with a new IAM user's access key; the user holds a grant."""
    from tests.support.signer import sign_headers

    name = "bench-grantee"
    user = _cli(server, "user", "create", "--name", name, "--project-id", PROJECT, stdin="bench-Password-1\n")
    key = _cli(server, "access-key", "create", "--user", name)
    grant = {"key_id": key_id, "grantee_principal": user["user_id"], "operations": GRANTED}
    status, answer = server.call("create-grant", grant)
    if status != 200:
        raise RuntimeError(f"create-grant answered {status}: {answer}")
    path = kms_path("encrypt-data")
    data = json.dumps(_body(key_id), separators=(",", ":")).encode()
    headers = sign_headers(
        access_key=key["access"],
        secret_key=key["secret"],
        method="POST",
        path=path,
        body=data,
        project_id=PROJECT,
        host=server.host,
    )
    request: bytes = raw_request("POST", path, headers, data)
    return request


def _body(key_id: str) -> dict[str, str]:
    return {"key_id": key_id, "plain_text": "x" * 256}


def run() -> float:
    print("encrypt-data by a grantee (no policy, one grant) vs by the account (skms serve, SQLite)")
    with skms_server(log_level="WARNING") as server:
        status, created = server.call("create-key", {"key_alias": "bench-grant"})
        if status != 200:
            raise RuntimeError(f"create-key answered {status}: {created}")
        key_id = created["key_info"]["key_id"]
        requests = {
            "account": server.signed(kms_path("encrypt-data"), _body(key_id)),
            "grantee": _grantee_request(server, key_id),
        }
        for request in requests.values():  # warm up; drive() raises unless every answer is 200
            drive(server.port, request, 0.3, CONNECTIONS)
        loads: dict[str, list[Load]] = {name: [] for name in requests}
        ratios: list[float] = []
        for round_number in range(ROUNDS):
            order = list(requests) if round_number % 2 == 0 else list(reversed(requests))
            measured = {name: drive(server.port, requests[name], SECONDS, CONNECTIONS) for name in order}
            for name, load in measured.items():
                loads[name].append(load)
            ratios.append(measured["grantee"].rate / measured["account"].rate)
    medians = {name: median_load(rounds) for name, rounds in loads.items()}
    for name, load in medians.items():
        print(
            f"  {name:<9} {load.rate:8.0f} req/s   p50 {load.p50 * 1000:6.2f} ms   "
            f"p99 {load.p99 * 1000:6.2f} ms   client cpu {load.client_cpu:.2f}"
        )
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio >= TARGET else "below target"
    print(
        f"  ratio grantee/account throughput: {ratio:.3f} (median of {ROUNDS} pairs; "
        f"min {min(ratios):.3f}, max {max(ratios):.3f}; target >= {TARGET}: {verdict})"
    )
    return ratio


if __name__ == "__main__":
    run()
