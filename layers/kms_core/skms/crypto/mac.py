"""HMAC under an HMAC CMK (spec §6 ops 26-27). Pure: bytes in, bytes or bool out.

Each HMAC key spec takes exactly one algorithm, the one of its own hash (:data:`SUPPORTED`):
HMAC_256 -> HMAC_SHA_256, HMAC_384 -> HMAC_SHA_384, HMAC_512 -> HMAC_SHA_512, HMAC_SM3 -> HMAC_SM3.
The key is the CMK material itself (:mod:`skms.crypto.material`, random bytes of the hash's size).
"""

from __future__ import annotations

import enum
import hmac as std_hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from skms.crypto.keyspec import KeySpec


class MacAlgorithm(enum.StrEnum):
    HMAC_SHA_256 = "HMAC_SHA_256"
    HMAC_SHA_384 = "HMAC_SHA_384"
    HMAC_SHA_512 = "HMAC_SHA_512"
    HMAC_SM3 = "HMAC_SM3"

    def hash(self) -> hashes.HashAlgorithm:
        return _HASHES[self]()

    @property
    def mac_size(self) -> int:
        return self.hash().digest_size


_HASHES: dict[MacAlgorithm, type[hashes.HashAlgorithm]] = {
    MacAlgorithm.HMAC_SHA_256: hashes.SHA256,
    MacAlgorithm.HMAC_SHA_384: hashes.SHA384,
    MacAlgorithm.HMAC_SHA_512: hashes.SHA512,
    MacAlgorithm.HMAC_SM3: hashes.SM3,
}

SUPPORTED: dict[KeySpec, frozenset[MacAlgorithm]] = {
    KeySpec.HMAC_256: frozenset({MacAlgorithm.HMAC_SHA_256}),
    KeySpec.HMAC_384: frozenset({MacAlgorithm.HMAC_SHA_384}),
    KeySpec.HMAC_512: frozenset({MacAlgorithm.HMAC_SHA_512}),
    KeySpec.HMAC_SM3: frozenset({MacAlgorithm.HMAC_SM3}),
}


def supported_algorithms(spec: KeySpec) -> frozenset[MacAlgorithm]:
    """The MAC algorithms ``spec`` takes; empty for every non-HMAC spec."""
    return SUPPORTED.get(spec, frozenset())


def generate(algorithm: MacAlgorithm, key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) of ``message`` under ``key`` with the algorithm's hash."""
    mac = crypto_hmac.HMAC(key, algorithm.hash())
    mac.update(message)
    return mac.finalize()


def verify(algorithm: MacAlgorithm, key: bytes, message: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the HMAC of ``message``; constant-time, any length of ``mac`` is just False."""
    return std_hmac.compare_digest(generate(algorithm, key, message), mac)
