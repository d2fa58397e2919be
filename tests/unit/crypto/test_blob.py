"""The data-key ciphertext blob: pinned formats (body versions 1 and 2), round trips, binding,
per-message keys, and tamper resistance."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skms.crypto import aead, blob
from skms.crypto.errors import CryptoError

VECTOR_DIR = Path(__file__).parent / "vectors"
V1_VECTORS = json.loads((VECTOR_DIR / "blob_v1.json").read_text(encoding="utf-8"))
V2_VECTORS = json.loads((VECTOR_DIR / "blob_v2.json").read_text(encoding="utf-8"))
assert V1_VECTORS, "blob_v1.json holds no vectors"
assert V2_VECTORS, "blob_v2.json holds no vectors"
VECTORS = [(1, v) for v in V1_VECTORS] + [(2, v) for v in V2_VECTORS]

KEY_ID = "b2d1c3e4-0000-4a5b-8c7d-0123456789ab"
OTHER_KEY_ID = "b2d1c3e4-0000-4a5b-8c7d-0123456789ac"
PROJECT = "f00dfacef00dfacef00dfacef00dface"
KEYS = {aead.Suite.AES_256_GCM: bytes(range(1, 33)), aead.Suite.SM4_GCM: bytes(range(1, 17))}


def _seal(
    suite: aead.Suite = aead.Suite.AES_256_GCM,
    purpose: blob.Purpose = blob.Purpose.DATA_KEY,
    plaintext: bytes = b"0123456789abcdef0123456789abcdef",
    *,
    key_id: str = KEY_ID,
    version: int = 3,
    bound: bytes | None = None,
) -> bytes:
    return blob.seal(
        suite=suite,
        key=KEYS[suite],
        key_id=key_id,
        key_version=version,
        purpose=purpose,
        plaintext=plaintext,
        bound=blob.binding(PROJECT, {"k": "v"}, b"aad") if bound is None else bound,
    )


def _open(data: bytes, suite: aead.Suite, bound: bytes, expected: blob.BlobHeader | None = None) -> bytes:
    """What a caller does: read the header (to find the CMK), then open expecting that header."""
    header = blob.read_header(data)
    return blob.open_blob(data, key=KEYS[suite], expected=expected or header, bound=bound)


def _with_trailer(framed: bytes) -> bytes:
    return framed + hashlib.sha256(framed).digest()


def _vector_inputs(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "suite": aead.Suite[v["suite"]],
        "key": bytes.fromhex(v["key"]),
        "key_id": v["key_id"],
        "key_version": v["key_version"],
        "purpose": blob.Purpose[v["purpose"]],
        "plaintext": bytes.fromhex(v["plaintext"]),
    }


def _vector_binding(v: dict[str, Any]) -> bytes:
    return blob.binding(v["project_id"], v["context"], None if v["aad"] is None else bytes.fromhex(v["aad"]))


VECTOR_PARAMS = [pytest.param(version, v, id=f"v{version} {v['name']}") for version, v in VECTORS]
V1_PARAMS = [pytest.param(v, id=v["name"]) for v in V1_VECTORS]
SUITE_PURPOSE = [pytest.param(s, p, id=f"{s.name}-{p.name}") for s in aead.Suite for p in blob.Purpose]


# --- Known answers for our own format ---


@pytest.mark.parametrize(("body_version", "vector"), VECTOR_PARAMS)
def test_binding_reproduces_vector(body_version: int, vector: dict[str, Any]) -> None:
    assert _vector_binding(vector) == bytes.fromhex(vector["bound"])


@pytest.mark.parametrize(("body_version", "vector"), VECTOR_PARAMS)
def test_seal_reproduces_vector_byte_for_byte(body_version: int, vector: dict[str, Any]) -> None:
    # Given the recorded inputs, salt (v2) and nonce
    inputs = {**_vector_inputs(vector), "bound": bytes.fromhex(vector["bound"])}
    nonce = bytes.fromhex(vector["nonce"])
    # When the blob is sealed again, by the writer of its body version
    if body_version == 1:
        sealed = blob._seal_v1_with_nonce(**inputs, nonce=nonce)
    else:
        sealed = blob._seal_with_nonce(**inputs, salt=bytes.fromhex(vector["salt"]), nonce=nonce)
    # Then it is exactly the recorded blob (the format has not drifted)
    assert sealed.hex() == vector["blob"]


@pytest.mark.parametrize(("body_version", "vector"), VECTOR_PARAMS)
def test_open_blob_recovers_vector_plaintext(body_version: int, vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["blob"])
    header = blob.read_header(data)
    assert header == blob.BlobHeader(
        key_id=vector["key_id"],
        key_version=vector["key_version"],
        suite=aead.Suite[vector["suite"]],
        purpose=blob.Purpose[vector["purpose"]],
    )
    opened = blob.open_blob(
        data, key=bytes.fromhex(vector["key"]), expected=header, bound=_vector_binding(vector)
    )
    assert opened == bytes.fromhex(vector["plaintext"])


@pytest.mark.parametrize(("body_version", "vector"), VECTOR_PARAMS)
def test_frame_fields_read_directly_from_bytes(body_version: int, vector: dict[str, Any]) -> None:
    """The §F4 frame, parsed here by hand from the documented layout and not through blob.py."""
    data = bytes.fromhex(vector["blob"])
    plaintext = bytes.fromhex(vector["plaintext"])
    salt_len = 32 if body_version == 2 else 0
    body_len = 3 + salt_len + 12 + len(plaintext) + 16
    # offset 0: frame marker 02 00
    assert data[0:2] == b"\x02\x00"
    # offset 2: LE u16 L == total - 36 == body + key id + version
    (length,) = struct.unpack_from("<H", data, 2)
    assert length == len(data) - 36 == body_len + 36 + 4
    assert len(data) == 4 + body_len + 36 + 4 + 32
    # body header: BODY_VERSION, SUITE, PURPOSE, then (v2) the salt, then the nonce
    assert data[4] == body_version
    assert data[5] == aead.Suite[vector["suite"]].value
    assert data[6] == blob.Purpose[vector["purpose"]].value
    if body_version == 2:
        assert data[7:39] == bytes.fromhex(vector["salt"])
    nonce_at = 7 + salt_len
    assert data[nonce_at : nonce_at + 12] == bytes.fromhex(vector["nonce"])
    # key id ASCII at 4 + B, then the LE u32 version
    key_id_at = 4 + body_len
    assert data[key_id_at : key_id_at + 36] == vector["key_id"].encode("ascii")
    (version,) = struct.unpack_from("<I", data, key_id_at + 36)
    assert version == vector["key_version"]
    # trailer: SHA-256 over everything before it
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()


def _hkdf_by_hand(hash_name: str, ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 from its definition, on cryptography's HMAC alone (not through blob.py's own HKDF)."""

    def mac(key: bytes, message: bytes) -> bytes:
        h = crypto_hmac.HMAC(key, hashes.SM3() if hash_name == "sm3" else hashes.SHA256())
        h.update(message)
        return h.finalize()

    prk = mac(salt, ikm)
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = mac(prk, block + info + bytes((counter,)))
        okm, counter = okm + block, counter + 1
    return okm[:length]


def test_hkdf_by_hand_reproduces_rfc5869_case_1() -> None:
    # RFC 5869 A.1, so the independent derivation below is itself checked
    okm = _hkdf_by_hand(
        "sha256",
        bytes.fromhex("0b" * 22),
        bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


@pytest.mark.parametrize(("body_version", "vector"), VECTOR_PARAMS)
def test_body_opens_with_an_independent_gcm_under_the_documented_aad(
    body_version: int, vector: dict[str, Any]
) -> None:
    """AAD = frame header || body header || key id || version || binding, binding built by hand.

    v1 bodies are under the material itself; v2 bodies under HKDF(material, salt, label || body
    header || key id || version), SHA-256 for AES and SM3 for SM4, derived here by hand.
    """
    data = bytes.fromhex(vector["blob"])
    material = bytes.fromhex(vector["key"])
    key_id_at = len(data) - 32 - 40

    def lp(field: bytes) -> bytes:
        return struct.pack(">I", len(field)) + field

    context = vector["context"] or {}
    items = sorted((k.encode(), v.encode()) for k, v in context.items())
    encoded_context = struct.pack(">H", len(items)) + b"".join(
        struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v for k, v in items
    )
    aad_field = bytes.fromhex(vector["aad"] or "")
    bound = lp(b"skms/blob/v1") + lp(vector["project_id"].encode()) + lp(encoded_context) + lp(aad_field)
    assert bound == bytes.fromhex(vector["bound"])

    tail = data[key_id_at : key_id_at + 40]
    associated = data[0:4] + data[4:7] + tail + bound
    if body_version == 1:
        key, nonce_at = material, 7
    else:
        salt = data[7:39]
        hash_name = "sha256" if vector["suite"] == "AES_256_GCM" else "sm3"
        info = b"skms/blob/v2/message-key" + data[4:7] + tail
        key, nonce_at = _hkdf_by_hand(hash_name, material, salt, info, len(material)), 39
        assert key.hex() == vector["message_key"]
        assert key != material
    nonce, ct_tag = data[nonce_at : nonce_at + 12], data[nonce_at + 12 : key_id_at]
    if vector["suite"] == "AES_256_GCM":
        plaintext = AESGCM(key).decrypt(nonce, ct_tag, associated)
    else:
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, ct_tag[-16:])).decryptor()
        decryptor.authenticate_additional_data(associated)
        plaintext = decryptor.update(ct_tag[:-16]) + decryptor.finalize()
    assert plaintext == bytes.fromhex(vector["plaintext"])


@pytest.mark.parametrize("vector", V1_PARAMS)
def test_v1_vectors_refuse_any_change_with_a_recomputed_checksum(vector: dict[str, Any]) -> None:
    # Given a stored v1 blob, which must stay readable
    data = bytes.fromhex(vector["blob"])
    key, bound = bytes.fromhex(vector["key"]), _vector_binding(vector)
    opened = blob.open_blob(data, key=key, expected=blob.read_header(data), bound=bound)
    assert opened == bytes.fromhex(vector["plaintext"])
    # When any byte before the trailer changes (checksum fixed up); Then it fails opaquely
    for offset in range(len(data) - 32):
        tampered = bytearray(data[:-32])
        tampered[offset] ^= 0x01
        changed = _with_trailer(bytes(tampered))
        with pytest.raises(CryptoError):
            blob.open_blob(changed, key=key, expected=blob.read_header(changed), bound=bound)


def test_format_constants_are_fixed() -> None:
    assert blob.FRAME_MARKER == b"\x02\x00"
    assert blob.FRAME_OVERHEAD == 76
    assert (blob.BODY_V1, blob.BODY_V2, blob.BODY_VERSION) == (1, 2, 2)
    assert (blob.BODY_OVERHEAD_V1, blob.SALT_LEN, blob.BODY_OVERHEAD) == (31, 32, 63)
    assert (blob.Purpose.DATA_KEY.value, blob.Purpose.DATA.value) == (1, 2)
    assert blob.MAX_PLAINTEXT == 0xFFFF - 36 - 4 - 63
    assert blob.BINDING_LABEL == b"skms/blob/v1"
    assert blob.MESSAGE_KEY_LABEL == b"skms/blob/v2/message-key"
    assert {suite.name: h.name for suite, h in blob.KDF_HASHES.items()} == {
        "AES_256_GCM": "sha256",
        "SM4_GCM": "sm3",
    }


def test_largest_encrypt_data_blob_still_fits_decrypt_data_input() -> None:
    # §4 op 15: decrypt-data takes at most 5648 Base64 characters, and encrypt-data up to 4096
    # plaintext bytes. With the salt the largest blob is 76 + 63 + 4096 = 4235 bytes = exactly 5648
    # characters: one more byte of body overhead still fits, two would not.
    largest = _seal(aead.Suite.SM4_GCM, blob.Purpose.DATA, b"x" * 4096)
    assert len(largest) == 4235
    assert len(base64.b64encode(largest)) == 5648


# --- Round trips and headers ---


@pytest.mark.parametrize(("suite", "purpose"), SUITE_PURPOSE)
@pytest.mark.parametrize("size", [0, 1, 16, 32, 64, 1000])
def test_round_trip(suite: aead.Suite, purpose: blob.Purpose, size: int) -> None:
    # Given a plaintext sealed under a suite and purpose
    plaintext = bytes(range(256)) * 4
    plaintext = plaintext[:size]
    bound = blob.binding(PROJECT, {"a": "1"}, b"x")
    data = _seal(suite, purpose, plaintext, bound=bound)
    # When it is opened; Then the plaintext comes back and the blob has the documented size
    assert _open(data, suite, bound) == plaintext
    assert len(data) == blob.FRAME_OVERHEAD + blob.BODY_OVERHEAD + size


@pytest.mark.parametrize(("suite", "purpose"), SUITE_PURPOSE)
def test_read_header_returns_key_id_version_suite_purpose(suite: aead.Suite, purpose: blob.Purpose) -> None:
    data = _seal(suite, purpose, key_id=OTHER_KEY_ID, version=0xDEADBEEF)
    assert blob.read_header(data) == blob.BlobHeader(
        key_id=OTHER_KEY_ID, key_version=0xDEADBEEF, suite=suite, purpose=purpose
    )


def test_sealing_twice_gives_different_blobs() -> None:
    assert _seal() != _seal()


def test_seal_writes_body_version_2_with_a_fresh_salt_each_time() -> None:
    first, second = _seal(), _seal()
    assert first[4] == second[4] == blob.BODY_V2
    assert first[7:39] != second[7:39]


@pytest.mark.parametrize("suite", list(aead.Suite))
def test_message_key_depends_on_salt_and_every_header_field(suite: aead.Suite) -> None:
    # Given the inputs of one message key
    material, salt = KEYS[suite], bytes(range(32))
    body_header = bytes((blob.BODY_V2, suite, blob.Purpose.DATA))
    tail = KEY_ID.encode() + struct.pack("<I", 3)
    key = blob._message_key(suite, material, salt, body_header, tail)
    assert len(key) == suite.key_len
    assert key != material
    # When any one input changes; Then the key is another key
    others = {
        blob._message_key(suite, material, bytes(32), body_header, tail),
        blob._message_key(suite, material, salt, bytes((2, suite, blob.Purpose.DATA_KEY)), tail),
        blob._message_key(suite, material, salt, body_header, OTHER_KEY_ID.encode() + struct.pack("<I", 3)),
        blob._message_key(suite, material, salt, body_header, KEY_ID.encode() + struct.pack("<I", 4)),
        blob._message_key(suite, bytes(suite.key_len), salt, body_header, tail),
    }
    assert key not in others
    assert len(others) == 5


@pytest.mark.parametrize("suite", list(aead.Suite))
def test_key_of_the_wrong_length_is_refused(suite: aead.Suite) -> None:
    # HKDF takes material of any length: the blob must check it, not let it through
    bound = blob.binding(PROJECT, None, None)
    data = _seal(suite, bound=bound)
    for length in (0, 8, 24, 31, 33, 64):
        if length == suite.key_len:
            continue
        with pytest.raises(ValueError, match="byte key"):
            blob.seal(
                suite=suite,
                key=bytes(length),
                key_id=KEY_ID,
                key_version=3,
                purpose=blob.Purpose.DATA,
                plaintext=b"x",
                bound=bound,
            )
        with pytest.raises(CryptoError):
            blob.open_blob(data, key=bytes(length), expected=blob.read_header(data), bound=bound)


def test_private_sealer_refuses_a_salt_of_the_wrong_length() -> None:
    for salt in (b"", bytes(16), bytes(33)):
        with pytest.raises(ValueError, match="salt"):
            blob._seal_with_nonce(
                suite=aead.Suite.AES_256_GCM,
                key=KEYS[aead.Suite.AES_256_GCM],
                key_id=KEY_ID,
                key_version=3,
                purpose=blob.Purpose.DATA,
                plaintext=b"x",
                bound=b"",
                salt=salt,
                nonce=bytes(12),
            )


def test_largest_plaintext_round_trips_and_one_more_byte_is_refused() -> None:
    bound = blob.binding(PROJECT, None, None)
    plaintext = b"\xab" * blob.MAX_PLAINTEXT
    data = _seal(plaintext=plaintext, bound=bound)
    assert struct.unpack_from("<H", data, 2)[0] == 0xFFFF
    assert _open(data, aead.Suite.AES_256_GCM, bound) == plaintext
    with pytest.raises(ValueError, match="too long"):
        _seal(plaintext=plaintext + b"\xab", bound=bound)


@pytest.mark.parametrize(
    "key_id",
    [KEY_ID[:-1], KEY_ID + "0", "", "b2d1c3e4-0000-4a5b-8c7d-0123456789aé"],
)
def test_seal_rejects_a_key_id_that_is_not_36_ascii_characters(key_id: str) -> None:
    with pytest.raises(ValueError):
        _seal(key_id=key_id)


@pytest.mark.parametrize("version", [-1, 2**32])
def test_seal_rejects_a_version_outside_u32(version: int) -> None:
    with pytest.raises(ValueError, match="key_version"):
        _seal(version=version)


@pytest.mark.parametrize("version", [0, 2**32 - 1])
def test_seal_accepts_u32_version_bounds(version: int) -> None:
    assert blob.read_header(_seal(version=version)).key_version == version


# --- Tampering ---


@pytest.mark.parametrize(("suite", "purpose"), SUITE_PURPOSE)
def test_every_single_byte_change_fails(suite: aead.Suite, purpose: blob.Purpose) -> None:
    # Given a small blob that opens
    bound = blob.binding(PROJECT, {"k": "v"}, b"aad")
    data = _seal(suite, purpose, b"key!", bound=bound)
    expected = blob.read_header(data)
    assert _open(data, suite, bound) == b"key!"
    # When any one byte is changed (xor 0x01); Then read_header or open_blob fails
    for offset in range(len(data)):
        tampered = bytearray(data)
        tampered[offset] ^= 0x01
        with pytest.raises(CryptoError):
            _open(bytes(tampered), suite, bound, expected)


@pytest.mark.parametrize(("suite", "purpose"), SUITE_PURPOSE)
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_byte_change_with_a_recomputed_checksum_fails(
    suite: aead.Suite, purpose: blob.Purpose, mask: int
) -> None:
    """The SHA-256 trailer is only a checksum: anyone can recompute it. The AEAD must still catch it.

    The caller is given the header read from the tampered blob, as a real caller would (it looks
    up the CMK from it), so the failure has to come from parsing or authentication.
    """
    bound = blob.binding(PROJECT, {"k": "v"}, b"aad")
    framed = _seal(suite, purpose, b"key!", bound=bound)[:-32]
    for offset in range(len(framed)):
        tampered = bytearray(framed)
        tampered[offset] ^= mask
        with pytest.raises(CryptoError):
            _open(_with_trailer(bytes(tampered)), suite, bound)


@pytest.mark.parametrize(("suite", "purpose"), SUITE_PURPOSE)
def test_truncation_at_every_length_fails(suite: aead.Suite, purpose: blob.Purpose) -> None:
    bound = blob.binding(PROJECT, None, None)
    data = _seal(suite, purpose, b"key!", bound=bound)
    expected = blob.read_header(data)
    for length in range(len(data)):
        with pytest.raises(CryptoError):
            blob.read_header(data[:length])
        with pytest.raises(CryptoError):
            blob.open_blob(data[:length], key=KEYS[suite], expected=expected, bound=bound)


@pytest.mark.parametrize("suite", list(aead.Suite))
@pytest.mark.parametrize("extra", [b"\x00", b"\xff", b"\x00" * 32])
def test_appended_bytes_fail(suite: aead.Suite, extra: bytes) -> None:
    bound = blob.binding(PROJECT, None, None)
    data = _seal(suite, bound=bound)
    with pytest.raises(CryptoError):
        _open(data + extra, suite, bound)


def test_blob_shortened_with_consistent_length_and_checksum_fails() -> None:
    # Given a blob whose ciphertext lost a byte, with L and the trailer fixed up to match
    bound = blob.binding(PROJECT, None, None)
    framed = _seal(bound=bound)[:-32]
    key_id_at = len(framed) - 40
    shorter = bytearray(framed[: key_id_at - 1] + framed[key_id_at:])
    struct.pack_into("<H", shorter, 2, struct.unpack_from("<H", framed, 2)[0] - 1)
    # Then it parses but does not open
    data = _with_trailer(bytes(shorter))
    assert blob.read_header(data).key_id == KEY_ID
    with pytest.raises(CryptoError):
        _open(data, aead.Suite.AES_256_GCM, bound)


@pytest.mark.parametrize("delta", [-1, 1, 0x100])
def test_read_header_alone_rejects_a_length_field_that_disagrees(delta: int) -> None:
    # Given a frame whose L is off, with a checksum recomputed to match (no decryption involved)
    framed = bytearray(_seal()[:-32])
    struct.pack_into("<H", framed, 2, struct.unpack_from("<H", framed, 2)[0] + delta)
    # Then the header cannot even be read
    with pytest.raises(CryptoError):
        blob.read_header(_with_trailer(bytes(framed)))


@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 40])
def test_read_header_alone_rejects_bytes_added_before_the_trailer(extra: bytes) -> None:
    framed = _seal()[:-32]
    with pytest.raises(CryptoError):
        blob.read_header(_with_trailer(framed + extra))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x02", b"\x02\x00", b"\x00" * 200, b"\x02\x00" + b"\xff" * 200],
    ids=["empty", "one-byte", "marker-only", "zeros", "garbage"],
)
def test_garbage_fails_to_parse(data: bytes) -> None:
    with pytest.raises(CryptoError):
        blob.read_header(data)


def test_garbage_of_valid_frame_fails() -> None:
    # Given a frame with valid lengths and checksum but an invalid suite / purpose / body version
    bound = blob.binding(PROJECT, None, None)
    framed = _seal(bound=bound)[:-32]
    for offset, value in ((4, 0), (4, 3), (4, 0xFF), (5, 0), (5, 3), (6, 0), (6, 3)):
        tampered = bytearray(framed)
        tampered[offset] = value
        with pytest.raises(CryptoError):
            blob.read_header(_with_trailer(bytes(tampered)))


@pytest.mark.parametrize("suite", list(aead.Suite))
def test_v2_blob_relabelled_v1_fails_to_open(suite: aead.Suite) -> None:
    # Given a v2 blob whose version byte says 1, checksum recomputed: it parses as a (long) v1 body
    bound = blob.binding(PROJECT, None, None)
    framed = bytearray(_seal(suite, bound=bound)[:-32])
    framed[4] = blob.BODY_V1
    relabelled = _with_trailer(bytes(framed))
    # Then it does not open (the version byte is in the AAD, and v1 uses the material directly)
    with pytest.raises(CryptoError):
        _open(relabelled, suite, bound)


@pytest.mark.parametrize("vector", V1_PARAMS)
def test_v1_blob_relabelled_v2_fails(vector: dict[str, Any]) -> None:
    framed = bytearray(bytes.fromhex(vector["blob"])[:-32])
    framed[4] = blob.BODY_V2
    relabelled = _with_trailer(bytes(framed))
    with pytest.raises(CryptoError):
        blob.open_blob(
            relabelled,
            key=bytes.fromhex(vector["key"]),
            expected=blob.read_header(bytes.fromhex(vector["blob"])),
            bound=_vector_binding(vector),
        )


@pytest.mark.parametrize("body_len", [31, 40, 62])
def test_v2_body_shorter_than_its_overhead_fails_to_parse(body_len: int) -> None:
    # Given a well-formed frame (length, checksum) around a v2 body too short for salt, nonce and tag
    body = bytes((blob.BODY_V2, aead.Suite.AES_256_GCM, blob.Purpose.DATA)) + bytes(body_len - 3)
    framed = b"\x02\x00" + struct.pack("<H", body_len + 40) + body + KEY_ID.encode() + struct.pack("<I", 0)
    # Then not even the header can be read
    with pytest.raises(CryptoError):
        blob.read_header(_with_trailer(framed))


def test_non_ascii_key_id_fails_to_parse() -> None:
    framed = bytearray(_seal()[:-32])
    framed[len(framed) - 40] = 0xC3
    with pytest.raises(CryptoError):
        blob.read_header(_with_trailer(bytes(framed)))


# --- Binding ---


@pytest.mark.parametrize("suite", list(aead.Suite))
@pytest.mark.parametrize(
    "other",
    [
        ("other-project", {"k": "v"}, b"aad"),
        (PROJECT.upper(), {"k": "v"}, b"aad"),
        (PROJECT, {"k": "w"}, b"aad"),
        (PROJECT, {"K": "v"}, b"aad"),
        (PROJECT, {"k": "v", "k2": "v"}, b"aad"),
        (PROJECT, {}, b"aad"),
        (PROJECT, None, b"aad"),
        (PROJECT, {"k": "v"}, b"aae"),
        (PROJECT, {"k": "v"}, b""),
        (PROJECT, {"k": "v"}, None),
    ],
    ids=[
        "project",
        "project-case",
        "context-value",
        "context-key-case",
        "context-extra",
        "context-empty",
        "context-none",
        "aad",
        "aad-empty",
        "aad-none",
    ],
)
def test_different_binding_fails(
    suite: aead.Suite, other: tuple[str, dict[str, str] | None, bytes | None]
) -> None:
    # Given a blob bound to project / {"k": "v"} / b"aad"
    bound = blob.binding(PROJECT, {"k": "v"}, b"aad")
    data = _seal(suite, bound=bound)
    assert _open(data, suite, bound)
    # When it is opened with any other binding; Then it fails
    with pytest.raises(CryptoError):
        _open(data, suite, blob.binding(*other))


def test_context_order_does_not_matter() -> None:
    # Given the same context built in two orders
    ab = {"alpha": "1", "beta": "2"}
    ba = {"beta": "2", "alpha": "1"}
    assert list(ab) != list(ba)
    # Then the binding is the same, and a blob sealed under one opens under the other
    assert blob.binding(PROJECT, ab, None) == blob.binding(PROJECT, ba, None)
    data = _seal(bound=blob.binding(PROJECT, ab, None))
    assert _open(data, aead.Suite.AES_256_GCM, blob.binding(PROJECT, ba, None))


def test_absent_context_and_aad_equal_empty() -> None:
    assert blob.binding(PROJECT, None, None) == blob.binding(PROJECT, {}, b"")
    data = _seal(bound=blob.binding(PROJECT, None, None))
    assert _open(data, aead.Suite.AES_256_GCM, blob.binding(PROJECT, {}, b""))


def test_binding_fields_cannot_slide_into_each_other() -> None:
    bindings = [
        blob.binding("ab", {}, b""),
        blob.binding("a", {}, b"b"),
        blob.binding("", {"a": "b"}, b""),
        blob.binding("a", {"b": ""}, b""),
        blob.binding("a", {"": "b"}, b""),
        blob.binding("", {}, b"ab"),
    ]
    assert len(set(bindings)) == len(bindings)


# --- Expected header ---


@pytest.mark.parametrize(
    "change",
    [
        {"key_id": OTHER_KEY_ID},
        {"key_version": 4},
        {"key_version": 2},
        {"purpose": blob.Purpose.DATA},
        {"suite": aead.Suite.SM4_GCM},
    ],
    ids=["key-id", "version+1", "version-1", "purpose", "suite"],
)
def test_open_with_another_expected_header_fails(change: dict[str, Any]) -> None:
    # Given an AES DATA_KEY blob of KEY_ID version 3
    bound = blob.binding(PROJECT, None, None)
    data = _seal(aead.Suite.AES_256_GCM, blob.Purpose.DATA_KEY, bound=bound, version=3)
    header = blob.read_header(data)
    assert blob.open_blob(data, key=KEYS[aead.Suite.AES_256_GCM], expected=header, bound=bound)
    # When the caller expects another key id / version / purpose / suite; Then it fails
    fields = {
        "key_id": KEY_ID,
        "key_version": 3,
        "suite": aead.Suite.AES_256_GCM,
        "purpose": blob.Purpose.DATA_KEY,
    }
    expected = blob.BlobHeader(**{**fields, **change})
    with pytest.raises(CryptoError):
        blob.open_blob(data, key=KEYS[aead.Suite.AES_256_GCM], expected=expected, bound=bound)


@pytest.mark.parametrize("suite", list(aead.Suite))
def test_data_key_blob_cannot_be_opened_as_data(suite: aead.Suite) -> None:
    bound = blob.binding(PROJECT, None, None)
    data = _seal(suite, blob.Purpose.DATA_KEY, bound=bound)
    expected = blob.BlobHeader(KEY_ID, 3, suite, blob.Purpose.DATA)
    with pytest.raises(CryptoError):
        blob.open_blob(data, key=KEYS[suite], expected=expected, bound=bound)


def test_purpose_is_authenticated_not_just_compared() -> None:
    # Given a DATA_KEY blob relabelled DATA with a recomputed checksum
    bound = blob.binding(PROJECT, None, None)
    framed = bytearray(_seal(purpose=blob.Purpose.DATA_KEY, bound=bound)[:-32])
    framed[6] = blob.Purpose.DATA
    relabelled = _with_trailer(bytes(framed))
    header = blob.read_header(relabelled)
    assert header.purpose is blob.Purpose.DATA
    # When opened expecting DATA, exactly as the relabelled header says; Then the AEAD refuses it
    with pytest.raises(CryptoError):
        blob.open_blob(relabelled, key=KEYS[aead.Suite.AES_256_GCM], expected=header, bound=bound)


@pytest.mark.parametrize("suite", list(aead.Suite))
def test_wrong_key_fails(suite: aead.Suite) -> None:
    bound = blob.binding(PROJECT, None, None)
    data = _seal(suite, bound=bound)
    wrong = bytes(len(KEYS[suite]))
    with pytest.raises(CryptoError):
        blob.open_blob(data, key=wrong, expected=blob.read_header(data), bound=bound)
