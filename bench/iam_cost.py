"""create-datakey by an IAM user holding a 10-statement policy vs by the account's own key (target >= 0.9).

`skms serve` on a free loopback port, request logs off. One AES_256 key; an IAM user of the same
domain and project, made with the management CLI, with one custom policy of ten statements (nine that
do not match the request — other actions, other keys, a condition that does not hold — and, last, the
Allow that does) and its own access key. The same create-datakey request, signed once with the
account's access key and once with the user's, is sent for a short fixed time over a few keep-alive
connections by the load generator of bench/_common.py, in pairs whose order alternates, so that drift
in a shared machine's load falls on both alike; the ratio printed is the median of the pairs' ratios.
What the user adds per request is the policy decision (the policies are cached, parsed, for the
access-key cache time): the ratio shows what that costs beside HTTP, the authorizer, the signature
check and the data key.
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PROJECT, Skms, kms_path, paired_ratio, skms_server

ROUNDS, SECONDS, CONNECTIONS = 12, 0.5, 4
TARGET = 0.9


def ten_statements(key_id: str) -> dict[str, Any]:
    """Nine statements that do not decide this request, then the one Allow that does."""
    other_key = f"KMS:*:*:KeyId:{uuid.uuid4()}"
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["kms:cmk:list", "kms:cmk:get"]},
        {"Effect": "Allow", "Action": ["kms:cmk:sign", "kms:cmk:verify"], "Resource": [other_key]},
        {"Effect": "Deny", "Action": ["kms:cmk:scheduleKeyDeletion"], "Resource": ["*"]},
        {"Effect": "Deny", "Action": ["kms:cmk:disable", "kms:cmk:enable"], "Resource": ["*"]},
        {
            "Effect": "Allow",
            "Action": ["kms:cmk:encryptData", "kms:cmk:decryptData"],
            "Resource": [other_key],
        },
        {
            "Effect": "Deny",
            "Action": ["kms:cmk:*"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {"kms:KeySpec": ["RSA_4096"]}},
        },
        {"Effect": "Allow", "Action": ["kms:cmkTag:list"], "Resource": ["*"]},
        {
            "Effect": "Allow",
            "Action": ["kms:cmk:create"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {"kms:KeySpec": ["AES_256"]}},
        },
        {"Effect": "Deny", "Action": ["kms:dek:create"], "Resource": [other_key]},
        {
            "Effect": "Allow",
            "Action": ["kms:cmk:createDataKey", "kms:cmk:encryptDataKey", "kms:cmk:decryptDataKey"],
            "Resource": [f"KMS:*:*:KeyId:{key_id}"],
            "Condition": {"StringEquals": {"kms:KeyUsage": ["ENCRYPT_DECRYPT"]}},
        },
    ]
    return {"Version": "5.0", "Statement": statements}


def _user_request(server: Skms, key_id: str) -> bytes:
    """The create-datakey request signed with a new IAM user's access key (user + policy by CLI)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as document:
        json.dump(ten_statements(key_id), document)
        document.flush()
        server.cli("policy", "create", "--name", "bench-ten-statements", "--document", document.name)
    name = "bench-user"
    user = server.cli("user", "create", "--name", name, "--project-id", PROJECT, stdin="bench-Password-1\n")
    server.cli("policy", "attach", "--user", name, "--policy", "bench-ten-statements")
    key = server.cli("access-key", "create", "--user", name)
    if key["user_id"] != user["user_id"]:
        raise RuntimeError("the access key does not belong to the user")
    body = {"key_id": key_id, "datakey_length": "256"}
    return server.signed(kms_path("create-datakey"), body, access_key=key["access"], secret_key=key["secret"])


def run() -> float:
    print("create-datakey by an IAM user with a 10-statement policy vs by the account (skms serve, SQLite)")
    with skms_server(log_level="WARNING") as server:
        status, created = server.call("create-key", {"key_alias": "bench-iam"})
        if status != 200:
            raise RuntimeError(f"create-key answered {status}: {created}")
        key_id = created["key_info"]["key_id"]
        requests = {
            "account": server.signed(kms_path("create-datakey"), {"key_id": key_id, "datakey_length": "256"}),
            "IAM user": _user_request(server, key_id),
        }
        return paired_ratio(
            server.port, requests, rounds=ROUNDS, seconds=SECONDS, connections=CONNECTIONS, target=TARGET
        )


if __name__ == "__main__":
    run()
