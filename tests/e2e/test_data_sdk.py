"""The official SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: data and misc operations.

Spec §4 ops 11, 12, 14, 15, 16; §15 ops 68-72; encodings §F3-§F5; errors §F2. Only the SDK's
KmsClient, its request/body models and ClientRequestException are used, except for the tamper
test, which sends raw signed HTTP (conftest's :class:`RawApi`) to go fast over one connection.

Private keys never leave the service and get-publickey is not implemented yet, so the asymmetric
round trips are checked through the service only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateDatakeyRequestBody,
    CreateDatakeyWithoutPlaintextRequest,
    CreateKeyRequest,
    CreateKeyRequestBody,
    CreateRandomRequest,
    DecryptDatakeyRequest,
    DecryptDatakeyRequestBody,
    DecryptDataRequest,
    DecryptDataRequestBody,
    DisableKeyRequest,
    EncryptDatakeyRequest,
    EncryptDatakeyRequestBody,
    EncryptDataRequest,
    EncryptDataRequestBody,
    GenRandomRequestBody,
    KmsClient,
    OperateKeyRequestBody,
    ReEncryptRequest,
    ReEncryptRequestBody,
    ShowUserInstancesRequest,
    ShowUserQuotasRequest,
    ShowVersionRequest,
    ShowVersionsRequest,
)

from tests.e2e.conftest import Credentials, RawApi, SkmsCli, SkmsServer

pytestmark = pytest.mark.e2e

KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
UPPER_HEX_RE = re.compile(r"^(?:[0-9A-F]{2})+$")
DATA_CIPHER_RE = re.compile(r"^[0-9a-zA-Z+/=]{128,5648}$")  # §4 op 15
UNICODE_TEXT = "Grüße, κλειδί, 密钥管理服务 🔐🗝️ — ünïcødé ✓"
TAMPER_BUDGET_S = 20.0


# -- helpers ----------------------------------------------------------------------------------


def new_alias(prefix: str = "data") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_key(client: KmsClient, spec: str | None = None, usage: str | None = None) -> str:
    body = CreateKeyRequestBody(key_alias=new_alias(), key_spec=spec, key_usage=usage)
    key_id = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    assert isinstance(key_id, str)
    assert KEY_ID_RE.fullmatch(key_id)
    return key_id


def encrypt_data(client: KmsClient, key_id: str, text: str, **fields: Any) -> Any:
    body = EncryptDataRequestBody(key_id=key_id, plain_text=text, **fields)
    return client.encrypt_data(EncryptDataRequest(body=body))


def decrypt_data(client: KmsClient, cipher_text: str, **fields: Any) -> Any:
    return client.decrypt_data(
        DecryptDataRequest(body=DecryptDataRequestBody(cipher_text=cipher_text, **fields))
    )


def decrypt_datakey(client: KmsClient, key_id: str, cipher_text: str, length: int, **fields: Any) -> Any:
    body = DecryptDatakeyRequestBody(
        key_id=key_id, cipher_text=cipher_text, datakey_cipher_length=str(length), **fields
    )
    return client.decrypt_datakey(DecryptDatakeyRequest(body=body))


def encrypt_datakey(client: KmsClient, key_id: str, plain_text: str, length: int) -> Any:
    body = EncryptDatakeyRequestBody(key_id=key_id, plain_text=plain_text, datakey_plain_length=str(length))
    return client.encrypt_datakey(EncryptDatakeyRequest(body=body))


def re_encrypt(client: KmsClient, **fields: Any) -> Any:
    return client.re_encrypt(ReEncryptRequest(body=ReEncryptRequestBody(**fields)))


def create_random(client: KmsClient, bits: str) -> Any:
    return client.create_random(CreateRandomRequest(body=GenRandomRequestBody(random_data_length=bits)))


def digest(cmk_spec: str, dek: bytes) -> bytes:
    """§F3: SHA-256 of the DEK, SM3 for an SM4 CMK."""
    hasher = hashes.Hash(hashes.SM3() if cmk_spec == "SM4" else hashes.SHA256())
    hasher.update(dek)
    return hasher.finalize()


def expect_client_error(call: Callable[[], Any], status: int, code: str) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call()
    exc = caught.value
    assert (exc.status_code, exc.error_code) == (status, code), exc
    assert exc.error_msg
    assert exc.request_id
    return exc


def assert_data_cipher(cipher_text: Any) -> bytes:
    assert isinstance(cipher_text, str)
    assert DATA_CIPHER_RE.fullmatch(cipher_text), cipher_text
    return base64.b64decode(cipher_text, validate=True)


def assert_decrypted(response: Any, key_id: str, text: str) -> None:
    assert response.status_code == 200
    assert response.key_id == key_id
    assert response.plain_text == text
    assert base64.b64decode(response.plain_text_base64, validate=True) == text.encode("utf-8")


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(sdk_client_factory: Callable[..., KmsClient], skms_server: SkmsServer) -> KmsClient:
    return sdk_client_factory(skms_server.base_url)


@pytest.fixture(scope="module")
def keys(client: KmsClient) -> dict[str, str]:
    """One key per spec this module encrypts with (spec -> key id)."""
    return {
        "AES_256": create_key(client),
        "SM4": create_key(client, "SM4", "ENCRYPT_DECRYPT"),
        "RSA_2048": create_key(client, "RSA_2048", "ENCRYPT_DECRYPT"),
        "SM2": create_key(client, "SM2", "ENCRYPT_DECRYPT"),
    }


# -- ops 11, 12: data keys --------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_create_datakey_without_plaintext_then_decrypt_datakey(
    client: KmsClient, keys: dict[str, str], spec: str
) -> None:
    # Given a symmetric key
    key_id = keys[spec]
    # When a 512-bit data key is created without plaintext
    body = CreateDatakeyRequestBody(
        key_id=key_id, datakey_length="512", additional_authenticated_data="dk-aad"
    )
    created = client.create_datakey_without_plaintext(CreateDatakeyWithoutPlaintextRequest(body=body))
    # Then only the key id and a hex blob come back
    assert created.status_code == 200
    assert created.key_id == key_id
    assert UPPER_HEX_RE.fullmatch(created.cipher_text)
    assert created.cipher_text.startswith("0200")
    assert "plain_text" not in created.raw_content.decode()
    # And decrypt-datakey opens it (with the AAD) to a 64-byte DEK with its digest
    opened = decrypt_datakey(client, key_id, created.cipher_text, 64, additional_authenticated_data="dk-aad")
    dek = bytes.fromhex(opened.data_key)
    assert len(dek) == 64
    assert opened.datakey_length == "64"
    assert opened.datakey_dgst == digest(spec, dek).hex().upper()
    expect_client_error(lambda: decrypt_datakey(client, key_id, created.cipher_text, 64), 400, "KMS.2201")


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_encrypt_datakey_then_decrypt_datakey_gives_the_dek_back(
    client: KmsClient, keys: dict[str, str], spec: str
) -> None:
    # Given my own 64-byte DEK, sent as hex(DEK ‖ SHA256(DEK)) (SM3 for an SM4 CMK)
    key_id = keys[spec]
    dek = os.urandom(64)
    plain_text = (dek + digest(spec, dek)).hex()
    # When it is wrapped by encrypt-datakey
    wrapped = encrypt_datakey(client, key_id, plain_text, 64)
    # Then a hex blob and the DEK length in bytes, as a string
    assert wrapped.status_code == 200
    assert wrapped.key_id == key_id
    assert wrapped.datakey_length == "64"
    assert UPPER_HEX_RE.fullmatch(wrapped.cipher_text)
    assert dek.hex().upper() not in wrapped.cipher_text
    # And decrypt-datakey gives the DEK back with the right digest
    opened = decrypt_datakey(client, key_id, wrapped.cipher_text, 64)
    assert opened.data_key == dek.hex().upper()
    assert opened.datakey_dgst == digest(spec, dek).hex().upper()


def test_encrypt_datakey_rejects_a_wrong_digest(client: KmsClient, keys: dict[str, str]) -> None:
    dek = os.urandom(32)
    # SHA-256 where the SM4 CMK wants SM3
    plain_text = (dek + hashlib.sha256(dek).digest()).hex()
    expect_client_error(lambda: encrypt_datakey(client, keys["SM4"], plain_text, 32), 400, "KMS.2103")
    # a length that does not match
    expect_client_error(lambda: encrypt_datakey(client, keys["AES_256"], plain_text, 31), 400, "KMS.2104")


# -- ops 14, 15: encrypt-data / decrypt-data --------------------------------------------------


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_encrypt_data_round_trip_with_unicode_and_aad(
    client: KmsClient, keys: dict[str, str], spec: str
) -> None:
    # Given a symmetric key, unicode text and AAD
    key_id = keys[spec]
    encrypted = encrypt_data(client, key_id, UNICODE_TEXT, additional_authenticated_data="aad-✓-1")
    # Then the ciphertext is Base64 of a §F4 frame naming the key
    assert encrypted.status_code == 200
    assert encrypted.key_id == key_id
    raw = assert_data_cipher(encrypted.cipher_text)
    assert raw[:2] == b"\x02\x00"
    assert key_id.encode() in raw
    assert UNICODE_TEXT.encode() not in raw
    # And decrypt-data opens it with the same AAD, without a key id
    opened = decrypt_data(client, encrypted.cipher_text, additional_authenticated_data="aad-✓-1")
    assert_decrypted(opened, key_id, UNICODE_TEXT)
    # And with the key id given too
    assert_decrypted(
        decrypt_data(client, encrypted.cipher_text, key_id=key_id, additional_authenticated_data="aad-✓-1"),
        key_id,
        UNICODE_TEXT,
    )
    # But a wrong or missing AAD is KMS.2201
    for aad in ("aad-✓-2", None):
        expect_client_error(
            functools.partial(decrypt_data, client, encrypted.cipher_text, additional_authenticated_data=aad),
            400,
            "KMS.2201",
        )


def test_encrypt_data_accepts_4096_utf8_bytes_and_refuses_4097(
    client: KmsClient, keys: dict[str, str]
) -> None:
    key_id = keys["AES_256"]
    text = "é" * 2047 + "xy"  # 4096 UTF-8 bytes
    assert_decrypted(decrypt_data(client, encrypt_data(client, key_id, text).cipher_text), key_id, text)
    exc = expect_client_error(lambda: encrypt_data(client, key_id, "z" * 4097), 400, "KMS.2101")
    assert "z" * 16 not in exc.error_msg
    expect_client_error(lambda: encrypt_data(client, key_id, "é" * 2048 + "x"), 400, "KMS.2101")


@pytest.mark.parametrize(("spec", "algorithm"), [("RSA_2048", "RSAES_OAEP_SHA_256"), ("SM2", "SM2_ENCRYPT")])
def test_asymmetric_encrypt_data_round_trip(
    client: KmsClient, keys: dict[str, str], spec: str, algorithm: str
) -> None:
    # Given an asymmetric ENCRYPT_DECRYPT key
    key_id = keys[spec]
    text = "asymmetric " + UNICODE_TEXT
    # When text is encrypted with its algorithm
    encrypted = encrypt_data(client, key_id, text, encryption_algorithm=algorithm)
    assert encrypted.key_id == key_id
    raw = assert_data_cipher(encrypted.cipher_text)
    if spec == "RSA_2048":
        assert len(raw) == 256  # one RSA-2048 block, no frame
    # Then decrypt-data needs the key id (KMS.0204) and opens it with it
    expect_client_error(
        lambda: decrypt_data(client, encrypted.cipher_text, encryption_algorithm=algorithm), 400, "KMS.0204"
    )
    opened = decrypt_data(client, encrypted.cipher_text, key_id=key_id, encryption_algorithm=algorithm)
    assert_decrypted(opened, key_id, text)
    # And the same plaintext encrypts differently each time (randomised padding / ephemeral key)
    again = encrypt_data(client, key_id, text, encryption_algorithm=algorithm)
    assert again.cipher_text != encrypted.cipher_text


def test_rsa_plaintext_limit_and_refused_aad(client: KmsClient, keys: dict[str, str]) -> None:
    key_id = keys["RSA_2048"]
    algorithm = "RSAES_OAEP_SHA_256"
    # 190 bytes fit RSA-2048 OAEP SHA-256, 191 do not (KMS.2108)
    encrypt_data(client, key_id, "r" * 190, encryption_algorithm=algorithm)
    expect_client_error(
        lambda: encrypt_data(client, key_id, "r" * 191, encryption_algorithm=algorithm), 400, "KMS.2108"
    )
    # AAD cannot be bound to an asymmetric ciphertext: refused, not ignored (KMS.0308)
    expect_client_error(
        lambda: encrypt_data(
            client, key_id, "x", encryption_algorithm=algorithm, additional_authenticated_data="aad"
        ),
        400,
        "KMS.0308",
    )
    # The wrong algorithm for the key
    expect_client_error(
        lambda: encrypt_data(client, key_id, "x", encryption_algorithm="SM2_ENCRYPT"), 400, "KMS.2106"
    )
    expect_client_error(
        lambda: encrypt_data(client, keys["AES_256"], "x", encryption_algorithm=algorithm), 400, "KMS.2105"
    )


# -- op 16: re-encrypt ------------------------------------------------------------------------


def test_re_encrypt_from_aes_to_sm4_then_decrypt_data(client: KmsClient, keys: dict[str, str]) -> None:
    # Given a ciphertext under the AES key, with AAD
    source, destination = keys["AES_256"], keys["SM4"]
    cipher = encrypt_data(client, source, UNICODE_TEXT, additional_authenticated_data="src").cipher_text
    # When it is re-encrypted under the SM4 key with new AAD
    moved = re_encrypt(
        client,
        cipher_text=cipher,
        destination_key_id=destination,
        source_additional_authenticated_data="src",
        destination_additional_authenticated_data="dst",
    )
    # Then the reply names both keys and algorithms, and the new ciphertext is Base64
    assert moved.status_code == 200
    assert (moved.key_id, moved.source_key_id) == (destination, source)
    assert moved.source_encryption_algorithm == "SYMMETRIC_DEFAULT"
    assert moved.destination_encryption_algorithm == "SYMMETRIC_DEFAULT"
    assert destination.encode() in assert_data_cipher(moved.cipher_text)
    # And decrypt-data opens it under the SM4 key with the new AAD only
    opened = decrypt_data(client, moved.cipher_text, additional_authenticated_data="dst")
    assert_decrypted(opened, destination, UNICODE_TEXT)
    expect_client_error(
        lambda: decrypt_data(client, moved.cipher_text, additional_authenticated_data="src"), 400, "KMS.2201"
    )


def test_re_encrypt_a_data_key_blob(client: KmsClient, keys: dict[str, str]) -> None:
    source, destination = keys["AES_256"], keys["SM4"]
    dek = os.urandom(32)
    wrapped = encrypt_datakey(client, source, (dek + digest("AES_256", dek)).hex(), 32)
    moved = re_encrypt(
        client, cipher_text=wrapped.cipher_text, destination_key_id=destination, datakey_cipher_length="32"
    )
    assert UPPER_HEX_RE.fullmatch(moved.cipher_text)
    opened = decrypt_datakey(client, destination, moved.cipher_text, 32)
    assert opened.data_key == dek.hex().upper()
    assert opened.datakey_dgst == digest("SM4", dek).hex().upper()


# -- op 68: gen-random ------------------------------------------------------------------------


def test_create_random(client: KmsClient) -> None:
    first, second = create_random(client, "512"), create_random(client, "512")
    for reply in (first, second):
        assert reply.status_code == 200
        assert isinstance(reply.random_data, str)
        assert len(reply.random_data) == 128
        assert UPPER_HEX_RE.fullmatch(reply.random_data)
    assert first.random_data != second.random_data
    expect_client_error(lambda: create_random(client, "12"), 400, "KMS.1802")


# -- ops 69-72: quotas, instances, versions -----------------------------------------------------


def test_user_quotas_and_instances_count_the_keys_of_a_fresh_project(
    sdk_client_factory: Callable[..., KmsClient], skms_server: SkmsServer, skms_cli: SkmsCli
) -> None:
    # Given a project nobody used, and an access key for it
    project_id = uuid.uuid4().hex
    project_client = sdk_client_factory(
        skms_server.base_url, skms_cli.create_access_key(skms_server, project_id)
    )

    def cmk_used() -> tuple[int, int]:
        reply = project_client.show_user_quotas(ShowUserQuotasRequest())
        assert reply.status_code == 200
        resources = {resource.type: resource for resource in reply.quotas.resources}
        assert set(resources) == {"CMK", "grant_per_CMK"}
        for resource in resources.values():
            assert type(resource.used) is int
            assert type(resource.quota) is int
        assert resources["CMK"].quota >= 3
        return resources["CMK"].used, resources["CMK"].quota

    def instance_num() -> int:
        reply = project_client.show_user_instances(ShowUserInstancesRequest())
        assert reply.status_code == 200
        assert type(reply.instance_num) is int
        count: int = reply.instance_num
        return count

    assert cmk_used()[0] == 0
    assert instance_num() == 0
    # When three keys are created in it
    for spec in (None, "SM4", "RSA_2048"):
        create_key(project_client, spec, "ENCRYPT_DECRYPT" if spec else None)
    # Then the CMK quota's used and the instance count are three
    assert cmk_used()[0] == 3
    assert instance_num() == 3


def test_show_versions_and_show_version(client: KmsClient) -> None:
    versions = client.show_versions(ShowVersionsRequest())
    assert versions.status_code == 200
    assert len(versions.versions) == 1
    detail = versions.versions[0]
    assert (detail.id, detail.status) == ("v1.0", "CURRENT")
    assert isinstance(detail.updated, str)
    assert detail.updated
    assert detail.links[0].rel == "self"
    assert detail.links[0].href.endswith("/v1.0/")
    # show_version's reply is a raw object in the SDK: the ApiVersionDetail shape as a dict
    version = client.show_version(ShowVersionRequest(version_id="v1.0"))
    assert version.status_code == 200
    assert isinstance(version.version, dict)
    assert version.version["id"] == "v1.0"
    assert version.version["status"] == "CURRENT"
    assert set(version.version) == {"id", "links", "version", "status", "updated", "min_version"}


def test_version_documents_need_no_credentials(raw_api: RawApi) -> None:
    # Plain unsigned GETs, as any HTTP client would send them
    for path in ("/", "/v1.0"):
        conn = raw_api.connect()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200, (path, response.read())
            response.read()
        finally:
            conn.close()


# -- errors -----------------------------------------------------------------------------------


def flip_base64_body_char(cipher_text: str, index: int = 24) -> str:
    """One Base64 character of the sealed body changed; the text stays valid Base64."""
    char = cipher_text[index]
    return cipher_text[:index] + ("B" if char != "B" else "C") + cipher_text[index + 1 :]


def test_tampered_ciphertext_is_kms_2201(client: KmsClient, keys: dict[str, str]) -> None:
    cipher = encrypt_data(client, keys["AES_256"], "tamper me").cipher_text
    tampered = flip_base64_body_char(cipher)
    assert tampered != cipher
    expect_client_error(lambda: decrypt_data(client, tampered), 400, "KMS.2201")


def test_decrypt_data_of_another_projects_ciphertext_is_404(
    client: KmsClient,
    sdk_client_factory: Callable[..., KmsClient],
    skms_server: SkmsServer,
    other_credentials: Credentials,
) -> None:
    # Given a ciphertext made in another project
    other = sdk_client_factory(skms_server.base_url, other_credentials)
    other_key = create_key(other)
    cipher = encrypt_data(other, other_key, "secret of the other project").cipher_text
    assert_decrypted(decrypt_data(other, cipher), other_key, "secret of the other project")
    # Then in this project the key it names does not exist: 404 KMS.0207 (with or without the id)
    expect_client_error(lambda: decrypt_data(client, cipher), 404, "KMS.0207")
    expect_client_error(lambda: decrypt_data(client, cipher, key_id=other_key), 404, "KMS.0207")
    # And re-encrypting it into this project fails the same way
    expect_client_error(
        lambda: re_encrypt(client, cipher_text=cipher, destination_key_id=create_key(client)), 404, "KMS.0207"
    )


def test_encrypt_data_on_a_disabled_key_is_kms_0209(client: KmsClient) -> None:
    key_id = create_key(client)
    cipher = encrypt_data(client, key_id, "before").cipher_text
    client.disable_key(DisableKeyRequest(body=OperateKeyRequestBody(key_id=key_id)))
    expect_client_error(lambda: encrypt_data(client, key_id, "after"), 400, "KMS.0209")
    expect_client_error(lambda: decrypt_data(client, cipher), 400, "KMS.0209")


def test_every_single_byte_change_is_rejected_over_http(raw_api: RawApi, keys: dict[str, str]) -> None:
    # Given one encrypt-data ciphertext of a 100-byte plaintext
    encrypted = raw_api.post_ok("encrypt-data", {"key_id": keys["AES_256"], "plain_text": "p" * 100})
    raw = base64.b64decode(encrypted["cipher_text"], validate=True)
    assert 150 <= len(raw) <= 300
    # (the untouched ciphertext opens)
    assert (
        raw_api.post_ok("decrypt-data", {"cipher_text": encrypted["cipher_text"]})["plain_text"] == "p" * 100
    )
    started = time.monotonic()
    connection = raw_api.connect()
    try:
        for index in range(len(raw)):
            # When one byte is xor-ed with 0x01
            changed = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]
            reply = raw_api.post(
                "decrypt-data", {"cipher_text": base64.b64encode(changed).decode()}, connection=connection
            )
            # Then decrypt-data refuses it with a 4xx KMS error
            assert 400 <= reply.status < 500, (index, reply.status, reply.body)
            assert reply.error_code().startswith("KMS."), (index, reply.body)
    finally:
        connection.close()
    assert time.monotonic() - started < TAMPER_BUDGET_S
