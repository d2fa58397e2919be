"""The blob's own HKDF (RFC 5869 on hashlib): the RFC's vectors, and equality with cryptography's
HKDF over random inputs, for both hashes of the message keys and for the fallback path."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from skms.crypto import aead, blob

# RFC 5869 appendix A, the SHA-256 cases: (IKM, salt, info, L, PRK-independent OKM).
RFC5869_SHA256 = [
    pytest.param(
        "0b" * 22,
        "000102030405060708090a0b0c",
        "f0f1f2f3f4f5f6f7f8f9",
        42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        id="A.1 basic",
    ),
    pytest.param(
        bytes(range(0x00, 0x50)).hex(),
        bytes(range(0x60, 0xB0)).hex(),  # an 80-byte salt: longer than the block, hashed first
        bytes(range(0xB0, 0x100)).hex(),
        82,
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
        id="A.2 longer inputs",
    ),
    pytest.param(
        "0b" * 22,
        "",
        "",
        42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        id="A.3 no salt, no info",
    ),
]

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
CRYPTOGRAPHY_HASHES = {"sha256": hashes.SHA256(), "sm3": hashes.SM3()}


class _CryptographyHash:
    """A hashlib-shaped constructor over cryptography's hashes, so that _hkdf is checked over SM3
    also where hashlib has no SM3."""

    block_size = 64

    def __init__(self, algorithm: hashes.HashAlgorithm, data: bytes) -> None:
        self._hash = hashes.Hash(algorithm)
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.finalize()


def _reference(hash_name: str, length: int, salt: bytes, info: bytes, ikm: bytes) -> bytes:
    return HKDF(CRYPTOGRAPHY_HASHES[hash_name], length, salt, info).derive(ikm)


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "okm"), RFC5869_SHA256)
def test_rfc5869_vectors(ikm: str, salt: str, info: str, length: int, okm: str) -> None:
    derived = blob._hkdf(hashlib.sha256, length, bytes.fromhex(salt), bytes.fromhex(info), bytes.fromhex(ikm))
    assert derived.hex() == okm


@pytest.mark.parametrize("hash_name", ["sha256", "sm3"])
@PROPERTY
@given(
    ikm=st.binary(max_size=100),
    salt=st.binary(max_size=100),
    info=st.binary(max_size=100),
    length=st.integers(min_value=1, max_value=200),
)
def test_equals_cryptography_hkdf(hash_name: str, ikm: bytes, salt: bytes, info: bytes, length: int) -> None:
    algorithm = CRYPTOGRAPHY_HASHES[hash_name]

    def new(data: bytes) -> _CryptographyHash:
        return _CryptographyHash(algorithm, data)

    expected = _reference(hash_name, length, salt, info, ikm)
    assert blob._hkdf(new, length, salt, info, ikm) == expected
    hashlib_new = blob._hashlib_of(hash_name)
    if hashlib_new is not None:  # and through hashlib itself, where it has the hash (SHA-256 always)
        assert blob._hkdf(hashlib_new, length, salt, info, ikm) == expected


@pytest.mark.parametrize("suite", list(aead.Suite))
@PROPERTY
@given(material=st.binary(min_size=32, max_size=32), salt=st.binary(min_size=32, max_size=32))
def test_message_key_equals_cryptography_hkdf(suite: aead.Suite, material: bytes, salt: bytes) -> None:
    material = material[: suite.key_len]
    body_header, tail = bytes((blob.BODY_V2, suite, blob.Purpose.DATA_KEY)), b"k" * 36 + b"\x07\x00\x00\x00"
    info = blob.MESSAGE_KEY_LABEL + body_header + tail
    expected = HKDF(blob.KDF_HASHES[suite], suite.key_len, salt, info).derive(material)
    assert blob._message_key(suite, material, salt, body_header, tail) == expected


@pytest.mark.parametrize("suite", list(aead.Suite))
def test_message_key_without_the_hash_in_hashlib_is_the_same_key(
    suite: aead.Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the inputs of a message key, derived through hashlib
    material, salt = bytes(range(suite.key_len)), bytes(range(100, 132))
    body_header, tail = bytes((blob.BODY_V2, suite, blob.Purpose.DATA)), b"k" * 36 + b"\x01\x00\x00\x00"
    through_hashlib = blob._message_key(suite, material, salt, body_header, tail)
    # When hashlib does not have the hash (cryptography's HKDF derives); Then the key is the same
    monkeypatch.setitem(blob._KDF_HASHLIB, suite, None)
    assert blob._message_key(suite, material, salt, body_header, tail) == through_hashlib


def test_hashlib_of_takes_only_known_hashes_of_64_byte_blocks() -> None:
    assert blob._hashlib_of("sha256") is hashlib.sha256
    assert blob._hashlib_of("no-such-hash") is None
    assert blob._hashlib_of("sha512") is None  # 128-byte blocks: _hmac would pad it wrongly
    sha1 = blob._hashlib_of("sha1")  # a name looked up once, then copied
    assert sha1 is not None
    assert sha1(b"abc").digest() == hashlib.sha1(b"abc").digest()
    assert sha1(b"").digest() == hashlib.sha1(b"").digest()  # the template is unchanged


@pytest.mark.parametrize("length", [0, -1, 255 * 32 + 1])
def test_length_out_of_range_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="length"):
        blob._hkdf(hashlib.sha256, length, b"salt", b"info", b"ikm")


def test_longest_output_is_255_blocks() -> None:
    okm = blob._hkdf(hashlib.sha256, 255 * 32, b"salt", b"info", b"ikm")
    assert okm == _reference("sha256", 255 * 32, b"salt", b"info", b"ikm")
