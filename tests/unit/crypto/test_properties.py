"""Property tests (hypothesis) over the AEAD suites, the blob (both body versions) and the context
encoding, and over the operations built on them (encrypt-data / decrypt-data, create-datakey /
decrypt-datakey): for any plaintext, context and key, decrypt(encrypt(x)) == x, and any change to
the ciphertext (salt, nonce, body), the context, the AAD, the key (id, version, bytes) or the
project fails. Derandomized, so stable in CI."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skms import errors
from skms.caller import Caller
from skms.crypto import aead, blob
from skms.crypto.encoding import encode_context
from skms.crypto.errors import CryptoError
from skms.logic.create_key import create_key
from skms.logic.data import decrypt_data, encrypt_data
from skms.logic.datakeys import create_datakey, decrypt_datakey
from skms.models.base import parse_body
from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody
from skms.models.datakeys import CreateDatakeyRequestBody, DecryptDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.runtime import Services

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEY_ID = "5c1b4b38-9a0e-4c56-9d3b-8f6a2e1d0c7b"
PROJECT = "0123456789abcdef0123456789abcdef"

# (blob, suite, key, plaintext, bound, context, aad, project)
Case = tuple[bytes, aead.Suite, bytes, bytes, bytes, dict[str, str], bytes, str]

suites = st.sampled_from(list(aead.Suite))
purposes = st.sampled_from(list(blob.Purpose))
plaintexts = st.binary(max_size=2048)
aads = st.binary(max_size=128)
contexts = st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=5)
versions = st.integers(min_value=0, max_value=2**32 - 1)
projects = st.text(max_size=40)


@st.composite
def keys_for(draw: st.DrawFn, suite: aead.Suite) -> bytes:
    return draw(st.binary(min_size=suite.key_len, max_size=suite.key_len))


@st.composite
def sealed_blobs(draw: st.DrawFn) -> Case:
    suite = draw(suites)
    key = draw(keys_for(suite))
    plaintext, context, aad, project = draw(plaintexts), draw(contexts), draw(aads), draw(projects)
    bound = blob.binding(project, context, aad)
    data = blob.seal(
        suite=suite,
        key=key,
        key_id=KEY_ID,
        key_version=draw(versions),
        purpose=draw(purposes),
        plaintext=plaintext,
        bound=bound,
    )
    return data, suite, key, plaintext, bound, context, aad, project


def _open(data: bytes, key: bytes, bound: bytes) -> bytes:
    return blob.open_blob(data, key=key, expected=blob.read_header(data), bound=bound)


@PROPERTY_SETTINGS
@given(suite=suites, data=st.data(), plaintext=plaintexts, aad=aads)
def test_aead_round_trip(suite: aead.Suite, data: st.DataObject, plaintext: bytes, aad: bytes) -> None:
    key = data.draw(keys_for(suite))
    sealed = aead.seal(suite, key, plaintext, aad)
    assert len(sealed) == len(plaintext) + aead.OVERHEAD
    assert aead.open_sealed(suite, key, sealed, aad) == plaintext


@PROPERTY_SETTINGS
@given(suite=suites, data=st.data(), plaintext=plaintexts, aad=aads)
def test_aead_any_byte_change_fails(
    suite: aead.Suite, data: st.DataObject, plaintext: bytes, aad: bytes
) -> None:
    key = data.draw(keys_for(suite))
    sealed = bytearray(aead.seal(suite, key, plaintext, aad))
    offset = data.draw(st.integers(0, len(sealed) - 1), label="offset")
    sealed[offset] ^= data.draw(st.integers(1, 255), label="mask")
    with pytest.raises(CryptoError):
        aead.open_sealed(suite, key, bytes(sealed), aad)


@PROPERTY_SETTINGS
@given(case=sealed_blobs())
def test_blob_round_trip(case: Case) -> None:
    data, suite, key, plaintext, bound, _, _, _ = case
    header = blob.read_header(data)
    assert header.key_id == KEY_ID
    assert header.suite is suite
    assert _open(data, key, bound) == plaintext


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), data=st.data())
def test_blob_any_byte_change_fails(case: Case, data: st.DataObject) -> None:
    sealed, _, key, _, bound, _, _, _ = case
    tampered = bytearray(sealed)
    offset = data.draw(st.integers(0, len(tampered) - 1), label="offset")
    tampered[offset] ^= data.draw(st.integers(1, 255), label="mask")
    with pytest.raises(CryptoError):
        _open(bytes(tampered), key, bound)


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), data=st.data())
def test_blob_any_byte_change_fails_even_with_a_recomputed_checksum(case: Case, data: st.DataObject) -> None:
    sealed, _, key, _, bound, _, _, _ = case
    framed = bytearray(sealed[:-32])
    offset = data.draw(st.integers(0, len(framed) - 1), label="offset")
    framed[offset] ^= data.draw(st.integers(1, 255), label="mask")
    with pytest.raises(CryptoError):
        _open(bytes(framed) + hashlib.sha256(framed).digest(), key, bound)


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), other=contexts)
def test_blob_under_a_different_context_fails(case: Case, other: dict[str, str]) -> None:
    sealed, _, key, _, _, context, aad, project = case
    if other == context:
        other = {**other, "\x00extra": ""}
    with pytest.raises(CryptoError):
        _open(sealed, key, blob.binding(project, other, aad))


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), other_aad=aads, other_project=projects)
def test_blob_under_a_different_aad_or_project_fails(
    case: Case,
    other_aad: bytes,
    other_project: str,
) -> None:
    sealed, _, key, _, _, context, aad, project = case
    if other_aad != aad:
        with pytest.raises(CryptoError):
            _open(sealed, key, blob.binding(project, context, other_aad))
    if other_project != project:
        with pytest.raises(CryptoError):
            _open(sealed, key, blob.binding(other_project, context, aad))


@PROPERTY_SETTINGS
@given(context=contexts, data=st.data())
def test_blob_context_order_does_not_matter(context: dict[str, str], data: st.DataObject) -> None:
    shuffled = dict(data.draw(st.permutations(list(context.items()))))
    assert blob.binding(PROJECT, context, None) == blob.binding(PROJECT, shuffled, None)


@PROPERTY_SETTINGS
@given(left=contexts, right=contexts)
def test_encoding_is_injective(left: dict[str, str], right: dict[str, str]) -> None:
    assert (encode_context(left) == encode_context(right)) == (left == right)


@PROPERTY_SETTINGS
@given(left=st.tuples(projects, contexts, aads), right=st.tuples(projects, contexts, aads))
def test_binding_is_injective(
    left: tuple[str, dict[str, str], bytes], right: tuple[str, dict[str, str], bytes]
) -> None:
    assert (blob.binding(*left) == blob.binding(*right)) == (left == right)


# -- the blob: the wrong key, header or length never opens ------------------------------------------


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), data=st.data())
def test_blob_under_another_key_fails(case: Case, data: st.DataObject) -> None:
    sealed, suite, key, _, bound, _, _, _ = case
    other = data.draw(keys_for(suite).filter(lambda candidate: candidate != key), label="other key")
    with pytest.raises(CryptoError):
        _open(sealed, other, bound)


@PROPERTY_SETTINGS
@given(
    case=sealed_blobs(),
    other_key_id=st.uuids().map(str),
    other_version=versions,
    other_purpose=purposes,
    other_suite=suites,
)
def test_blob_expected_as_another_key_id_version_purpose_or_suite_fails(
    case: Case, other_key_id: str, other_version: int, other_purpose: blob.Purpose, other_suite: aead.Suite
) -> None:
    # The caller checks the header against its CMK: a blob must not open as any other (id, version,
    # purpose, suite), even with the right key bytes
    sealed, _, key, _, bound, _, _, _ = case
    header = blob.read_header(sealed)
    for changed in (
        dataclasses.replace(header, key_id=other_key_id),
        dataclasses.replace(header, key_version=other_version),
        dataclasses.replace(header, purpose=other_purpose),
        dataclasses.replace(header, suite=other_suite),
    ):
        if changed != header:
            with pytest.raises(CryptoError):
                blob.open_blob(sealed, key=key, expected=changed, bound=bound)


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), data=st.data())
def test_blob_truncated_or_extended_fails(case: Case, data: st.DataObject) -> None:
    sealed, _, key, _, bound, _, _, _ = case
    cut = data.draw(st.integers(0, len(sealed) - 1), label="cut")
    extra = data.draw(st.binary(min_size=1, max_size=64), label="extra")
    for changed in (sealed[:cut], sealed + extra):
        with pytest.raises(CryptoError):
            _open(changed, key, bound)


@PROPERTY_SETTINGS
@given(suite=suites, data=st.data(), plaintext=plaintexts, context=contexts, aad=aads)
def test_blob_resealed_under_another_key_id_or_version_is_another_blob(
    suite: aead.Suite, data: st.DataObject, plaintext: bytes, context: dict[str, str], aad: bytes
) -> None:
    # A blob sealed for (key id, version) does not open for any other (key id, version), even when
    # an attacker rewrites the cleartext fields and the checksum to claim them
    key = data.draw(keys_for(suite))
    bound = blob.binding(PROJECT, context, aad)
    version, other_version = data.draw(st.tuples(versions, versions).filter(lambda pair: pair[0] != pair[1]))
    sealed = blob.seal(
        suite=suite,
        key=key,
        key_id=KEY_ID,
        key_version=version,
        purpose=blob.Purpose.DATA,
        plaintext=plaintext,
        bound=bound,
    )
    other_id = data.draw(st.uuids().map(str).filter(lambda value: value != KEY_ID), label="other key id")
    framed = sealed[: -blob.TRAILER_LEN]
    tail_at = len(framed) - blob.KEY_ID_LEN - blob.KEY_VERSION_LEN
    for key_id, key_version in ((other_id, version), (KEY_ID, other_version)):
        forged = framed[:tail_at] + key_id.encode() + struct.pack("<I", key_version)
        forged += hashlib.sha256(forged).digest()
        assert blob.read_header(forged).key_id == key_id  # the frame itself is well-formed
        with pytest.raises(CryptoError):
            _open(forged, key, bound)


# -- body versions: the salt, nonce and body of a v2 blob, and v1 blobs that must still open ------

BODY_V2_REGIONS = {  # offsets in the blob, per the layout in skms.crypto.blob
    "salt": (7, 7 + blob.SALT_LEN),
    "nonce": (7 + blob.SALT_LEN, 7 + blob.SALT_LEN + aead.NONCE_LEN),
}


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), region=st.sampled_from(["salt", "nonce", "ciphertext and tag"]), data=st.data())
def test_v2_change_to_salt_nonce_or_body_fails_even_with_a_recomputed_checksum(
    case: Case, region: str, data: st.DataObject
) -> None:
    # Given a blob as seal writes it (body version 2)
    sealed, _, key, _, bound, _, _, _ = case
    assert sealed[4] == blob.BODY_V2
    tail_at = len(sealed) - blob.TRAILER_LEN - blob.KEY_ID_LEN - blob.KEY_VERSION_LEN
    start, end = BODY_V2_REGIONS.get(region, (7 + blob.SALT_LEN + aead.NONCE_LEN, tail_at))
    # When one byte of that region changes and the checksum is fixed up to match
    framed = bytearray(sealed[: -blob.TRAILER_LEN])
    framed[data.draw(st.integers(start, end - 1), label="offset")] ^= data.draw(
        st.integers(1, 255), label="mask"
    )
    # Then it fails with the one opaque error
    with pytest.raises(CryptoError):
        _open(bytes(framed) + hashlib.sha256(framed).digest(), key, bound)


@PROPERTY_SETTINGS
@given(case=sealed_blobs(), data=st.data())
def test_v2_salt_replaced_whole_fails(case: Case, data: st.DataObject) -> None:
    sealed, _, key, _, bound, _, _, _ = case
    salt = data.draw(st.binary(min_size=blob.SALT_LEN, max_size=blob.SALT_LEN), label="salt")
    framed = sealed[:7] + salt + sealed[7 + blob.SALT_LEN : -blob.TRAILER_LEN]
    if framed != sealed[: -blob.TRAILER_LEN]:
        with pytest.raises(CryptoError):
            _open(framed + hashlib.sha256(framed).digest(), key, bound)


@PROPERTY_SETTINGS
@given(case=sealed_blobs())
def test_body_version_rewritten_fails(case: Case) -> None:
    sealed, _, key, _, bound, _, _, _ = case
    framed = bytearray(sealed[: -blob.TRAILER_LEN])
    framed[4] = blob.BODY_V1
    with pytest.raises(CryptoError):
        _open(bytes(framed) + hashlib.sha256(framed).digest(), key, bound)


@st.composite
def v1_blobs(draw: st.DrawFn) -> Case:
    """Blobs in the retired body version 1, as stored before version 2: they must still open."""
    suite = draw(suites)
    key = draw(keys_for(suite))
    plaintext, context, aad, project = draw(plaintexts), draw(contexts), draw(aads), draw(projects)
    bound = blob.binding(project, context, aad)
    data = blob._seal_v1_with_nonce(
        suite=suite,
        key=key,
        key_id=KEY_ID,
        key_version=draw(versions),
        purpose=draw(purposes),
        plaintext=plaintext,
        bound=bound,
        nonce=draw(st.binary(min_size=aead.NONCE_LEN, max_size=aead.NONCE_LEN)),
    )
    return data, suite, key, plaintext, bound, context, aad, project


@PROPERTY_SETTINGS
@given(case=v1_blobs(), data=st.data())
def test_v1_blob_opens_and_any_change_fails(case: Case, data: st.DataObject) -> None:
    sealed, _, key, plaintext, bound, _, _, _ = case
    assert sealed[4] == blob.BODY_V1
    assert _open(sealed, key, bound) == plaintext
    framed = bytearray(sealed[: -blob.TRAILER_LEN])
    framed[data.draw(st.integers(0, len(framed) - 1), label="offset")] ^= data.draw(
        st.integers(1, 255), label="mask"
    )
    with pytest.raises(CryptoError):
        _open(bytes(framed) + hashlib.sha256(framed).digest(), key, bound)


# -- the operations: encrypt-data / decrypt-data and create-datakey / decrypt-datakey ---------------
# Through the logic functions and their wire models, against the in-memory store: what a request
# gets, not just what the crypto core does.

LOGIC_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SYMMETRIC_SPECS = ("AES_256", "SM4")

# What the wire admits: plain_text is 1-4096 UTF-8 bytes (no lone surrogates), AAD at most 128 bytes.
WIRE_CHARS = st.characters(codec="utf-8")
wire_texts = st.text(WIRE_CHARS, min_size=1, max_size=300)
wire_aads = st.none() | st.text(WIRE_CHARS, max_size=32)
wire_contexts = st.none() | st.dictionaries(
    st.text(WIRE_CHARS, max_size=12),
    st.text(WIRE_CHARS, max_size=12),
    max_size=4,
)
specs = st.sampled_from(SYMMETRIC_SPECS)


@pytest.fixture
def cmks(memory_services: Services, caller: Caller) -> dict[str, str]:
    """One enabled CMK of each symmetric spec (reused by every example of a test)."""
    return {
        spec: create_key(
            CreateKeyRequestBody(key_alias=f"prop-{spec.lower()}-{uuid.uuid4().hex[:8]}", key_spec=spec),
            caller,
            memory_services,
        ).key_info.key_id
        for spec in SYMMETRIC_SPECS
    }


def _binding_fields(context: dict[str, str] | None, aad: str | None) -> dict[str, object]:
    fields: dict[str, object] = {}
    if context is not None:
        fields["encryption_context"] = context
    if aad is not None:
        fields["additional_authenticated_data"] = aad
    return fields


def _encrypt_data(services: Services, caller: Caller, key_id: str, text: str, **fields: object) -> str:
    body = parse_body(EncryptDataRequestBody, {"key_id": key_id, "plain_text": text, **fields})
    return encrypt_data(body, caller, services).cipher_text


def _decrypt_data(services: Services, caller: Caller, cipher_text: str, **fields: object) -> tuple[str, str]:
    body = parse_body(DecryptDataRequestBody, {"cipher_text": cipher_text, **fields})
    reply = decrypt_data(body, caller, services)
    return reply.key_id, reply.plain_text.get_secret_value()


def _other_binding(
    context: dict[str, str] | None, aad: str | None, data: st.DataObject
) -> tuple[dict[str, str] | None, str | None]:
    """A different (context, AAD) pair: an absent context equals {}, and absent AAD equals ""."""
    same = ((context or {}), (aad or ""))
    return data.draw(
        st.tuples(wire_contexts, wire_aads).filter(lambda pair: ((pair[0] or {}), (pair[1] or "")) != same),
        label="other binding",
    )


@LOGIC_SETTINGS
@given(spec=specs, text=wire_texts, context=wire_contexts, aad=wire_aads)
def test_decrypt_data_of_encrypt_data_is_the_plaintext(
    memory_services: Services,
    caller: Caller,
    cmks: dict[str, str],
    spec: str,
    text: str,
    context: dict[str, str] | None,
    aad: str | None,
) -> None:
    fields = _binding_fields(context, aad)
    cipher_text = _encrypt_data(memory_services, caller, cmks[spec], text, **fields)
    # With or without the key id (the blob names it)
    assert _decrypt_data(memory_services, caller, cipher_text, **fields) == (cmks[spec], text)
    assert _decrypt_data(memory_services, caller, cipher_text, key_id=cmks[spec], **fields) == (
        cmks[spec],
        text,
    )


@LOGIC_SETTINGS
@given(spec=specs, text=wire_texts, context=wire_contexts, aad=wire_aads, data=st.data())
def test_decrypt_data_refuses_any_other_context_aad_key_or_byte(
    memory_services: Services,
    caller: Caller,
    cmks: dict[str, str],
    spec: str,
    text: str,
    context: dict[str, str] | None,
    aad: str | None,
    data: st.DataObject,
) -> None:
    fields = _binding_fields(context, aad)
    cipher_text = _encrypt_data(memory_services, caller, cmks[spec], text, **fields)
    # Another encryption context or AAD: KMS.2201
    other = _binding_fields(*_other_binding(context, aad, data))
    with pytest.raises(errors.InvalidCipherText):
        _decrypt_data(memory_services, caller, cipher_text, **other)
    # Another key named by the caller: KMS.2201
    other_spec = next(s for s in SYMMETRIC_SPECS if s != spec)
    with pytest.raises(errors.InvalidCipherText):
        _decrypt_data(memory_services, caller, cipher_text, key_id=cmks[other_spec], **fields)
    # Any byte changed: KMS.2201
    raw = bytearray(base64.b64decode(cipher_text))
    raw[data.draw(st.integers(0, len(raw) - 1), label="offset")] ^= data.draw(
        st.integers(1, 255), label="mask"
    )
    with pytest.raises(errors.InvalidCipherText):
        _decrypt_data(memory_services, caller, base64.b64encode(bytes(raw)).decode(), **fields)


@LOGIC_SETTINGS
@given(spec=specs, length=st.integers(1, 1024), context=wire_contexts, aad=wire_aads, data=st.data())
def test_decrypt_datakey_of_create_datakey_is_the_data_key_and_nothing_else_opens_it(
    memory_services: Services,
    caller: Caller,
    cmks: dict[str, str],
    spec: str,
    length: int,
    context: dict[str, str] | None,
    aad: str | None,
    data: st.DataObject,
) -> None:
    fields = _binding_fields(context, aad)
    key_id = cmks[spec]
    created = create_datakey(
        parse_body(CreateDatakeyRequestBody, {"key_id": key_id, "datakey_length": str(8 * length), **fields}),
        caller,
        memory_services,
    )
    plain_text = created.plain_text.get_secret_value()
    assert len(plain_text) == 2 * length

    def decrypt(cipher_text: str, binding: dict[str, object], key: str = key_id) -> str:
        body = {"key_id": key, "cipher_text": cipher_text, "datakey_cipher_length": str(length), **binding}
        reply = decrypt_datakey(parse_body(DecryptDatakeyRequestBody, body), caller, memory_services)
        return reply.data_key.get_secret_value()

    # The round trip
    assert decrypt(created.cipher_text, fields) == plain_text
    # Another context or AAD, another key, any byte changed: KMS.2201
    with pytest.raises(errors.InvalidCipherText):
        decrypt(created.cipher_text, _binding_fields(*_other_binding(context, aad, data)))
    with pytest.raises(errors.InvalidCipherText):
        decrypt(created.cipher_text, fields, key=cmks[next(s for s in SYMMETRIC_SPECS if s != spec)])
    raw = bytearray(bytes.fromhex(created.cipher_text))
    raw[data.draw(st.integers(0, len(raw) - 1), label="offset")] ^= data.draw(
        st.integers(1, 255), label="mask"
    )
    with pytest.raises(errors.InvalidCipherText):
        decrypt(raw.hex().upper(), fields)
    # And the data-key blob never opens as encrypt-data (the purpose is bound)
    with pytest.raises(errors.InvalidCipherText):
        _decrypt_data(
            memory_services, caller, base64.b64encode(bytes.fromhex(created.cipher_text)).decode(), **fields
        )
