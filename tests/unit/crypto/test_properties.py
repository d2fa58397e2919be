"""Property tests (hypothesis) over the AEAD suites, the blob and the context encoding."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skms.crypto import aead, blob
from skms.crypto.encoding import encode_context
from skms.crypto.errors import CryptoError

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
