"""The data-key ciphertext blob: pinned format, round trips, binding, and tamper resistance."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skms.crypto import aead, blob
from skms.crypto.errors import CryptoError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "blob_v1.json").read_text(encoding="utf-8"))
assert VECTORS, "blob_v1.json holds no vectors"

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


VECTOR_PARAMS = [pytest.param(v, id=v["name"]) for v in VECTORS]
SUITE_PURPOSE = [pytest.param(s, p, id=f"{s.name}-{p.name}") for s in aead.Suite for p in blob.Purpose]


# --- Known answers for our own format ---


@pytest.mark.parametrize("vector", VECTOR_PARAMS)
def test_binding_reproduces_vector(vector: dict[str, Any]) -> None:
    assert _vector_binding(vector) == bytes.fromhex(vector["bound"])


@pytest.mark.parametrize("vector", VECTOR_PARAMS)
def test_seal_reproduces_vector_byte_for_byte(vector: dict[str, Any]) -> None:
    # Given the recorded inputs and nonce
    # When the blob is sealed again
    sealed = blob._seal_with_nonce(
        **_vector_inputs(vector), bound=bytes.fromhex(vector["bound"]), nonce=bytes.fromhex(vector["nonce"])
    )
    # Then it is exactly the recorded blob (the format has not drifted)
    assert sealed.hex() == vector["blob"]


@pytest.mark.parametrize("vector", VECTOR_PARAMS)
def test_open_blob_recovers_vector_plaintext(vector: dict[str, Any]) -> None:
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


@pytest.mark.parametrize("vector", VECTOR_PARAMS)
def test_frame_fields_read_directly_from_bytes(vector: dict[str, Any]) -> None:
    """The §F4 frame, parsed here by hand from the documented layout and not through blob.py."""
    data = bytes.fromhex(vector["blob"])
    plaintext = bytes.fromhex(vector["plaintext"])
    body_len = 3 + 12 + len(plaintext) + 16
    # offset 0: frame marker 02 00
    assert data[0:2] == b"\x02\x00"
    # offset 2: LE u16 L == total - 36 == body + key id + version
    (length,) = struct.unpack_from("<H", data, 2)
    assert length == len(data) - 36 == body_len + 36 + 4
    assert len(data) == 4 + body_len + 36 + 4 + 32
    # body header: BODY_VERSION, SUITE, PURPOSE, then the nonce
    assert data[4] == 1
    assert data[5] == aead.Suite[vector["suite"]].value
    assert data[6] == blob.Purpose[vector["purpose"]].value
    assert data[7:19] == bytes.fromhex(vector["nonce"])
    # key id ASCII at 4 + B, then the LE u32 version
    key_id_at = 4 + body_len
    assert data[key_id_at : key_id_at + 36] == vector["key_id"].encode("ascii")
    (version,) = struct.unpack_from("<I", data, key_id_at + 36)
    assert version == vector["key_version"]
    # trailer: SHA-256 over everything before it
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()


@pytest.mark.parametrize("vector", VECTOR_PARAMS)
def test_body_opens_with_an_independent_gcm_under_the_documented_aad(vector: dict[str, Any]) -> None:
    """AAD = frame header || body header || key id || version || binding, binding built by hand."""
    data = bytes.fromhex(vector["blob"])
    key = bytes.fromhex(vector["key"])
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

    associated = data[0:4] + data[4:7] + data[key_id_at : key_id_at + 40] + bound
    nonce, ct_tag = data[7:19], data[19:key_id_at]
    if vector["suite"] == "AES_256_GCM":
        plaintext = AESGCM(key).decrypt(nonce, ct_tag, associated)
    else:
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, ct_tag[-16:])).decryptor()
        decryptor.authenticate_additional_data(associated)
        plaintext = decryptor.update(ct_tag[:-16]) + decryptor.finalize()
    assert plaintext == bytes.fromhex(vector["plaintext"])


def test_format_constants_are_fixed() -> None:
    assert blob.FRAME_MARKER == b"\x02\x00"
    assert blob.FRAME_OVERHEAD == 76
    assert blob.BODY_OVERHEAD == 31
    assert (blob.BODY_VERSION, blob.Purpose.DATA_KEY.value, blob.Purpose.DATA.value) == (1, 1, 2)
    assert blob.MAX_PLAINTEXT == 0xFFFF - 36 - 4 - 31


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
    for offset, value in ((4, 0), (4, 2), (5, 0), (5, 3), (6, 0), (6, 3)):
        tampered = bytearray(framed)
        tampered[offset] = value
        with pytest.raises(CryptoError):
            blob.read_header(_with_trailer(bytes(tampered)))


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
