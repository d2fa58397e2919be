"""Data encryption logic against the in-memory fake store: spec §4 ops 11, 12, 14, 15, 16 and §15 op 68."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from skms import errors
from skms.caller import Caller
from skms.domain import KeyState
from skms.logic.create_key import create_key
from skms.logic.data import (
    create_datakey_without_plaintext,
    create_random,
    decrypt_data,
    encrypt_data,
    encrypt_datakey,
    re_encrypt,
)
from skms.logic.datakeys import create_datakey, decrypt_datakey
from skms.models.base import parse_body
from skms.models.data import (
    CreateRandomRequestBody,
    DecryptDataRequestBody,
    EncryptDatakeyRequestBody,
    EncryptDataRequestBody,
    ReEncryptRequestBody,
)
from skms.models.datakeys import CreateDatakeyRequestBody, DecryptDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.runtime import Services

BASE64 = re.compile(r"^[0-9a-zA-Z+/=]{128,5648}$")  # §4 op 15
UPPER_HEX = re.compile(r"^[0-9A-F]+$")
OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
OAEP_SHA1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
ASYMMETRIC_KEYS = [("RSA_2048", "RSAES_OAEP_SHA_256"), ("SM2", "SM2_ENCRYPT")]


# --- helpers


def _key(services: Services, caller: Caller, spec: str = "AES_256", usage: str | None = None) -> str:
    fields = {"key_spec": spec} | ({"key_usage": usage} if usage else {})
    body = CreateKeyRequestBody(key_alias=f"k-{uuid.uuid4().hex[:12]}", **fields)
    return create_key(body, caller, services).key_info.key_id


def _set_state(services: Services, caller: Caller, key_id: str, state: KeyState) -> None:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    services.stores.keys.update_key(record.replace(key_state=state), record.revision)


def _public_key(services: Services, caller: Caller, key_id: str) -> rsa.RSAPublicKey:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    assert record.public_key_pem is not None
    public = serialization.load_pem_public_key(record.public_key_pem.encode("ascii"))
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def _encrypt(services: Services, caller: Caller, key_id: str, text: str, **fields: Any) -> str:
    body = parse_body(EncryptDataRequestBody, {"key_id": key_id, "plain_text": text, **fields})
    reply = encrypt_data(body, caller, services)
    assert reply.key_id == key_id
    return reply.cipher_text


def _decrypt(services: Services, caller: Caller, cipher: str, **fields: Any) -> tuple[str, bytes]:
    body = parse_body(DecryptDataRequestBody, {"cipher_text": cipher, **fields})
    reply = decrypt_data(body, caller, services)
    plain_bytes = base64.b64decode(reply.plain_text_base64.get_secret_value())
    return reply.plain_text.get_secret_value(), plain_bytes


def _datakey_plain_text(dek: bytes, digest: hashes.HashAlgorithm | None = None) -> str:
    h = hashes.Hash(digest or hashes.SHA256())
    h.update(dek)
    return (dek + h.finalize()).hex().upper()


def _wrap(
    services: Services, caller: Caller, key_id: str, plain_text: str, length: str, **fields: Any
) -> str:
    body = parse_body(
        EncryptDatakeyRequestBody,
        {"key_id": key_id, "plain_text": plain_text, "datakey_plain_length": length, **fields},
    )
    return encrypt_datakey(body, caller, services).cipher_text


def _unwrap(services: Services, caller: Caller, key_id: str, cipher: str, length: int, **fields: Any) -> str:
    body = parse_body(
        DecryptDatakeyRequestBody,
        {"key_id": key_id, "cipher_text": cipher, "datakey_cipher_length": str(length), **fields},
    )
    return decrypt_datakey(body, caller, services).data_key.get_secret_value()


def _re_encrypt(services: Services, caller: Caller, **fields: Any) -> dict[str, str]:
    reply = re_encrypt(parse_body(ReEncryptRequestBody, fields), caller, services)
    return reply.model_dump(mode="json")


def _code(action: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    """The §F2 code that ``action(*args, **kwargs)`` raises; any other exception fails the test."""
    with pytest.raises(errors.KmsError) as caught:
        action(*args, **kwargs)
    return caught.value.code


# --- op 11 create_datakey_without_plaintext


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_create_datakey_without_plaintext_returns_only_a_blob_that_decrypt_datakey_opens(
    memory_services: Services, caller: Caller, spec: str
) -> None:
    key_id = _key(memory_services, caller, spec)
    body = CreateDatakeyRequestBody(key_id=key_id, datakey_length="512", additional_authenticated_data="a")
    reply = create_datakey_without_plaintext(body, caller, memory_services)
    assert set(reply.model_dump(mode="json")) == {"key_id", "cipher_text"}
    assert reply.key_id == key_id
    assert UPPER_HEX.match(reply.cipher_text)
    dek = _unwrap(memory_services, caller, key_id, reply.cipher_text, 64, additional_authenticated_data="a")
    assert len(dek) == 128


def test_create_datakey_without_plaintext_follows_op_10_rules(
    memory_services: Services, caller: Caller
) -> None:
    aes, ec = _key(memory_services, caller), _key(memory_services, caller, "EC_P256")
    for key_id, fields, code in [
        (aes, {"datakey_length": "12"}, "KMS.1903"),
        (aes, {"key_spec": "AES_512"}, "KMS.1902"),
        (ec, {}, "KMS.0325"),
    ]:
        body = parse_body(CreateDatakeyRequestBody, {"key_id": key_id, **fields})
        assert _code(create_datakey_without_plaintext, body, caller, memory_services) == code


# --- op 12 encrypt_datakey


@pytest.mark.parametrize(("spec", "digest"), [("AES_256", hashes.SHA256()), ("SM4", hashes.SM3())])
@pytest.mark.parametrize("size", [1, 64, 1024])
def test_encrypt_datakey_round_trips_through_decrypt_datakey(
    memory_services: Services, caller: Caller, spec: str, digest: hashes.HashAlgorithm, size: int
) -> None:
    key_id = _key(memory_services, caller, spec)
    dek = bytes(range(256)) * 4
    dek = dek[:size]
    body = parse_body(
        EncryptDatakeyRequestBody,
        {
            "key_id": key_id,
            "plain_text": _datakey_plain_text(dek, digest).lower(),  # hex is case-insensitive
            "datakey_plain_length": str(size),
            "encryption_context": {"k": "v"},
        },
    )
    reply = encrypt_datakey(body, caller, memory_services)
    assert (reply.key_id, reply.datakey_length) == (key_id, str(size))
    assert UPPER_HEX.match(reply.cipher_text)
    unwrapped = _unwrap(
        memory_services, caller, key_id, reply.cipher_text, size, encryption_context={"k": "v"}
    )
    assert unwrapped == dek.hex().upper()
    assert _code(_unwrap, memory_services, caller, key_id, reply.cipher_text, size) == "KMS.2201"


def test_encrypt_datakey_accepts_the_docs_digest_of_64_zero_bytes(
    memory_services: Services, caller: Caller
) -> None:
    # §4 op 13 docs example: SHA-256 of 64 zero bytes.
    key_id = _key(memory_services, caller)
    plain_text = "00" * 64 + "F5A5FD42D16A20302798EF6ED309979B43003D2320D9F0E8EA9831A92759FB4B"
    cipher = _wrap(memory_services, caller, key_id, plain_text, "64")
    assert _unwrap(memory_services, caller, key_id, cipher, 64) == "00" * 64


@pytest.mark.parametrize(
    ("plain_text", "length", "code"),
    [
        ("ZZ" * 96, "64", "KMS.2101"),  # not hex
        ("A" * 193, "64", "KMS.2101"),  # odd length
        (" " + "AB" * 96, "64", "KMS.2101"),  # bytes.fromhex would accept the space
        ("AB" * 96, "0", "KMS.2102"),
        ("AB" * 96, "1025", "KMS.2102"),
        ("AB" * 96, "6a", "KMS.2102"),
        ("AB" * 96, "63", "KMS.2104"),
        ("AB" * 96, "65", "KMS.2104"),
        ("AB" * 20, "1", "KMS.2104"),  # shorter than a digest
        ("AB" * 96, "64", "KMS.2103"),  # right length, wrong digest
    ],
)
def test_encrypt_datakey_errors(
    memory_services: Services, caller: Caller, plain_text: str, length: str, code: str
) -> None:
    key_id = _key(memory_services, caller)
    assert _code(_wrap, memory_services, caller, key_id, plain_text, length) == code


def test_encrypt_datakey_digest_follows_the_cmk(memory_services: Services, caller: Caller) -> None:
    # §F3: SM3 for an SM4 CMK, so a SHA-256 digest fails there (and the reverse on AES).
    dek = bytes(32)
    sm4, aes = _key(memory_services, caller, "SM4"), _key(memory_services, caller)
    assert _code(_wrap, memory_services, caller, sm4, _datakey_plain_text(dek), "32") == "KMS.2103"
    sm3_text = _datakey_plain_text(dek, hashes.SM3())
    assert _code(_wrap, memory_services, caller, aes, sm3_text, "32") == "KMS.2103"


def test_encrypt_datakey_refuses_asymmetric_keys(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller, "SM2", "ENCRYPT_DECRYPT")
    plain = _datakey_plain_text(bytes(16))
    assert _code(_wrap, memory_services, caller, key_id, plain, "16") == "KMS.0325"


# --- ops 14 and 15, symmetric


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_encrypt_data_round_trip_symmetric(memory_services: Services, caller: Caller, spec: str) -> None:
    key_id = _key(memory_services, caller, spec)
    text = "héllo, 世界 🙂\n"
    cipher = _encrypt(memory_services, caller, key_id, text, encryption_algorithm="SYMMETRIC_DEFAULT")
    assert BASE64.match(cipher)
    assert base64.b64decode(cipher)[:2] == b"\x02\x00"  # the §F4 frame
    # The blob names its key: key_id is optional, and when given it must match.
    assert _decrypt(memory_services, caller, cipher) == (text, text.encode())
    assert _decrypt(memory_services, caller, cipher, key_id=key_id)[0] == text
    other = _key(memory_services, caller, spec)
    assert _code(_decrypt, memory_services, caller, cipher, key_id=other) == "KMS.2201"


def test_decrypt_data_reply_carries_the_key_id(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    cipher = _encrypt(memory_services, caller, key_id, "x")
    reply = decrypt_data(DecryptDataRequestBody(cipher_text=cipher), caller, memory_services)
    assert reply.key_id == key_id
    assert reply.model_dump(mode="json") == {"key_id": key_id, "plain_text": "x", "plain_text_base64": "eA=="}


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("a" * 4096, True),
        ("a" * 4097, False),
        ("é" * 2048, True),  # 4096 UTF-8 bytes
        ("é" * 2049, False),  # 2049 characters but 4098 bytes
        ("€" * 1365 + "a", True),  # 4096 bytes
        ("€" * 1366, False),  # 4098 bytes
        ("🙂" * 1024, True),
        ("🙂" * 1024 + "a", False),
        ("", False),
        ("\ud800", False),  # a lone surrogate has no UTF-8 form
    ],
)
def test_plain_text_limit_counts_utf8_bytes(
    memory_services: Services, caller: Caller, text: str, accepted: bool
) -> None:
    key_id = _key(memory_services, caller)
    if accepted:
        cipher = _encrypt(memory_services, caller, key_id, text)
        assert BASE64.match(cipher)
        assert _decrypt(memory_services, caller, cipher)[0] == text
    else:
        assert _code(_encrypt, memory_services, caller, key_id, text) == "KMS.2101"


def test_context_and_aad_bind_encrypt_data(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    ctx = {"bucket": "b1", "object": "o1"}
    cipher = _encrypt(
        memory_services, caller, key_id, "secret", encryption_context=ctx, additional_authenticated_data="aad"
    )
    right = {"encryption_context": dict(reversed(ctx.items())), "additional_authenticated_data": "aad"}
    assert _decrypt(memory_services, caller, cipher, **right)[0] == "secret"
    for wrong in (
        {},
        {"encryption_context": ctx},
        {"additional_authenticated_data": "aad"},
        {"encryption_context": ctx | {"object": "o2"}, "additional_authenticated_data": "aad"},
        {"encryption_context": ctx, "additional_authenticated_data": "AAD"},
    ):
        assert _code(_decrypt, memory_services, caller, cipher, **wrong) == "KMS.2201"
    # And the reverse: a ciphertext made without context needs none.
    bare = _encrypt(memory_services, caller, key_id, "secret")
    assert _code(_decrypt, memory_services, caller, bare, **right) == "KMS.2201"


def test_purpose_is_bound_between_data_key_and_data_blobs(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    datakey_blob = create_datakey(
        CreateDatakeyRequestBody(key_id=key_id, datakey_length="512"), caller, memory_services
    ).cipher_text
    as_base64 = base64.b64encode(bytes.fromhex(datakey_blob)).decode()
    assert _code(_decrypt, memory_services, caller, as_base64) == "KMS.2201"
    data_blob = base64.b64decode(_encrypt(memory_services, caller, key_id, "a" * 64)).hex()
    assert _code(_unwrap, memory_services, caller, key_id, data_blob, 64) == "KMS.2201"


def test_every_single_byte_change_of_an_encrypt_data_ciphertext_is_a_4xx(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _key(memory_services, caller)
    raw = base64.b64decode(_encrypt(memory_services, caller, key_id, "attack at dawn" * 6))
    for offset in range(len(raw)):
        for with_key_id in ({}, {"key_id": key_id}):
            tampered = bytearray(raw)
            tampered[offset] ^= 0x01
            cipher = base64.b64encode(bytes(tampered)).decode()
            with pytest.raises(errors.KmsError) as caught:  # never another exception type
                _decrypt(memory_services, caller, cipher, **with_key_id)
            assert 400 <= caught.value.status < 500, offset


def test_forged_checksum_and_truncation_are_rejected(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    raw = base64.b64decode(_encrypt(memory_services, caller, key_id, "x" * 100))
    flipped = bytearray(raw)
    flipped[20] ^= 0x80  # inside the AEAD ciphertext
    framed = bytes(flipped[:-32])
    forged = framed + hashlib.sha256(framed).digest()
    for candidate in (forged, raw[:-1], raw[:100], raw + b"\x00"):
        cipher = base64.b64encode(candidate).decode()
        assert _code(_decrypt, memory_services, caller, cipher) == "KMS.2201"
    # Not Base64 at all (right alphabet, wrong padding)
    assert _code(_decrypt, memory_services, caller, "A" * 129) == "KMS.2201"


# --- ops 14 and 15, asymmetric


@pytest.mark.parametrize(("spec", "algorithm"), [*ASYMMETRIC_KEYS, ("RSA_3072", "RSAES_OAEP_SHA_256")])
def test_encrypt_data_round_trip_asymmetric(
    memory_services: Services, caller: Caller, spec: str, algorithm: str
) -> None:
    key_id = _key(memory_services, caller, spec, "ENCRYPT_DECRYPT")
    cipher = _encrypt(memory_services, caller, key_id, "héllo", encryption_algorithm=algorithm)
    assert BASE64.match(cipher)
    assert _decrypt(memory_services, caller, cipher, key_id=key_id, encryption_algorithm=algorithm) == (
        "héllo",
        "héllo".encode(),
    )


def test_rsa_ciphertext_from_the_public_key_decrypts_with_non_utf8_bytes(
    memory_services: Services, caller: Caller
) -> None:
    # A client encrypts under the published public key; plain_text_base64 is the faithful copy.
    key_id = _key(memory_services, caller, "RSA_2048", "ENCRYPT_DECRYPT")
    message = b"\xff\x00binary\x80"
    ours = _public_key(memory_services, caller, key_id).encrypt(message, OAEP_SHA256)
    cipher = base64.b64encode(ours).decode()
    text, plain = _decrypt(
        memory_services, caller, cipher, key_id=key_id, encryption_algorithm="RSAES_OAEP_SHA_256"
    )
    assert plain == message
    assert text == message.decode("utf-8", errors="replace")


@pytest.mark.parametrize(
    ("spec", "algorithm", "limit"), [("RSA_2048", "RSAES_OAEP_SHA_256", 190), ("SM2", "SM2_ENCRYPT", 255)]
)
def test_asymmetric_plaintext_size_limit_is_kms_2108(
    memory_services: Services, caller: Caller, spec: str, algorithm: str, limit: int
) -> None:
    key_id = _key(memory_services, caller, spec, "ENCRYPT_DECRYPT")
    cipher = _encrypt(memory_services, caller, key_id, "a" * limit, encryption_algorithm=algorithm)
    assert (
        _decrypt(memory_services, caller, cipher, key_id=key_id, encryption_algorithm=algorithm)[0]
        == "a" * limit
    )
    too_long = "a" * (limit + 1)
    assert _code(_encrypt, memory_services, caller, key_id, too_long, encryption_algorithm=algorithm) == (
        "KMS.2108"
    )


@pytest.mark.parametrize(
    ("spec", "usage", "algorithm", "code"),
    [
        ("AES_256", None, "RSAES_OAEP_SHA_256", "KMS.2105"),
        ("SM4", None, "SM2_ENCRYPT", "KMS.2105"),
        ("RSA_2048", "ENCRYPT_DECRYPT", None, "KMS.2106"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", "KMS.2106"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "SM2_ENCRYPT", "KMS.2106"),
        ("SM2", "ENCRYPT_DECRYPT", "RSAES_OAEP_SHA_256", "KMS.2106"),
        ("SM2", "ENCRYPT_DECRYPT", None, "KMS.2106"),
        ("EC_P256", None, "RSAES_OAEP_SHA_256", "KMS.1114"),
        ("EC_P384", None, None, "KMS.1114"),
        ("SECP256K1", None, None, "KMS.1114"),
        ("EC_P256", "KEY_AGREEMENT", None, "KMS.1114"),
        ("ED25519", None, None, "KMS.0335"),
        ("RSA_2048", "SIGN_VERIFY", "RSAES_OAEP_SHA_256", "KMS.0335"),
        ("SM2", "SIGN_VERIFY", "SM2_ENCRYPT", "KMS.0335"),
    ],
)
def test_key_and_algorithm_mismatches(
    memory_services: Services, caller: Caller, spec: str, usage: str | None, algorithm: str | None, code: str
) -> None:
    key_id = _key(memory_services, caller, spec, usage)
    fields = {"encryption_algorithm": algorithm} if algorithm else {}
    assert _code(_encrypt, memory_services, caller, key_id, "m", **fields) == code
    fake_cipher = base64.b64encode(bytes(256)).decode()
    assert _code(_decrypt, memory_services, caller, fake_cipher, key_id=key_id, **fields) == code


@pytest.mark.parametrize(("spec", "algorithm"), ASYMMETRIC_KEYS)
def test_asymmetric_refuses_aad_and_context(
    memory_services: Services, caller: Caller, spec: str, algorithm: str
) -> None:
    key_id = _key(memory_services, caller, spec, "ENCRYPT_DECRYPT")
    cipher = _encrypt(memory_services, caller, key_id, "m", encryption_algorithm=algorithm)
    for binding in ({"additional_authenticated_data": "a"}, {"encryption_context": {"k": "v"}}):
        fields = {"encryption_algorithm": algorithm, **binding}
        assert _code(_encrypt, memory_services, caller, key_id, "m", **fields) == "KMS.0308"
        assert _code(_decrypt, memory_services, caller, cipher, key_id=key_id, **fields) == "KMS.0308"


@pytest.mark.parametrize(("spec", "algorithm"), ASYMMETRIC_KEYS)
def test_asymmetric_decrypt_failures(
    memory_services: Services, caller: Caller, spec: str, algorithm: str
) -> None:
    key_id = _key(memory_services, caller, spec, "ENCRYPT_DECRYPT")
    other = _key(memory_services, caller, spec, "ENCRYPT_DECRYPT")
    cipher = _encrypt(memory_services, caller, key_id, "m" * 40, encryption_algorithm=algorithm)
    # Asymmetric ciphertexts carry no key id: without key_id it is a missing parameter.
    assert _code(_decrypt, memory_services, caller, cipher, encryption_algorithm=algorithm) == "KMS.0204"
    fields = {"key_id": key_id, "encryption_algorithm": algorithm}
    assert _code(_decrypt, memory_services, caller, cipher, **(fields | {"key_id": other})) == "KMS.2201"
    raw = base64.b64decode(cipher)
    for offset in (0, len(raw) // 2, len(raw) - 1):
        tampered = bytearray(raw)
        tampered[offset] ^= 0x01
        bad = base64.b64encode(bytes(tampered)).decode()
        assert _code(_decrypt, memory_services, caller, bad, **fields) == "KMS.2201"
    # Without encryption_algorithm the blob path is taken, and an asymmetric ciphertext is no blob.
    aes_blob = _encrypt(memory_services, caller, _key(memory_services, caller), "m")
    assert _code(_decrypt, memory_services, caller, aes_blob, key_id=key_id) == "KMS.2106"
    assert _code(_decrypt, memory_services, caller, cipher) == "KMS.2201"


# --- key state


@pytest.mark.parametrize(
    ("state", "code"), [(KeyState.DISABLED, "KMS.0209"), (KeyState.PENDING_DELETION, "KMS.0210")]
)
def test_key_state_is_checked_by_every_operation(
    memory_services: Services, caller: Caller, state: KeyState, code: str
) -> None:
    key_id, other = _key(memory_services, caller), _key(memory_services, caller)
    rsa_id = _key(memory_services, caller, "RSA_2048", "ENCRYPT_DECRYPT")
    cipher = _encrypt(memory_services, caller, key_id, "m")
    rsa_cipher = _encrypt(memory_services, caller, rsa_id, "m", encryption_algorithm="RSAES_OAEP_SHA_256")
    dk = create_datakey(CreateDatakeyRequestBody(key_id=key_id), caller, memory_services).cipher_text
    for target in (key_id, rsa_id):
        _set_state(memory_services, caller, target, state)
    attempts: list[Callable[[], object]] = [
        lambda: _encrypt(memory_services, caller, key_id, "m"),
        lambda: _decrypt(memory_services, caller, cipher),
        lambda: _decrypt(
            memory_services, caller, rsa_cipher, key_id=rsa_id, encryption_algorithm="RSAES_OAEP_SHA_256"
        ),
        lambda: _wrap(memory_services, caller, key_id, _datakey_plain_text(bytes(8)), "8"),
        lambda: create_datakey_without_plaintext(
            CreateDatakeyRequestBody(key_id=key_id), caller, memory_services
        ),
        lambda: _re_encrypt(memory_services, caller, cipher_text=cipher, destination_key_id=other),
        lambda: _re_encrypt(
            memory_services, caller, cipher_text=dk, destination_key_id=other, datakey_cipher_length="32"
        ),
        lambda: _re_encrypt(
            memory_services,
            caller,
            cipher_text=_encrypt(memory_services, caller, other, "m"),
            destination_key_id=key_id,
        ),
    ]
    for attempt in attempts:
        assert _code(attempt) == code


def test_keys_of_other_projects_are_invisible(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    cipher = _encrypt(memory_services, caller, key_id, "m")
    stranger = Caller("f0e1d2c3b4a5968778695a4b3c2d1e0f", caller.domain_id, "r")
    assert _code(_decrypt, memory_services, stranger, cipher) == "KMS.0207"
    assert _code(_encrypt, memory_services, stranger, key_id, "m") == "KMS.0207"


# --- op 16 re_encrypt


def test_re_encrypt_data_blob_from_aes_to_sm4_under_new_bindings(
    memory_services: Services, caller: Caller
) -> None:
    aes, sm4 = _key(memory_services, caller, "AES_256"), _key(memory_services, caller, "SM4")
    cipher = _encrypt(memory_services, caller, aes, "secret ✓", encryption_context={"a": "1"})
    reply = _re_encrypt(
        memory_services,
        caller,
        cipher_text=cipher,
        source_encryption_context={"a": "1"},
        destination_key_id=sm4,
        destination_additional_authenticated_data="new-aad",
    )
    assert reply == {
        "key_id": sm4,
        "source_key_id": aes,
        "source_encryption_algorithm": "SYMMETRIC_DEFAULT",
        "destination_encryption_algorithm": "SYMMETRIC_DEFAULT",
        "cipher_text": reply["cipher_text"],
    }
    assert BASE64.match(reply["cipher_text"])
    new = reply["cipher_text"]
    assert _decrypt(memory_services, caller, new, additional_authenticated_data="new-aad")[0] == "secret ✓"
    assert _code(_decrypt, memory_services, caller, new) == "KMS.2201"
    assert _code(_decrypt, memory_services, caller, new, encryption_context={"a": "1"}) == "KMS.2201"


def test_re_encrypt_data_key_blob_stays_a_hex_data_key_blob(
    memory_services: Services, caller: Caller
) -> None:
    aes, sm4 = _key(memory_services, caller, "AES_256"), _key(memory_services, caller, "SM4")
    made = create_datakey(
        CreateDatakeyRequestBody(key_id=aes, datakey_length="512", additional_authenticated_data="x"),
        caller,
        memory_services,
    )
    reply = _re_encrypt(
        memory_services,
        caller,
        cipher_text=made.cipher_text.lower(),
        source_key_id=aes,
        source_additional_authenticated_data="x",
        destination_key_id=sm4,
        destination_encryption_context={"purpose": "rewrap"},
        datakey_cipher_length="64",
    )
    assert (reply["key_id"], reply["source_key_id"]) == (sm4, aes)
    assert UPPER_HEX.match(reply["cipher_text"])
    unwrapped = _unwrap(
        memory_services, caller, sm4, reply["cipher_text"], 64, encryption_context={"purpose": "rewrap"}
    )
    assert unwrapped == made.plain_text.get_secret_value()
    # And it is still a data-key blob: decrypt-data refuses it.
    as_base64 = base64.b64encode(bytes.fromhex(reply["cipher_text"])).decode()
    assert _code(_decrypt, memory_services, caller, as_base64, encryption_context={"purpose": "rewrap"}) == (
        "KMS.2201"
    )


def test_re_encrypt_data_key_blob_errors(memory_services: Services, caller: Caller) -> None:
    aes, other = _key(memory_services, caller), _key(memory_services, caller)
    rsa_id = _key(memory_services, caller, "RSA_2048", "ENCRYPT_DECRYPT")
    blob = create_datakey(CreateDatakeyRequestBody(key_id=aes), caller, memory_services).cipher_text
    base = {"cipher_text": blob, "destination_key_id": other}
    for fields, code in [
        ({}, "KMS.0204"),  # datakey_cipher_length is required for data-key blobs
        ({"datakey_cipher_length": "16"}, "KMS.2204"),
        ({"datakey_cipher_length": "0"}, "KMS.2202"),
        ({"datakey_cipher_length": "1025"}, "KMS.2202"),
        ({"datakey_cipher_length": "x"}, "KMS.2202"),
        ({"datakey_cipher_length": "32", "source_key_id": other}, "KMS.2201"),
        ({"datakey_cipher_length": "32", "source_additional_authenticated_data": "a"}, "KMS.2201"),
        (
            {
                "datakey_cipher_length": "32",
                "destination_key_id": rsa_id,
                "destination_encryption_algorithm": "RSAES_OAEP_SHA_256",
            },
            "KMS.0325",
        ),
    ]:
        assert _code(_re_encrypt, memory_services, caller, **(base | fields)) == code


def test_re_encrypt_binds_encoding_to_purpose(memory_services: Services, caller: Caller) -> None:
    aes = _key(memory_services, caller)
    data_blob = _encrypt(memory_services, caller, aes, "m" * 40)
    as_hex = base64.b64decode(data_blob).hex()
    dk = create_datakey(CreateDatakeyRequestBody(key_id=aes), caller, memory_services).cipher_text
    as_base64 = base64.b64encode(bytes.fromhex(dk)).decode()
    assert (
        _code(
            _re_encrypt,
            memory_services,
            caller,
            cipher_text=as_hex,
            destination_key_id=aes,
            datakey_cipher_length="40",
        )
        == "KMS.2201"
    )
    assert _code(_re_encrypt, memory_services, caller, cipher_text=as_base64, destination_key_id=aes) == (
        "KMS.2201"
    )


@pytest.mark.parametrize(("spec", "algorithm"), ASYMMETRIC_KEYS)
def test_re_encrypt_between_asymmetric_and_symmetric(
    memory_services: Services, caller: Caller, spec: str, algorithm: str
) -> None:
    aes = _key(memory_services, caller)
    asym = _key(memory_services, caller, spec, "ENCRYPT_DECRYPT")
    # symmetric -> asymmetric
    reply = _re_encrypt(
        memory_services,
        caller,
        cipher_text=_encrypt(memory_services, caller, aes, "to asym"),
        destination_key_id=asym,
        destination_encryption_algorithm=algorithm,
    )
    assert (reply["destination_encryption_algorithm"], reply["source_encryption_algorithm"]) == (
        algorithm,
        "SYMMETRIC_DEFAULT",
    )
    opened = _decrypt(
        memory_services, caller, reply["cipher_text"], key_id=asym, encryption_algorithm=algorithm
    )
    assert opened[0] == "to asym"
    # asymmetric -> symmetric needs the source key id
    cipher = _encrypt(memory_services, caller, asym, "to sym", encryption_algorithm=algorithm)
    fields = {"cipher_text": cipher, "destination_key_id": aes, "source_encryption_algorithm": algorithm}
    assert _code(_re_encrypt, memory_services, caller, **fields) == "KMS.0204"
    reply = _re_encrypt(memory_services, caller, source_key_id=asym, **fields)
    assert (reply["key_id"], reply["source_key_id"]) == (aes, asym)
    assert _decrypt(memory_services, caller, reply["cipher_text"])[0] == "to sym"
    # AAD cannot apply to the asymmetric side
    assert (
        _code(
            _re_encrypt,
            memory_services,
            caller,
            source_key_id=asym,
            source_additional_authenticated_data="a",
            **fields,
        )
        == "KMS.0308"
    )


def test_re_encrypt_accepts_rsa_oaep_sha1_made_with_the_public_key(
    memory_services: Services, caller: Caller
) -> None:
    aes, rsa_id = _key(memory_services, caller), _key(memory_services, caller, "RSA_2048", "ENCRYPT_DECRYPT")
    client_cipher = _public_key(memory_services, caller, rsa_id).encrypt(b"legacy", OAEP_SHA1)
    reply = _re_encrypt(
        memory_services,
        caller,
        cipher_text=base64.b64encode(client_cipher).decode(),
        source_key_id=rsa_id,
        source_encryption_algorithm="RSAES_OAEP_SHA_1",
        destination_key_id=aes,
    )
    assert _decrypt(memory_services, caller, reply["cipher_text"])[0] == "legacy"
    # The same bytes under the wrong OAEP hash fail opaquely.
    assert (
        _code(
            _re_encrypt,
            memory_services,
            caller,
            cipher_text=base64.b64encode(client_cipher).decode(),
            source_key_id=rsa_id,
            source_encryption_algorithm="RSAES_OAEP_SHA_256",
            destination_key_id=aes,
        )
        == "KMS.2201"
    )


def test_re_encrypt_checks_the_destination_key(memory_services: Services, caller: Caller) -> None:
    aes, ec = _key(memory_services, caller), _key(memory_services, caller, "EC_P256")
    cipher = _encrypt(memory_services, caller, aes, "m")
    for fields, code in [
        ({"destination_key_id": ec}, "KMS.1114"),
        ({"destination_key_id": aes, "destination_encryption_algorithm": "SM2_ENCRYPT"}, "KMS.2105"),
        ({"destination_key_id": str(uuid.uuid4())}, "KMS.0207"),
    ]:
        assert _code(_re_encrypt, memory_services, caller, cipher_text=cipher, **fields) == code


# --- op 68 create_random


@pytest.mark.parametrize("bits", [8, 256, 512, 8192])
def test_create_random_returns_upper_hex_of_the_requested_bits(
    memory_services: Services, caller: Caller, bits: int
) -> None:
    reply = create_random(CreateRandomRequestBody(random_data_length=str(bits)), caller, memory_services)
    data = reply.random_data.get_secret_value()
    assert len(data) == bits // 4
    assert UPPER_HEX.match(data)
    assert "random_data=SecretStr('**********')" in repr(reply)
    assert reply.model_dump(mode="json") == {"random_data": data}


def test_create_random_is_random(memory_services: Services, caller: Caller) -> None:
    body = CreateRandomRequestBody(random_data_length="256")
    values = {create_random(body, caller, memory_services).random_data.get_secret_value() for _ in range(4)}
    assert len(values) == 4


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"random_data_length": "12"}, "KMS.1802"),
        ({"random_data_length": "8188"}, "KMS.1802"),
        ({"random_data_length": "0"}, "KMS.0308"),
        ({"random_data_length": "7"}, "KMS.0308"),
        ({"random_data_length": "8200"}, "KMS.0308"),
        ({"random_data_length": "-8"}, "KMS.0308"),
        ({"random_data_length": "abc"}, "KMS.0308"),
        ({"random_data_length": "٥١٢"}, "KMS.0308"),  # Arabic-Indic digits are not ASCII decimal
        ({"random_data_length": 512}, "KMS.0308"),  # the wire type is a string
        ({}, "KMS.0204"),
    ],
)
def test_create_random_errors(
    memory_services: Services, caller: Caller, raw: dict[str, Any], code: str
) -> None:
    assert (
        _code(lambda: create_random(parse_body(CreateRandomRequestBody, raw), caller, memory_services))
        == code
    )


# --- wire models


@pytest.mark.parametrize(
    ("model", "raw", "code"),
    [
        (EncryptDataRequestBody, {"key_id": str(uuid.uuid4())}, "KMS.0204"),
        (EncryptDataRequestBody, {"key_id": "bad", "plain_text": "m"}, "KMS.0205"),
        (EncryptDataRequestBody, {"key_id": str(uuid.uuid4()), "plain_text": 5}, "KMS.2101"),
        (
            EncryptDataRequestBody,
            {"key_id": str(uuid.uuid4()), "plain_text": "m", "encryption_algorithm": "AES"},
            "KMS.0308",
        ),
        (
            EncryptDataRequestBody,
            {"key_id": str(uuid.uuid4()), "plain_text": "m", "additional_authenticated_data": "a" * 129},
            "KMS.0308",
        ),
        (
            EncryptDataRequestBody,
            {"key_id": str(uuid.uuid4()), "plain_text": "m", "encryption_context": {"a": 1}},
            "KMS.0208",
        ),
        (DecryptDataRequestBody, {"cipher_text": "A" * 127}, "KMS.2201"),
        (DecryptDataRequestBody, {"cipher_text": "A" * 5649}, "KMS.2201"),
        (DecryptDataRequestBody, {"cipher_text": "-" * 200}, "KMS.2201"),
        (DecryptDataRequestBody, {"cipher_text": "A" * 128, "key_id": "nope"}, "KMS.0205"),
        (
            DecryptDataRequestBody,
            {"cipher_text": "A" * 128, "encryption_algorithm": "RSAES_OAEP_SHA_1"},
            "KMS.0308",
        ),
        (EncryptDatakeyRequestBody, {"key_id": str(uuid.uuid4()), "plain_text": "AB"}, "KMS.0204"),
        (
            EncryptDatakeyRequestBody,
            {"key_id": str(uuid.uuid4()), "plain_text": "", "datakey_plain_length": "1"},
            "KMS.2101",
        ),
        (ReEncryptRequestBody, {"cipher_text": "AA"}, "KMS.0204"),
        (ReEncryptRequestBody, {"cipher_text": "AA", "destination_key_id": "x"}, "KMS.0205"),
        (ReEncryptRequestBody, {"cipher_text": "A!", "destination_key_id": str(uuid.uuid4())}, "KMS.2201"),
        (
            ReEncryptRequestBody,
            {"cipher_text": "AA", "destination_key_id": str(uuid.uuid4()), "source_key_id": "x"},
            "KMS.0205",
        ),
        (
            ReEncryptRequestBody,
            {
                "cipher_text": "AA",
                "destination_key_id": str(uuid.uuid4()),
                "source_encryption_context": ["a"],
            },
            "KMS.0208",
        ),
        (
            ReEncryptRequestBody,
            {
                "cipher_text": "AA",
                "destination_key_id": str(uuid.uuid4()),
                "destination_additional_authenticated_data": "a" * 129,
            },
            "KMS.0308",
        ),
        (
            ReEncryptRequestBody,
            {
                "cipher_text": "AA",
                "destination_key_id": str(uuid.uuid4()),
                "destination_encryption_algorithm": "X",
            },
            "KMS.0308",
        ),
    ],
)
def test_wire_validation_maps_to_f2_codes(model: Any, raw: dict[str, Any], code: str) -> None:
    assert _code(lambda: parse_body(model, raw)) == code


def test_secrets_do_not_appear_in_reprs_but_do_in_json(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    secret = "top-secret-plaintext"
    request = EncryptDataRequestBody(key_id=key_id, plain_text=secret)  # type: ignore[arg-type]
    assert secret not in repr(request)
    assert secret not in str(request)
    cipher = encrypt_data(request, caller, memory_services).cipher_text
    reply = decrypt_data(DecryptDataRequestBody(cipher_text=cipher), caller, memory_services)
    encoded = base64.b64encode(secret.encode()).decode()
    assert secret not in repr(reply)
    assert encoded not in repr(reply)
    assert reply.model_dump(mode="json")["plain_text"] == secret
    dek_text = _datakey_plain_text(bytes(range(32)))
    wrap = EncryptDatakeyRequestBody(key_id=key_id, plain_text=dek_text, datakey_plain_length="32")  # type: ignore[arg-type]
    assert dek_text not in repr(wrap)


def test_validation_errors_do_not_echo_the_plaintext() -> None:
    secret = "s3cr3t-" * 700  # too long
    with pytest.raises(errors.KmsError) as caught:
        parse_body(EncryptDataRequestBody, {"key_id": str(uuid.uuid4()), "plain_text": secret})
    assert "s3cr3t" not in caught.value.message


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.EcKeyCannotEncrypt, "KMS.1114"),
        (errors.InvalidPlainText, "KMS.2101"),
        (errors.InvalidDatakeyPlainLength, "KMS.2102"),
        (errors.DatakeyDigestMismatch, "KMS.2103"),
        (errors.PlainLengthMismatch, "KMS.2104"),
        (errors.SymmetricAlgorithmUnsupported, "KMS.2105"),
        (errors.AsymmetricAlgorithmUnsupported, "KMS.2106"),
        (errors.PlaintextTooLong, "KMS.2108"),
    ],
)
def test_new_errors_carry_their_f2_code_and_400(error: type[errors.KmsError], code: str) -> None:
    assert (error.code, error.status) == (code, 400)
    assert error().body() == {"error": {"error_code": code, "error_msg": error.default_message}}
