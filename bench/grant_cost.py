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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PROJECT, Skms, kms_path, paired_ratio, skms_server

ROUNDS, SECONDS, CONNECTIONS = 12, 0.5, 4
TARGET = 0.9
GRANTED = ["describe-key", "encrypt-data", "decrypt-data"]


def _grantee_request(server: Skms, key_id: str) -> bytes:
    """The encrypt-data request signed with a new IAM user's access key; the user holds a grant."""
    name = "bench-grantee"
    user = server.cli("user", "create", "--name", name, "--project-id", PROJECT, stdin="bench-Password-1\n")
    key = server.cli("access-key", "create", "--user", name)
    grant = {"key_id": key_id, "grantee_principal": user["user_id"], "operations": GRANTED}
    status, answer = server.call("create-grant", grant)
    if status != 200:
        raise RuntimeError(f"create-grant answered {status}: {answer}")
    path = kms_path("encrypt-data")
    return server.signed(path, _body(key_id), access_key=key["access"], secret_key=key["secret"])


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
        return paired_ratio(
            server.port, requests, rounds=ROUNDS, seconds=SECONDS, connections=CONNECTIONS, target=TARGET
        )


if __name__ == "__main__":
    run()
