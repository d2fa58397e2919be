"""Rotation (issue 14): decrypt-data under a key with 50 versions beside a key with 1 version, one run.

A key rotated 49 times holds 50 versions; every version stays live and decrypts what it made, so
each decrypt finds its version among 50 (the record's versions, the material cache) instead of one.
The ``decrypt_data`` logic function runs on the SQLite store with warm caches (a warm Lambda: the
decoded record and every version's unwrapped material cached), on a 1 KiB text, in interleaved
rounds (the order alternating per round, so drift and other load hit both alike). Printed: median
microseconds per call and the throughput ratio 50 versions / 1 version (1.0 = versions cost
nothing; the target is >= 0.9), for a ciphertext of the newest version and one of the oldest.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS, CALLS, VERSIONS = 21, 150, 50
PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"


def _per_call(fn: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def _interleaved(fns: dict[str, Callable[[], object]], calls: int) -> dict[str, float]:
    """Median seconds per call of each function, over ROUNDS rounds in alternating order."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_ in range(ROUNDS):
        for name in names if round_ % 2 == 0 else reversed(names):
            times[name].append(_per_call(fns[name], calls))
    return {name: statistics.median(values) for name, values in times.items()}


def run() -> float:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # measure the work, not the log lines
    from pydantic import SecretStr

    from skms.caller import Caller
    from skms.config import Settings
    from skms.logic.create_key import create_key
    from skms.logic.data import decrypt_data, encrypt_data
    from skms.logic.rotation import rotate_on_demand
    from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody
    from skms.models.keys import CreateKeyRequestBody
    from skms.models.rotation import RotateOnDemandRequestBody
    from skms.runtime import build_services, set_services

    print(f"rotation: decrypt_data (SQLite, warm), 1 KiB text, a key of {VERSIONS} versions vs 1 version")
    text = "x" * 1024
    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=Path(data_dir)))
        set_services(services)
        caller = Caller(project_id=PROJECT, domain_id="d" * 32, request_id="bench")

        def new_key(alias: str) -> str:
            return create_key(CreateKeyRequestBody(key_alias=alias), caller, services).key_info.key_id

        def encrypt(key_id: str) -> str:
            request = EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr(text))
            return encrypt_data(request, caller, services).cipher_text

        single = new_key("bench-one-version")
        many = new_key("bench-many-versions")
        oldest = encrypt(many)
        for _ in range(VERSIONS - 1):
            rotate_on_demand(RotateOnDemandRequestBody(key_id=many), caller, services)
        ciphertexts = {"1 version": encrypt(single), "50, newest": encrypt(many), "50, oldest": oldest}

        def decrypting(cipher_text: str) -> Callable[[], object]:
            request = DecryptDataRequestBody(cipher_text=cipher_text)

            def decrypt() -> None:
                assert decrypt_data(request, caller, services).plain_text.get_secret_value() == text

            return decrypt

        fns = {name: decrypting(cipher_text) for name, cipher_text in ciphertexts.items()}
        for fn in fns.values():  # warm the record and material caches
            fn()
        medians = _interleaved(fns, CALLS)
        set_services(None)
    base = medians["1 version"]
    print(f"  {ROUNDS} rounds of {CALLS} calls, medians:")
    print(f"    {'ciphertext':<12} {'us':>8} {'throughput vs 1 version':>24}")
    ratios = []
    for name, seconds in medians.items():
        ratio = base / seconds
        if name != "1 version":
            ratios.append(ratio)
        print(f"    {name:<12} {seconds * 1e6:8.1f} {ratio:24.2f}")
    print(f"  worst ratio {min(ratios):.2f} (target >= 0.90)")
    return min(ratios)


if __name__ == "__main__":
    run()
