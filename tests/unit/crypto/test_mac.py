"""The pure HMAC module (spec §6 ops 26-27): RFC 4231 vectors, an independent HMAC-SM3, verify."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes

from skms.crypto import mac, material
from skms.crypto.keyspec import KeySpec
from skms.crypto.mac import MacAlgorithm

M = MacAlgorithm
# RFC 4231 §4.3, test case 2 (typed from the RFC; they also agree with Python's stdlib hmac).
RFC4231_KEY = b"Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_CASE_2 = {
    M.HMAC_SHA_256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    M.HMAC_SHA_384: (
        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
    ),
    M.HMAC_SHA_512: (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    ),
}
STDLIB = {M.HMAC_SHA_256: hashlib.sha256, M.HMAC_SHA_384: hashlib.sha384, M.HMAC_SHA_512: hashlib.sha512}
HMAC_SPECS = [KeySpec.HMAC_256, KeySpec.HMAC_384, KeySpec.HMAC_512, KeySpec.HMAC_SM3]
MESSAGE = b"The quick brown fox jumps over the lazy dog \x00\xff" * 3


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _rfc2104_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC-SM3 built by hand from RFC 2104 over the bare SM3 hash (block size 64)."""
    if len(key) > 64:
        key = _sm3(key)
    key = key.ljust(64, b"\x00")
    inner = _sm3(bytes(b ^ 0x36 for b in key) + message)
    return _sm3(bytes(b ^ 0x5C for b in key) + inner)


@pytest.mark.parametrize("algorithm", list(RFC4231_CASE_2))
def test_rfc4231_case_2(algorithm: MacAlgorithm) -> None:
    expected = bytes.fromhex(RFC4231_CASE_2[algorithm])
    assert mac.generate(algorithm, RFC4231_KEY, RFC4231_DATA) == expected
    assert hmac.new(RFC4231_KEY, RFC4231_DATA, STDLIB[algorithm]).digest() == expected
    assert mac.verify(algorithm, RFC4231_KEY, RFC4231_DATA, expected)


@pytest.mark.parametrize("algorithm", list(STDLIB))
@pytest.mark.parametrize("key_len", [1, 32, 64, 65, 200])
def test_sha2_matches_stdlib_hmac(algorithm: MacAlgorithm, key_len: int) -> None:
    key = bytes(i % 256 for i in range(key_len))
    assert mac.generate(algorithm, key, MESSAGE) == hmac.new(key, MESSAGE, STDLIB[algorithm]).digest()


@pytest.mark.parametrize("key", [b"Jefe", bytes(32), bytes(range(64)), bytes(range(100))])
def test_sm3_matches_a_hand_built_rfc2104(key: bytes) -> None:
    assert mac.generate(M.HMAC_SM3, key, MESSAGE) == _rfc2104_sm3(key, MESSAGE)


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [(M.HMAC_SHA_256, 32), (M.HMAC_SHA_384, 48), (M.HMAC_SHA_512, 64), (M.HMAC_SM3, 32)],
)
def test_mac_sizes(algorithm: MacAlgorithm, size: int) -> None:
    assert algorithm.mac_size == size
    assert len(mac.generate(algorithm, b"k", b"m")) == size


def test_each_hmac_spec_takes_only_its_own_algorithm() -> None:
    expected = {
        KeySpec.HMAC_256: {M.HMAC_SHA_256},
        KeySpec.HMAC_384: {M.HMAC_SHA_384},
        KeySpec.HMAC_512: {M.HMAC_SHA_512},
        KeySpec.HMAC_SM3: {M.HMAC_SM3},
    }
    for spec in KeySpec:
        assert mac.supported_algorithms(spec) == expected.get(spec, set())


@pytest.mark.parametrize("algorithm", list(MacAlgorithm))
def test_verify_refuses_changed_inputs(algorithm: MacAlgorithm) -> None:
    key = b"k" * 32
    tag = mac.generate(algorithm, key, MESSAGE)
    assert mac.verify(algorithm, key, MESSAGE, tag)
    flipped = tag[:5] + bytes([tag[5] ^ 0x01]) + tag[6:]
    assert not mac.verify(algorithm, key, MESSAGE, flipped)
    assert not mac.verify(algorithm, key, MESSAGE + b"!", tag)
    assert not mac.verify(algorithm, b"K" + key[1:], MESSAGE, tag)
    assert not mac.verify(algorithm, key, MESSAGE, tag[:-1])  # truncated: False, not an exception
    assert not mac.verify(algorithm, key, MESSAGE, b"")
    assert not mac.verify(algorithm, key, MESSAGE, tag + b"\x00")


@pytest.mark.parametrize(
    ("spec", "length"),
    [(KeySpec.HMAC_256, 32), (KeySpec.HMAC_384, 48), (KeySpec.HMAC_512, 64), (KeySpec.HMAC_SM3, 32)],
)
def test_hmac_material_is_random_bytes_with_no_public_key(spec: KeySpec, length: int) -> None:
    first, second = material.generate(spec), material.generate(spec)
    assert type(first) is bytes
    assert len(first) == len(second) == length
    assert first != second
    assert material.public_key_pem(spec, first) is None


@pytest.mark.parametrize("spec", HMAC_SPECS)
def test_hmac_specs_are_neither_symmetric_encryption_nor_asymmetric(spec: KeySpec) -> None:
    assert spec.is_hmac
    assert not spec.is_symmetric
    assert not spec.is_rsa
    assert not spec.is_ec
