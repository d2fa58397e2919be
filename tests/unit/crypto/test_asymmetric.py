"""RSAES-OAEP and SM2 encryption under CMK material (skms.crypto.asymmetric).

RSA is checked against ``cryptography`` used directly, in both directions: what we encrypt opens with
the private key loaded from the material, and what a client encrypts with the public key from
``material.public_key_pem`` (the get-publickey reply) opens with our decrypt.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from skms.crypto import asymmetric, material, sm2
from skms.crypto.asymmetric import Algorithm
from skms.crypto.errors import CryptoError
from skms.crypto.keyspec import KeySpec

RSA_ALGORITHMS = [Algorithm.RSAES_OAEP_SHA_256, Algorithm.RSAES_OAEP_SHA_1]
# k - 2*hLen - 2 bytes (RFC 8017 §7.1.1)
RSA_LIMITS = {
    (KeySpec.RSA_2048, Algorithm.RSAES_OAEP_SHA_256): 190,
    (KeySpec.RSA_2048, Algorithm.RSAES_OAEP_SHA_1): 214,
    (KeySpec.RSA_3072, Algorithm.RSAES_OAEP_SHA_256): 318,
    (KeySpec.RSA_3072, Algorithm.RSAES_OAEP_SHA_1): 342,
}


@pytest.fixture(scope="module")
def keys() -> dict[KeySpec, bytes]:
    return {spec: material.generate(spec) for spec in (KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.SM2)}


def _oaep(algorithm: Algorithm) -> padding.OAEP:
    digest = hashes.SHA1() if algorithm is Algorithm.RSAES_OAEP_SHA_1 else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)


def _public_key(spec: KeySpec, key: bytes) -> rsa.RSAPublicKey:
    pem = material.public_key_pem(spec, key)
    assert pem is not None
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def _private_key(key: bytes) -> rsa.RSAPrivateKey:
    private = serialization.load_der_private_key(key, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return private


@pytest.mark.parametrize("spec", [KeySpec.RSA_2048, KeySpec.RSA_3072])
@pytest.mark.parametrize("algorithm", RSA_ALGORITHMS)
def test_rsa_oaep_matches_cryptography_in_both_directions(
    keys: dict[KeySpec, bytes], spec: KeySpec, algorithm: Algorithm
) -> None:
    key, private = keys[spec], _private_key(keys[spec])
    message = b"attack at dawn \x00\xff"
    # Given our ciphertext / Then cryptography opens it with the private key from the material
    ours = asymmetric.encrypt(algorithm, key, message)
    assert len(ours) == private.key_size // 8
    assert private.decrypt(ours, _oaep(algorithm)) == message
    # Given a client's ciphertext under the published public key / Then we open it
    theirs = _public_key(spec, key).encrypt(message, _oaep(algorithm))
    assert asymmetric.decrypt(algorithm, key, theirs) == message


@pytest.mark.parametrize(("spec", "algorithm"), list(RSA_LIMITS))
def test_rsa_size_limit_is_k_minus_two_hashes_minus_two(
    keys: dict[KeySpec, bytes], spec: KeySpec, algorithm: Algorithm
) -> None:
    key, limit = keys[spec], RSA_LIMITS[spec, algorithm]
    assert asymmetric.max_plaintext_len(algorithm, key) == limit
    longest = bytes(range(256)) * 2
    assert (
        asymmetric.decrypt(algorithm, key, asymmetric.encrypt(algorithm, key, longest[:limit]))
        == (longest[:limit])
    )
    with pytest.raises(ValueError, match="too long"):
        asymmetric.encrypt(algorithm, key, longest[: limit + 1])


def test_rsa_empty_plaintext_round_trips(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.RSA_2048]
    cipher = asymmetric.encrypt(Algorithm.RSAES_OAEP_SHA_256, key, b"")
    assert asymmetric.decrypt(Algorithm.RSAES_OAEP_SHA_256, key, cipher) == b""


def test_rsa_encryption_is_randomised(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.RSA_2048]
    assert asymmetric.encrypt(Algorithm.RSAES_OAEP_SHA_256, key, b"m") != asymmetric.encrypt(
        Algorithm.RSAES_OAEP_SHA_256, key, b"m"
    )


def test_every_single_byte_change_of_an_rsa_ciphertext_is_a_crypto_error(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.RSA_2048]
    cipher = asymmetric.encrypt(Algorithm.RSAES_OAEP_SHA_256, key, b"secret")
    for offset in range(len(cipher)):
        tampered = bytearray(cipher)
        tampered[offset] ^= 0x01
        with pytest.raises(CryptoError):
            asymmetric.decrypt(Algorithm.RSAES_OAEP_SHA_256, key, bytes(tampered))


def test_rsa_wrong_key_hash_or_length_is_a_crypto_error(keys: dict[KeySpec, bytes]) -> None:
    key, other = keys[KeySpec.RSA_2048], material.generate(KeySpec.RSA_2048)
    cipher = asymmetric.encrypt(Algorithm.RSAES_OAEP_SHA_256, key, b"secret")
    for attempt_key, algorithm, data in [
        (other, Algorithm.RSAES_OAEP_SHA_256, cipher),
        (key, Algorithm.RSAES_OAEP_SHA_1, cipher),
        (key, Algorithm.RSAES_OAEP_SHA_256, cipher[:-1]),
        (key, Algorithm.RSAES_OAEP_SHA_256, cipher + b"\x00"),
        (key, Algorithm.RSAES_OAEP_SHA_256, b""),
        (key, Algorithm.RSAES_OAEP_SHA_256, b"\xff" * len(cipher)),  # larger than the modulus
    ]:
        with pytest.raises(CryptoError):
            asymmetric.decrypt(algorithm, attempt_key, data)


def test_rsa_needs_rsa_material() -> None:
    with pytest.raises(ValueError, match="not RSA"):
        asymmetric.encrypt(Algorithm.RSAES_OAEP_SHA_256, material.generate(KeySpec.EC_P256), b"m")


def _der_items(der: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) items inside a DER SEQUENCE; lengths below 256 are all SM2 needs."""

    def read(data: bytes, at: int) -> tuple[int, bytes, int]:
        tag, length, at = data[at], data[at + 1], at + 2
        if length & 0x80:
            size = length & 0x7F
            length, at = int.from_bytes(data[at : at + size], "big"), at + size
        return tag, data[at : at + length], at + length

    tag, body, end = read(der, 0)
    assert (tag, end) == (0x30, len(der))
    items, at = [], 0
    while at < len(body):
        tag, content, at = read(body, at)
        items.append((tag, content))
    return items


@pytest.mark.parametrize("size", [1, 16, 255])
def test_sm2_round_trip_and_der_c1c3c2_shape(keys: dict[KeySpec, bytes], size: int) -> None:
    key = keys[KeySpec.SM2]
    message = bytes(range(256))[:size]
    cipher = asymmetric.encrypt(Algorithm.SM2_ENCRYPT, key, message)
    assert asymmetric.decrypt(Algorithm.SM2_ENCRYPT, key, cipher) == message
    # SEQUENCE { INTEGER x1, INTEGER y1, OCTET STRING C3 (SM3, 32), OCTET STRING C2 (len(M)) }
    (t1, _), (t2, _), (t3, c3), (t4, c2) = _der_items(cipher)
    assert (t1, t2, t3, t4) == (0x02, 0x02, 0x04, 0x04)
    assert (len(c3), len(c2)) == (32, size)
    assert c2 != message


def test_sm2_wrappers_take_the_public_point_and_the_material(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.SM2]
    _, public = sm2.split(key)
    assert asymmetric.sm2_decrypt(key, asymmetric.sm2_encrypt(public, b"hi")) == b"hi"
    assert asymmetric.max_plaintext_len(Algorithm.SM2_ENCRYPT, key) == 255


@pytest.mark.parametrize("size", [0, 256])
def test_sm2_plaintext_must_be_1_to_255_bytes(keys: dict[KeySpec, bytes], size: int) -> None:
    with pytest.raises(ValueError, match="1-255"):
        asymmetric.encrypt(Algorithm.SM2_ENCRYPT, keys[KeySpec.SM2], b"m" * size)


def test_every_single_byte_change_of_an_sm2_ciphertext_is_a_crypto_error(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.SM2]
    cipher = asymmetric.encrypt(Algorithm.SM2_ENCRYPT, key, b"secret message")
    for offset in range(len(cipher)):
        tampered = bytearray(cipher)
        tampered[offset] ^= 0x01
        with pytest.raises(CryptoError):
            asymmetric.decrypt(Algorithm.SM2_ENCRYPT, key, bytes(tampered))


def test_sm2_wrong_key_or_bad_length_is_a_crypto_error(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.SM2]
    cipher = asymmetric.encrypt(Algorithm.SM2_ENCRYPT, key, b"secret")
    for attempt_key, data in [
        (sm2.generate(), cipher),
        (key, cipher[:-1]),
        (key, cipher + b"\x00"),
        (key, b""),
        (key, b"\x30" * 44),
        (key, b"\x30" * 367),
    ]:
        with pytest.raises(CryptoError):
            asymmetric.decrypt(Algorithm.SM2_ENCRYPT, attempt_key, data)


def test_sm2_rejects_malformed_keys() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        asymmetric.sm2_encrypt(b"\x00" * 63, b"m")
    with pytest.raises(ValueError, match="96 bytes"):
        asymmetric.sm2_decrypt(b"\x00" * 95, b"\x30" * 100)
