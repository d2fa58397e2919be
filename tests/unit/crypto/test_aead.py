"""AES-256-GCM and SM4-GCM suites: known answers, an independent GCM reference, and failures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from skms.crypto import aead
from skms.crypto.errors import CryptoError

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert vectors, f"{name} holds no vectors"
    return vectors


KATS = [pytest.param(aead.Suite.AES_256_GCM, v, id=v["name"]) for v in _load("aes_gcm.json")] + [
    pytest.param(aead.Suite.SM4_GCM, v, id=v["name"]) for v in _load("sm4_gcm.json")
]

SUITES = list(aead.Suite)


def _key(suite: aead.Suite, fill: int = 0x42) -> bytes:
    return bytes([fill]) * suite.key_len


# --- An independent GCM (NIST SP 800-38D, 96-bit IV) over the raw block cipher in ECB mode. ---

_R = 0xE1 << 120


def _gf_mul(x: int, y: int) -> int:
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _ghash(h: int, data: bytes) -> int:
    y = 0
    for i in range(0, len(data), 16):
        y = _gf_mul(y ^ int.from_bytes(data[i : i + 16], "big"), h)
    return y


def _pad16(data: bytes) -> bytes:
    return data + bytes(-len(data) % 16)


def _reference_gcm(suite: aead.Suite, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    algorithm = algorithms.AES(key) if suite is aead.Suite.AES_256_GCM else algorithms.SM4(key)
    ecb = Cipher(algorithm, modes.ECB()).encryptor()

    def block(b: bytes) -> bytes:
        return ecb.update(b)

    h = int.from_bytes(block(bytes(16)), "big")
    j0 = nonce + b"\x00\x00\x00\x01"
    stream = b"".join(block(nonce + (2 + i).to_bytes(4, "big")) for i in range((len(plaintext) + 15) // 16))
    ciphertext = bytes(p ^ s for p, s in zip(plaintext, stream, strict=False))
    lengths = (8 * len(aad)).to_bytes(8, "big") + (8 * len(ciphertext)).to_bytes(8, "big")
    s = _ghash(h, _pad16(aad) + _pad16(ciphertext) + lengths)
    tag = (int.from_bytes(block(j0), "big") ^ s).to_bytes(16, "big")
    return nonce + ciphertext + tag


# --- Known answers ---


@pytest.mark.parametrize(("suite", "vector"), KATS)
def test_seal_reproduces_published_vector(suite: aead.Suite, vector: dict[str, Any]) -> None:
    # Given a published GCM test case
    key, nonce, aad, plaintext = (bytes.fromhex(vector[f]) for f in ("key", "nonce", "aad", "plaintext"))
    # When it is sealed with the case's nonce
    sealed = aead._seal_with_nonce(suite, key, plaintext, aad, nonce)
    # Then the output is nonce || ciphertext || tag exactly
    assert sealed == nonce + bytes.fromhex(vector["ciphertext"]) + bytes.fromhex(vector["tag"])


@pytest.mark.parametrize(("suite", "vector"), KATS)
def test_open_sealed_recovers_published_plaintext(suite: aead.Suite, vector: dict[str, Any]) -> None:
    # Given the published nonce || ciphertext || tag
    sealed = bytes.fromhex(vector["nonce"] + vector["ciphertext"] + vector["tag"])
    # When it is opened with the published key and AAD
    opened = aead.open_sealed(suite, bytes.fromhex(vector["key"]), sealed, bytes.fromhex(vector["aad"]))
    # Then the published plaintext comes back
    assert opened == bytes.fromhex(vector["plaintext"])


def test_sm4_block_cipher_known_answer() -> None:
    # Given GB/T 32907-2016 Appendix A example 1: key = plaintext = 0123456789abcdeffedcba9876543210
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    # When one block is encrypted with the raw SM4 cipher that SM4-GCM is built on
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    ciphertext = encryptor.update(key) + encryptor.finalize()
    # Then it is the published ciphertext
    assert ciphertext == bytes.fromhex("681edf34d206965e86b3e94f536e4246")


@pytest.mark.parametrize(("suite", "vector"), KATS)
def test_reference_gcm_agrees_with_published_vector(suite: aead.Suite, vector: dict[str, Any]) -> None:
    # Given the independent GCM reference used below; When it seals a published case; Then it matches
    key, nonce, aad, plaintext = (bytes.fromhex(vector[f]) for f in ("key", "nonce", "aad", "plaintext"))
    expected = nonce + bytes.fromhex(vector["ciphertext"]) + bytes.fromhex(vector["tag"])
    assert _reference_gcm(suite, key, nonce, plaintext, aad) == expected


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 33, 100])
@pytest.mark.parametrize("aad_len", [0, 1, 16, 20])
def test_seal_agrees_with_reference_gcm(suite: aead.Suite, length: int, aad_len: int) -> None:
    # Given random key, nonce, plaintext (partial and whole blocks) and AAD
    key, nonce = os.urandom(suite.key_len), os.urandom(aead.NONCE_LEN)
    plaintext, aad = os.urandom(length), os.urandom(aad_len)
    # When seal runs with that nonce
    sealed = aead._seal_with_nonce(suite, key, plaintext, aad, nonce)
    # Then it equals the independent reference built from the raw block cipher
    assert sealed == _reference_gcm(suite, key, nonce, plaintext, aad)


# --- Round trip and framing ---


@pytest.mark.parametrize("suite", SUITES)
def test_seal_frames_nonce_ciphertext_tag_with_fresh_nonce(suite: aead.Suite) -> None:
    # Given a key and a plaintext
    key, plaintext = _key(suite), b"attack at dawn"
    # When it is sealed twice without a nonce
    first, second = (aead.seal(suite, key, plaintext, b"aad") for _ in range(2))
    # Then each is nonce(12) || ct || tag(16), nonces differ, and both open
    assert len(first) == len(second) == len(plaintext) + aead.OVERHEAD
    assert first[: aead.NONCE_LEN] != second[: aead.NONCE_LEN]
    assert aead.open_sealed(suite, key, first, b"aad") == plaintext
    assert aead.open_sealed(suite, key, second, b"aad") == plaintext


def test_suite_identifiers_and_key_lengths_are_fixed() -> None:
    # The suite byte is written into stored blobs: renumbering it would orphan them.
    assert (aead.Suite.AES_256_GCM.value, aead.Suite.SM4_GCM.value) == (1, 2)
    assert (aead.Suite.AES_256_GCM.key_len, aead.Suite.SM4_GCM.key_len) == (32, 16)
    assert (aead.NONCE_LEN, aead.TAG_LEN, aead.OVERHEAD) == (12, 16, 28)


# --- Failures ---


@pytest.fixture(params=SUITES, ids=lambda s: s.name)
def sealed_case(request: pytest.FixtureRequest) -> tuple[aead.Suite, bytes, bytes, bytes]:
    suite: aead.Suite = request.param
    key = _key(suite)
    aad = b"associated"
    return suite, key, aead.seal(suite, key, b"sixteen byte msg+3", aad), aad


def test_wrong_key_fails(sealed_case: tuple[aead.Suite, bytes, bytes, bytes]) -> None:
    suite, key, sealed, aad = sealed_case
    other = bytes([key[0] ^ 1]) + key[1:]
    with pytest.raises(CryptoError):
        aead.open_sealed(suite, other, sealed, aad)


def test_wrong_aad_fails(sealed_case: tuple[aead.Suite, bytes, bytes, bytes]) -> None:
    suite, key, sealed, aad = sealed_case
    for wrong in (b"", aad + b"\x00", aad[:-1], b"Associated"):
        with pytest.raises(CryptoError):
            aead.open_sealed(suite, key, sealed, wrong)


def test_every_flipped_bit_fails(sealed_case: tuple[aead.Suite, bytes, bytes, bytes]) -> None:
    # Given a sealed value that opens
    suite, key, sealed, aad = sealed_case
    assert aead.open_sealed(suite, key, sealed, aad) == b"sixteen byte msg+3"
    # When any single bit of the nonce, ciphertext or tag is flipped; Then it fails to open
    for offset in range(len(sealed)):
        for bit in range(8):
            tampered = bytearray(sealed)
            tampered[offset] ^= 1 << bit
            with pytest.raises(CryptoError):
                aead.open_sealed(suite, key, bytes(tampered), aad)


def test_truncated_or_extended_fails(sealed_case: tuple[aead.Suite, bytes, bytes, bytes]) -> None:
    suite, key, sealed, aad = sealed_case
    for length in range(len(sealed)):
        with pytest.raises(CryptoError):
            aead.open_sealed(suite, key, sealed[:length], aad)
    with pytest.raises(CryptoError):
        aead.open_sealed(suite, key, sealed + b"\x00", aad)


def test_cross_suite_fails() -> None:
    # Given an SM4-GCM value under a 16-byte key; When opened as AES-256-GCM with that key; Then it fails
    sealed = aead.seal(aead.Suite.SM4_GCM, bytes(16), b"x", b"")
    with pytest.raises(CryptoError):
        aead.open_sealed(aead.Suite.AES_256_GCM, bytes(16), sealed, b"")
    with pytest.raises(CryptoError):
        aead.open_sealed(aead.Suite.AES_256_GCM, bytes(32), sealed, b"")


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("delta", [-1, 1, 16])
def test_wrong_key_length_is_value_error_on_seal_and_crypto_error_on_open(
    suite: aead.Suite, delta: int
) -> None:
    # Given a key one size off
    bad_key = bytes(suite.key_len + delta)
    sealed = aead.seal(suite, _key(suite), b"x", b"")
    # When sealing / opening with it; Then seal is a programming error, open is the opaque failure
    with pytest.raises(ValueError, match="key"):
        aead.seal(suite, bad_key, b"x", b"")
    with pytest.raises(CryptoError):
        aead.open_sealed(suite, bad_key, sealed, b"")


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("nonce_len", [0, 8, 11, 13, 16])
def test_seal_rejects_a_nonce_that_is_not_12_bytes(suite: aead.Suite, nonce_len: int) -> None:
    with pytest.raises(ValueError, match="nonce"):
        aead._seal_with_nonce(suite, _key(suite), b"x", b"", bytes(nonce_len))


def test_crypto_error_is_opaque() -> None:
    # Given failures for different reasons; Then they all look the same
    key = _key(aead.Suite.AES_256_GCM)
    sealed = aead.seal(aead.Suite.AES_256_GCM, key, b"x", b"a")
    messages = set()
    for args in (
        (bytes(32), sealed, b"a"),
        (key, sealed, b"b"),
        (key, sealed[:5], b"a"),
        (b"k", sealed, b"a"),
    ):
        with pytest.raises(CryptoError) as info:
            aead.open_sealed(aead.Suite.AES_256_GCM, *args)
        messages.add(str(info.value))
    assert messages == {"decryption failed"}
