"""What authorization costs: an IAM user's decision against a 10-statement policy vs the account's.

In one process, on the SQLite store with warm caches (a warm Lambda; the policy parsed once, as the
store-backed PolicySource caches it), interleaved rounds of:
- ``authorize`` for the account (one branch) and for the user (the policy evaluated on the key's URN),
- the create-datakey logic called by the account and by the user (the gate decides inside it).
Prints medians per call and the ratios user / account (create-datakey: throughput, target >= 0.9).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS, CALLS = 7, 2000
PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
DOMAIN = "d" * 32
USER_ID = "0d04a1b2c3d4e5f60718293a4b5c6d7e"


def ten_statements(key_id: str) -> dict[str, Any]:
    """A realistic least-privilege policy: reads, a few scoped grants, two denies; the statement
    that allows create-datakey on the key is the eighth."""
    return {
        "Version": "5.0",
        "Statement": [
            {"Effect": "Allow", "Action": ["kms:cmk:list", "kms:cmk:get"], "Resource": ["*"]},
            {"Effect": "Allow", "Action": ["kms:cmk:getPublicKey", "kms:cmk:verify"], "Resource": ["*"]},
            {"Effect": "Allow", "Action": ["kms:cmk:sign"], "Resource": ["kms:*:*:KeyId:0000*"]},
            {"Effect": "Allow", "Action": ["kms:cmk:encryptData"], "Resource": ["kms:*:*:KeyId:1111*"]},
            {"Effect": "Allow", "Action": ["kms:cmkTag:*"], "Resource": ["*"]},
            {"Effect": "Allow", "Action": ["kms:alias:list"], "Resource": ["*"]},
            {
                "Effect": "Allow",
                "Action": ["kms:cmk:create"],
                "Resource": ["*"],
                "Condition": {"StringEquals": {"kms:KeySpec": ["AES_256", "SM4"]}},
            },
            {
                "Effect": "Allow",
                "Action": ["kms:dek:*", "kms:cmk:encryptDataKey", "kms:cmk:decryptDataKey"],
                "Resource": [f"kms:*:*:KeyId:{key_id}", "kms:*:*:KeyId:2222*"],
            },
            {
                "Effect": "Deny",
                "Action": ["kms:cmk:scheduleKeyDeletion", "kms:cmk:disable"],
                "Resource": ["*"],
            },
            {
                "Effect": "Deny",
                "Action": ["kms:*:*"],
                "Resource": ["*"],
                "Condition": {"StringEquals": {"kms:KeyOrigin": "external"}},
            },
        ],
    }


class OnePolicy:
    def __init__(self, policy: Any) -> None:
        self.policies = (policy,)

    def policies_of(self, domain_id: str, user_id: str) -> tuple[Any, ...]:
        return self.policies


def _per_call(fn: Any, calls: int = CALLS) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def run() -> float:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from skms.caller import AuthMethod, Caller, Identity, PrincipalKind
    from skms.config import Settings
    from skms.iam.decide import authorize
    from skms.iam.policy import parse_policy
    from skms.logic.create_key import create_key
    from skms.logic.datakeys import create_datakey
    from skms.models.base import parse_body
    from skms.models.datakeys import CreateDatakeyRequestBody
    from skms.models.keys import CreateKeyRequestBody
    from skms.runtime import build_services

    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=Path(data_dir)))
        account = Caller(
            PROJECT,
            DOMAIN,
            "bench",
            principal=Identity("AKACCOUNT", PrincipalKind.ACCOUNT, DOMAIN, AuthMethod.AKSK),
            operation="create-datakey",
        )
        user = dataclasses.replace(
            account,
            principal=Identity("AKUSER", PrincipalKind.USER, DOMAIN, AuthMethod.AKSK, user_id=USER_ID),
        )
        key_id = create_key(
            parse_body(CreateKeyRequestBody, {"key_alias": "bench"}),
            dataclasses.replace(account, operation="create-key"),
            services,
        ).key_info.key_id
        services = dataclasses.replace(services, policies=OnePolicy(parse_policy(ten_statements(key_id))))
        record = services.stores.keys.get_key(PROJECT, key_id)
        assert record is not None
        body = parse_body(CreateDatakeyRequestBody, {"key_id": key_id, "datakey_length": "256"})
        authorize(services, user, key=record)  # allowed (raises otherwise); warms the caches

        cases = {
            "decide, account": lambda: authorize(services, account, key=record),
            "decide, user (10 statements)": lambda: authorize(services, user, key=record),
            "create-datakey, account": lambda: create_datakey(body, account, services),
            "create-datakey, user": lambda: create_datakey(body, user, services),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, fn in cases.items():
                times[name].append(_per_call(fn, CALLS if name.startswith("decide") else CALLS // 10))
        medians = {name: statistics.median(values) for name, values in times.items()}
        services.stores.close()

    print("IAM decision (iam_decision.py): medians of interleaved rounds, warm, SQLite")
    for name, value in medians.items():
        print(f"  {name:32s} {value * 1e6:9.2f} µs")
    ratio = medians["create-datakey, account"] / medians["create-datakey, user"]
    print(f"  create-datakey throughput, user / account: {ratio:.2f} (target >= 0.9)")
    print(
        f"  user decision / create-datakey by the account: "
        f"{medians['decide, user (10 statements)'] / medians['create-datakey, account']:.3f}"
    )
    return ratio


if __name__ == "__main__":
    run()
