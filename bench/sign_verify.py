"""sign / verify throughput of the local server per key spec, beside the bare library call (issue 5).

`skms serve` on a free loopback port, request logs off (as in server_throughput.py: the work, not
the log lines). For each key spec a SIGN_VERIFY key is made with create-key; a spec the running
server refuses (SECP256K1 and ED25519 are newer) is skipped with a note. Then, for sign and for
verify, the same AK/SK-signed request is sent for a fixed time over one keep-alive connection by the
load generator of bench/_common.py, and the same operation is timed as a bare library call in one
thread, with a key of the same type already loaded: ``cryptography`` for RSA, ECDSA and Ed25519,
``gmssl_pyx`` for SM2, called as skms.crypto.signing calls them (RSA and ECDSA sign a DIGEST through
``Prehashed``, SM2 signs the 32-byte SM3 digest e, Ed25519 signs the RAW message). Server and bare
measurements alternate over a few rounds; medians are printed.

Both sides do one operation at a time (one connection; cryptography releases the GIL while it
signs with RSA, so more connections would let the server sign on both cores while the bare loop
uses one), so the ratio is **server time per op / bare call time per op**, with the server's time
per op = 1 / its throughput, round trip included. 1.0 would be a server that costs nothing around
the call. What the server adds: HTTP, the authorizer, the AK/SK signature check, the key lookup,
loading the key (unwrapping the private key for sign, parsing the stored PEM for verify), the JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Load, drive, kms_path, median_load, send_once, skms_server

ROUNDS, SECONDS, BARE_SECONDS, CONNECTIONS = 3, 0.5, 0.25, 1


@dataclass(frozen=True)
class Case:
    key_spec: str
    algorithm: str
    message_type: str
    message: bytes
    bare: Callable[[bytes], tuple[Callable[[], object], Callable[[], object]]]  # message -> (sign, verify)


def _rsa(bits: int) -> Callable[[bytes], tuple[Callable[[], object], Callable[[], object]]]:
    def make(digest: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(digest, pss, Prehashed(hashes.SHA256()))
        public = key.public_key()
        return (
            lambda: key.sign(digest, pss, Prehashed(hashes.SHA256())),
            lambda: public.verify(signature, digest, pss, Prehashed(hashes.SHA256())),
        )

    return make


def _ecdsa(
    curve_name: str, hash_name: str
) -> Callable[[bytes], tuple[Callable[[], object], Callable[[], object]]]:
    def make(digest: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        key = ec.generate_private_key(getattr(ec, curve_name)())
        algorithm = ec.ECDSA(Prehashed(getattr(hashes, hash_name)()))
        signature = key.sign(digest, algorithm)
        public = key.public_key()
        return lambda: key.sign(digest, algorithm), lambda: public.verify(signature, digest, algorithm)

    return make


def _sm2(digest: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
    import gmssl_pyx

    public, private = gmssl_pyx.sm2_key_generate()
    signature = gmssl_pyx.sm2_sign_sm3_digest(private, digest)
    return (
        lambda: gmssl_pyx.sm2_sign_sm3_digest(private, digest),
        lambda: gmssl_pyx.sm2_verify_sm3_digest(public, digest, signature),
    )


def _ed25519(message: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    signature = key.sign(message)
    public = key.public_key()
    return lambda: key.sign(message), lambda: public.verify(signature, message)


_SHA256 = hashlib.sha256(b"skms sign/verify benchmark").digest()
_SHA384 = hashlib.sha384(b"skms sign/verify benchmark").digest()
CASES = (
    Case("RSA_2048", "RSASSA_PSS_SHA_256", "DIGEST", _SHA256, _rsa(2048)),
    Case("RSA_3072", "RSASSA_PSS_SHA_256", "DIGEST", _SHA256, _rsa(3072)),
    Case("RSA_4096", "RSASSA_PSS_SHA_256", "DIGEST", _SHA256, _rsa(4096)),
    Case("EC_P256", "ECDSA_SHA_256", "DIGEST", _SHA256, _ecdsa("SECP256R1", "SHA256")),
    Case("EC_P384", "ECDSA_SHA_384", "DIGEST", _SHA384, _ecdsa("SECP384R1", "SHA384")),
    Case("SECP256K1", "ECDSA_SHA_256", "DIGEST", _SHA256, _ecdsa("SECP256K1", "SHA256")),
    # SM2 DIGEST is e = SM3(Z_A || M): any 32 bytes are signable; the service signs it as given.
    Case("SM2", "SM2DSA_SM3", "DIGEST", _SHA256, _sm2),
    # Pure Ed25519 signs the message itself (no DIGEST form).
    Case("ED25519", "ED25519_SHA_512", "RAW", os.urandom(32), _ed25519),
)


def _per_call(fn: Callable[[], object], seconds: float = BARE_SECONDS) -> float:
    """Seconds per call of ``fn`` in this thread, run for about ``seconds`` (at least 3 calls)."""
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - started) / calls


def run() -> dict[str, float]:
    rows: list[tuple[str, str, str, Load, float, float]] = []
    notes: list[str] = []
    with skms_server(log_level="WARNING") as server:
        for case in CASES:
            status, created = server.call(
                "create-key",
                {
                    "key_alias": f"bench-{case.key_spec}",
                    "key_spec": case.key_spec,
                    "key_usage": "SIGN_VERIFY",
                },
            )
            if status != 200:
                code = created.get("error", {}).get("error_code", "")
                notes.append(f"{case.key_spec}: skipped, create-key refused it ({status} {code})")
                continue
            key_id = created["key_info"]["key_id"]
            body = {
                "key_id": key_id,
                "message": base64.b64encode(case.message).decode(),
                "signing_algorithm": case.algorithm,
                "message_type": case.message_type,
            }
            sign_request = server.signed(kms_path("sign"), body)
            status, answer = send_once(server.port, sign_request)
            if status != 200:
                notes.append(
                    f"{case.key_spec}: skipped, sign with {case.algorithm} answered {status} {answer[:120]!r}"
                )
                continue
            verify_request = server.signed(
                kms_path("verify"), {**body, "signature": json.loads(answer)["signature"]}
            )
            status, answer = send_once(server.port, verify_request)
            if status != 200 or json.loads(answer).get("signature_valid") != "true":
                raise RuntimeError(f"{case.key_spec}: verify answered {status} {answer[:200]!r}")
            bare_sign, bare_verify = case.bare(case.message)
            for operation, request, bare_call in (
                ("sign", sign_request, bare_sign),
                ("verify", verify_request, bare_verify),
            ):
                drive(server.port, request, 0.2, CONNECTIONS)  # warm caches, key material included
                loads, bares = [], []
                for _ in range(ROUNDS):  # interleaved, so both see the same machine
                    loads.append(drive(server.port, request, SECONDS, CONNECTIONS))
                    bares.append(_per_call(bare_call))
                ratio = statistics.median(x.per_request / b for x, b in zip(loads, bares, strict=True))
                row = (case.key_spec, case.algorithm, operation, median_load(loads), statistics.median(bares))
                rows.append((*row, ratio))

    print(
        "sign / verify through the local server (one keep-alive connection, request logs off) vs the bare"
        f" library call (one thread, key loaded), one op at a time, medians of {ROUNDS} interleaved rounds:"
    )
    print(
        f"  {'key spec':<10} {'algorithm':<19} {'op':<7} {'server':>12} {'p50':>9} {'bare call':>12}"
        "   server/bare time per op"
    )
    ratios: dict[str, float] = {}
    for key_spec, algorithm, operation, load, bare, ratio in rows:
        ratios[f"{key_spec} {operation}"] = ratio
        print(
            f"  {key_spec:<10} {algorithm:<19} {operation:<7} {load.rate:8.0f} op/s {load.p50 * 1e3:6.2f} ms"
            f" {1 / bare:8.0f} op/s   {ratio:6.1f}"
        )
    for note in notes:
        print(f"  note: {note}")
    return ratios


if __name__ == "__main__":
    run()
