"""Per-message keys (issue 14): encrypt-data-style seal + open with blob body v2 beside v1, one run.

Two measurements in one process, each as interleaved rounds of v1 and v2 (the order alternating
per round, so drift and other load hit both alike), medians printed with the throughput ratio
v2 / v1 (1.0 = per-message keys cost nothing; the target is >= 0.9):

1. The blob alone, per suite (AES-256-GCM, SM4-GCM) and plaintext size: what encrypt-data plus
   decrypt-data do with a blob (build the binding of project, context and AAD, seal, read the
   header, open). v1 is today's format before issue 14, GCM directly under the CMK material (the
   retired private writer ``blob._seal_v1_with_nonce`` with ``os.urandom``); v2 is ``blob.seal``:
   a fresh salt, HKDF (SHA-256 or SM3) to a message key, GCM, and the same derivation again at open.
2. The operations: the ``encrypt_data`` logic function alone, and ``encrypt_data`` then
   ``decrypt_data``, on the SQLite store with warm caches (a warm Lambda), a 1 KiB text; v1 is the
   same functions with ``blob.seal`` swapped for the v1 writer (there is no switch for v1 at
   encrypt time). bench/per_message_serve.py measures encrypt-data through `skms serve`.

Nothing secret is cached: each message key is derived at seal and again at open.
"""

from __future__ import annotations

import base64
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS, CALLS, OPERATION_CALLS = 9, 400, 200
SIZES = (32, 1024, 4096)  # a data key, a small record, the largest encrypt-data plaintext
KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"


def _per_call(fn: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def _seal_v1(**fields: Any) -> bytes:
    """``blob.seal`` as it was before body version 2."""
    from skms.crypto import aead, blob

    return blob._seal_v1_with_nonce(**fields, nonce=os.urandom(aead.NONCE_LEN))


@contextmanager
def _writing(version: int) -> Iterator[None]:
    """Within: ``blob.seal`` writes body ``version`` (2 is as shipped)."""
    from skms.crypto import blob

    with mock.patch.object(blob, "seal", _seal_v1) if version == 1 else nullcontext():
        yield


def _interleaved(fns: dict[int, Callable[[], object]], calls: int) -> tuple[float, float]:
    """Median seconds per call of v1 and v2 over interleaved rounds."""
    times: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(ROUNDS):
        for version in (1, 2) if round_ % 2 == 0 else (2, 1):
            with _writing(version):
                times[version].append(_per_call(fns[version], calls))
    return statistics.median(times[1]), statistics.median(times[2])


def _blob_round_trip(suite_name: str, size: int) -> Callable[[], object]:
    from skms.crypto import aead, blob

    suite = aead.Suite[suite_name]
    material, plaintext = os.urandom(suite.key_len), os.urandom(size)
    context = {"bucket": "b1", "object": "o1"}

    def seal() -> bytes:
        return blob.seal(
            suite=suite,
            key=material,
            key_id=KEY_ID,
            key_version=1,
            purpose=blob.Purpose.DATA,
            plaintext=plaintext,
            bound=blob.binding(PROJECT, context, b"aad"),
        )

    def seal_and_open() -> bytes:
        sealed = seal()
        header = blob.read_header(sealed)
        return blob.open_blob(
            sealed, key=material, expected=header, bound=blob.binding(PROJECT, context, b"aad")
        )

    for version in (1, 2):  # each side writes its own body version, and it opens
        with _writing(version):
            assert seal()[4] == version
            assert seal_and_open() == plaintext
    return seal_and_open


def _blob_rows() -> list[float]:
    print(f"  blob seal + open, median of {ROUNDS} interleaved rounds of {CALLS}:")
    print(f"    {'suite':<12} {'plaintext':>9} {'v1 us':>8} {'v2 us':>8} {'v2/v1 throughput':>17}")
    ratios = []
    for suite_name in ("AES_256_GCM", "SM4_GCM"):
        for size in SIZES:
            fn = _blob_round_trip(suite_name, size)
            t1, t2 = _interleaved({1: fn, 2: fn}, CALLS)
            ratios.append(t1 / t2)
            print(f"    {suite_name:<12} {size:>7} B {t1 * 1e6:8.1f} {t2 * 1e6:8.1f} {t1 / t2:17.2f}")
    return ratios


def _operation_rows() -> list[float]:
    from pydantic import SecretStr

    from skms.caller import Caller
    from skms.config import Settings
    from skms.logic.create_key import create_key
    from skms.logic.data import decrypt_data, encrypt_data
    from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody
    from skms.models.keys import CreateKeyRequestBody
    from skms.runtime import build_services, set_services

    print(f"  logic functions (SQLite, warm), 1 KiB text, {ROUNDS} rounds of {OPERATION_CALLS}:")
    print(f"    {'key spec':<8} {'operation':<28} {'v1 us':>8} {'v2 us':>8} {'v2/v1 throughput':>17}")
    ratios = []
    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=Path(data_dir)))
        set_services(services)
        caller = Caller(project_id=PROJECT, domain_id="d" * 32, request_id="bench")
        text = "x" * 1024
        for spec in ("AES_256", "SM4"):
            created = create_key(
                CreateKeyRequestBody(key_alias=f"bench-{spec}", key_spec=spec), caller, services
            )
            key_id = created.key_info.key_id

            def encrypt(key_id: str = key_id) -> str:
                request = EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr(text))
                return encrypt_data(request, caller, services).cipher_text

            def operation(key_id: str = key_id) -> None:
                cipher_text = encrypt(key_id)
                reply = decrypt_data(DecryptDataRequestBody(cipher_text=cipher_text), caller, services)
                assert reply.plain_text.get_secret_value() == text

            for version in (1, 2):  # warm the caches; each side writes its own body version
                with _writing(version):
                    request = EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr(text))
                    assert base64.b64decode(encrypt_data(request, caller, services).cipher_text)[4] == version
                    operation()
            for name, fn in (("encrypt_data", encrypt), ("encrypt_data + decrypt_data", operation)):
                t1, t2 = _interleaved({1: fn, 2: fn}, OPERATION_CALLS)
                ratios.append(t1 / t2)
                print(f"    {spec:<8} {name:<28} {t1 * 1e6:8.1f} {t2 * 1e6:8.1f} {t1 / t2:17.2f}")
        set_services(None)
    return ratios


def run() -> float:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # measure the work, not the log lines
    print("per-message keys: blob body v2 (HKDF message key) vs v1 (GCM under the CMK material)")
    blob_ratios = _blob_rows()
    operation_ratios = _operation_rows()
    print(
        f"  worst v2/v1 throughput ratio: blob {min(blob_ratios):.2f}, "
        f"operations {min(operation_ratios):.2f} (target >= 0.90)"
    )
    return min(operation_ratios)


if __name__ == "__main__":
    run()
