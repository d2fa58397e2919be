"""The official Huawei Cloud SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: ops 1, 10, 13.

Only the SDK's KmsClient, its request/body models and its exceptions are used here, so these tests
prove that an unmodified SDK user can talk to the service (spec §F6, §F7).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateDatakeyRequest,
    CreateDatakeyRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DecryptDatakeyRequest,
    DecryptDatakeyRequestBody,
    KmsClient,
)

pytestmark = pytest.mark.e2e

KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
DOMAIN_ID_RE = re.compile(r"^[0-9a-f]{32}$")  # §F9
UPPER_HEX_RE = re.compile(r"^[0-9A-F]+$")
UNKNOWN_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"  # the seed's example key id

# (key_spec, key_usage sent or None for the default). EC keys can only sign (KMS.1114).
KEY_SPECS: list[tuple[str, str | None]] = [
    ("AES_256", None),
    ("SM4", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("RSA_3072", "SIGN_VERIFY"),
    ("RSA_4096", None),
    ("EC_P256", "SIGN_VERIFY"),
    ("EC_P384", None),
    ("SM2", "ENCRYPT_DECRYPT"),
]


def create_key(
    client: KmsClient,
    alias: str,
    spec: str | None = None,
    usage: str | None = None,
    sequence: str | None = None,
) -> Any:
    body = CreateKeyRequestBody(key_alias=alias, key_spec=spec, key_usage=usage, sequence=sequence)
    return client.create_key(CreateKeyRequest(body=body))


def create_datakey(client: KmsClient, key_id: str, length: str | None = "512", aad: str | None = None) -> Any:
    body = CreateDatakeyRequestBody(key_id=key_id, datakey_length=length, additional_authenticated_data=aad)
    return client.create_datakey(CreateDatakeyRequest(body=body))


def decrypt_datakey(
    client: KmsClient, key_id: str, cipher_text: str, length: str = "64", aad: str | None = None
) -> Any:
    body = DecryptDatakeyRequestBody(
        key_id=key_id,
        cipher_text=cipher_text,
        datakey_cipher_length=length,
        additional_authenticated_data=aad,
    )
    return client.decrypt_datakey(DecryptDatakeyRequest(body=body))


def expect_client_error(call: Callable[[], Any], status: int, code: str) -> ClientRequestException:
    """Run ``call``; it must raise the SDK's ClientRequestException with this status and code."""
    with pytest.raises(ClientRequestException) as caught:
        call()
    exc = caught.value
    assert (exc.status_code, exc.error_code) == (status, code), exc
    assert exc.error_msg
    assert exc.request_id, "the SDK takes request_id from the X-Request-Id response header"
    return exc


@pytest.fixture(scope="module")
def module_client(sdk_client_factory: Callable[..., KmsClient], skms_server: Any) -> KmsClient:
    return sdk_client_factory(skms_server.base_url)


@pytest.fixture(scope="module")
def keys(module_client: KmsClient) -> dict[str, tuple[str, Any]]:
    """One key of every spec of the seed, created through the SDK: spec -> (alias, response)."""
    created = {}
    for spec, usage in KEY_SPECS:
        alias = f"sdk-{spec.lower().replace('_', '-')}-{uuid.uuid4().hex[:12]}"
        created[spec] = (alias, create_key(module_client, alias, spec, usage))
    return created


def key_id_of(keys: dict[str, tuple[str, Any]], spec: str) -> str:
    key_id = keys[spec][1].key_info.key_id
    assert isinstance(key_id, str)
    return key_id


# -- create_key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "usage"), KEY_SPECS, ids=[spec for spec, _ in KEY_SPECS])
def test_create_key_of_every_seed_spec(
    keys: dict[str, tuple[str, Any]], spec: str, usage: str | None
) -> None:
    # Given a key of this spec created through the SDK (module fixture)
    _, response = keys[spec]
    # Then the SDK parsed a 200 with key_info
    assert response.status_code == 200
    info = response.key_info
    assert KEY_ID_RE.fullmatch(info.key_id), info
    assert DOMAIN_ID_RE.fullmatch(info.domain_id), info
    assert isinstance(info.region_id, str), info
    assert info.region_id, info


def test_keys_are_distinct_and_of_one_domain(keys: dict[str, tuple[str, Any]]) -> None:
    infos = [response.key_info for _, response in keys.values()]
    assert len({info.key_id for info in infos}) == len(infos)
    assert len({info.domain_id for info in infos}) == 1


def test_create_key_with_only_an_alias_defaults_to_aes(module_client: KmsClient, new_alias: Any) -> None:
    response = create_key(module_client, new_alias("sdk-default"))
    key_id = response.key_info.key_id
    assert KEY_ID_RE.fullmatch(key_id)
    # A default key is symmetric: it can make data keys.
    assert len(create_datakey(module_client, key_id).plain_text) == 128


# -- data keys -----------------------------------------------------------------------------------


def test_datakey_round_trip_with_sha256_digest(module_client: KmsClient, keys: dict[str, Any]) -> None:
    key_id = key_id_of(keys, "AES_256")
    # When a 512-bit data key is created
    created = create_datakey(module_client, key_id, "512")
    assert created.key_id == key_id
    assert UPPER_HEX_RE.fullmatch(created.plain_text)
    assert len(created.plain_text) == 128
    assert UPPER_HEX_RE.fullmatch(created.cipher_text)
    # Then decrypting its cipher_text (length in bytes) gives the same DEK and its SHA-256
    decrypted = decrypt_datakey(module_client, key_id, created.cipher_text, "64")
    assert decrypted.data_key == created.plain_text
    assert decrypted.datakey_length == "64"
    expected_dgst = hashlib.sha256(bytes.fromhex(created.plain_text)).hexdigest().upper()
    assert decrypted.datakey_dgst == expected_dgst


def test_datakey_round_trip_under_sm4(module_client: KmsClient, keys: dict[str, Any]) -> None:
    key_id = key_id_of(keys, "SM4")
    created = create_datakey(module_client, key_id, "512")
    decrypted = decrypt_datakey(module_client, key_id, created.cipher_text, "64")
    assert decrypted.data_key == created.plain_text
    dek = bytes.fromhex(created.plain_text)
    sm3 = hashes.Hash(hashes.SM3())
    sm3.update(dek)
    # §F3 names SM3 for SM4 CMKs on encrypt-datakey; op 13 only says "SHA-256". Accept either.
    assert decrypted.datakey_dgst in {hashlib.sha256(dek).hexdigest().upper(), sm3.finalize().hex().upper()}


def test_each_datakey_is_fresh(module_client: KmsClient, keys: dict[str, Any]) -> None:
    key_id = key_id_of(keys, "AES_256")
    first, second = create_datakey(module_client, key_id), create_datakey(module_client, key_id)
    assert first.plain_text != second.plain_text
    assert first.cipher_text != second.cipher_text


def test_datakey_with_aad_needs_the_same_aad(module_client: KmsClient, keys: dict[str, Any]) -> None:
    key_id = key_id_of(keys, "AES_256")
    created = create_datakey(module_client, key_id, "512", aad="order-42")
    # Same AAD: works
    decrypted = decrypt_datakey(module_client, key_id, created.cipher_text, "64", aad="order-42")
    assert decrypted.data_key == created.plain_text
    # Different AAD, or none: the ciphertext does not open
    for other in ("order-43", None):
        expect_client_error(
            functools.partial(decrypt_datakey, module_client, key_id, created.cipher_text, "64", aad=other),
            400,
            "KMS.2201",
        )


def test_datakey_without_aad_rejects_an_added_aad(module_client: KmsClient, keys: dict[str, Any]) -> None:
    key_id = key_id_of(keys, "AES_256")
    created = create_datakey(module_client, key_id, "512")
    expect_client_error(
        lambda: decrypt_datakey(module_client, key_id, created.cipher_text, "64", aad="surprise"),
        400,
        "KMS.2201",
    )


# -- error paths ---------------------------------------------------------------------------------


def test_duplicate_alias(module_client: KmsClient, new_alias: Any) -> None:
    alias = new_alias("sdk-dup")
    create_key(module_client, alias)
    # Sent again at once, the same signed request would be a replay (README, Replayed requests), answered
    # with the first answer: a second create is a new request, with a sequence of its own.
    expect_client_error(lambda: create_key(module_client, alias, sequence=str(uuid.uuid4())), 400, "KMS.1104")
    # Also when the second key would be of another spec
    expect_client_error(lambda: create_key(module_client, alias, "SM4"), 400, "KMS.1104")


def test_alias_with_default_suffix_is_reserved(module_client: KmsClient, new_alias: Any) -> None:
    expect_client_error(lambda: create_key(module_client, new_alias("sdk") + "/default"), 400, "KMS.1101")


def test_unknown_key(module_client: KmsClient, keys: dict[str, Any]) -> None:
    expect_client_error(lambda: create_datakey(module_client, UNKNOWN_KEY_ID), 404, "KMS.0207")
    # A valid blob presented with (and naming) a key that does not exist
    created = create_datakey(module_client, key_id_of(keys, "AES_256"))
    forged = created.cipher_text.replace(
        key_id_of(keys, "AES_256").encode().hex().upper(), UNKNOWN_KEY_ID.encode().hex().upper()
    )
    blob = bytes.fromhex(forged)
    forged = (blob[:-32] + hashlib.sha256(blob[:-32]).digest()).hex().upper()
    expect_client_error(lambda: decrypt_datakey(module_client, UNKNOWN_KEY_ID, forged, "64"), 404, "KMS.0207")


def _flip(cipher_hex: str, offset: int, *, fix_trailer: bool) -> str:
    blob = bytearray(bytes.fromhex(cipher_hex))
    blob[offset] ^= 0x01
    if fix_trailer:  # §F4: the trailer is a plain SHA-256, so anyone can recompute it
        blob[-32:] = hashlib.sha256(bytes(blob[:-32])).digest()
    return bytes(blob).hex().upper()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda c: _flip(c, 20, fix_trailer=False), id="body-byte-stale-trailer"),
        pytest.param(lambda c: _flip(c, 20, fix_trailer=True), id="body-byte-fixed-trailer"),
        pytest.param(lambda c: _flip(c, len(c) // 2 - 40, fix_trailer=True), id="key-version"),
        pytest.param(lambda c: _flip(c, 3, fix_trailer=True), id="length-field"),
        pytest.param(lambda c: _flip(c, len(c) // 2 - 1, fix_trailer=False), id="trailer"),
        pytest.param(lambda c: c[:-2], id="truncated"),
        pytest.param(lambda c: c + "00", id="extended"),
        pytest.param(lambda c: "0300" + c[4:], id="frame-marker"),
    ],
)
def test_tampered_cipher_text(module_client: KmsClient, keys: dict[str, Any], tamper: Any) -> None:
    key_id = key_id_of(keys, "AES_256")
    created = create_datakey(module_client, key_id)
    expect_client_error(
        lambda: decrypt_datakey(module_client, key_id, tamper(created.cipher_text), "64"), 400, "KMS.2201"
    )


def test_cipher_text_of_another_key(module_client: KmsClient, keys: dict[str, Any]) -> None:
    aes, sm4 = key_id_of(keys, "AES_256"), key_id_of(keys, "SM4")
    created = create_datakey(module_client, aes)
    expect_client_error(
        lambda: decrypt_datakey(module_client, sm4, created.cipher_text, "64"), 400, "KMS.2201"
    )


def test_wrong_datakey_cipher_length(module_client: KmsClient, keys: dict[str, Any]) -> None:
    key_id = key_id_of(keys, "AES_256")
    created = create_datakey(module_client, key_id, "512")
    expect_client_error(
        lambda: decrypt_datakey(module_client, key_id, created.cipher_text, "32"), 400, "KMS.2204"
    )


def test_datakey_length_not_a_multiple_of_8(module_client: KmsClient, keys: dict[str, Any]) -> None:
    expect_client_error(
        lambda: create_datakey(module_client, key_id_of(keys, "AES_256"), "12"), 400, "KMS.1903"
    )


@pytest.mark.parametrize("spec", ["RSA_2048", "SM2"])
def test_asymmetric_key_cannot_make_datakeys(
    module_client: KmsClient, keys: dict[str, Any], spec: str
) -> None:
    expect_client_error(lambda: create_datakey(module_client, key_id_of(keys, spec)), 400, "KMS.0325")


def test_other_project_cannot_see_the_key(
    module_client: KmsClient,
    keys: dict[str, Any],
    sdk_client_factory: Callable[..., KmsClient],
    skms_server: Any,
    credentials: Any,
    other_credentials: Any,
) -> None:
    # Given a key and a data key of the first project
    key_id = key_id_of(keys, "AES_256")
    created = create_datakey(module_client, key_id)
    # When the first project's access key is used on the other project's path
    trespasser = sdk_client_factory(
        skms_server.base_url,
        dataclasses.replace(credentials, project_id=other_credentials.project_id),
    )
    # Then it is refused: that access key may not use that project
    expect_client_error(lambda: create_datakey(trespasser, key_id), 403, "KMS.0307")
    expect_client_error(
        lambda: create_key(trespasser, f"sdk-trespass-{uuid.uuid4().hex[:12]}"), 403, "KMS.0307"
    )
    # When the other project's own access key (a second principal) uses them
    assert other_credentials.ak != credentials.ak
    other = sdk_client_factory(skms_server.base_url, other_credentials)
    # Then the key does not exist for it
    expect_client_error(lambda: create_datakey(other, key_id), 404, "KMS.0207")
    expect_client_error(lambda: decrypt_datakey(other, key_id, created.cipher_text, "64"), 404, "KMS.0207")
    # And the first project still can
    assert decrypt_datakey(module_client, key_id, created.cipher_text, "64").data_key == created.plain_text
