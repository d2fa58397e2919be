"""The official Huawei Cloud SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: import of key
material, spec §10 ops 43-45 and access-control §6. The client side of each import is written with
``cryptography`` alone (tests/support/importing.py): a symmetric round trip with deletion and
re-import of the same material (other material refused), an imported EC private key whose
signatures its own public key verifies, and material that expires becoming unusable."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateKeyRequest,
    CreateKeyRequestBody,
    CreateParametersForImportRequest,
    DecryptDataRequest,
    DecryptDataRequestBody,
    DeleteImportedKeyMaterialRequest,
    EncryptDataRequest,
    EncryptDataRequestBody,
    GetParametersForImportRequestBody,
    ImportKeyMaterialRequest,
    ImportKeyMaterialRequestBody,
    KmsClient,
    ListKeyDetailRequest,
    OperateKeyRequestBody,
    SignRequest,
    SignRequestBody,
)

from tests.support.importing import oaep_wrap, pkcs8_der, wrap_private_key
from tests.support.secret_scan import REGISTRY

pytestmark = pytest.mark.e2e


def _external_key(client: KmsClient, spec: str = "AES_256", usage: str | None = None) -> str:
    body = CreateKeyRequestBody(
        key_alias=f"import-{uuid.uuid4().hex[:8]}", key_spec=spec, key_usage=usage, origin="external"
    )
    key_id = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    assert isinstance(key_id, str)
    return key_id


def _params(client: KmsClient, key_id: str) -> Any:
    body = GetParametersForImportRequestBody(key_id=key_id, wrapping_algorithm="RSAES_OAEP_SHA_256")
    return client.create_parameters_for_import(CreateParametersForImportRequest(body=body))


def _import(client: KmsClient, key_id: str, material: bytes, expiration_time: int | None = None) -> None:
    REGISTRY.add("imported key material", material)  # the server's logs must never hold it
    params = _params(client, key_id)
    body = ImportKeyMaterialRequestBody(
        key_id=key_id,
        import_token=params.import_token,
        encrypted_key_material=oaep_wrap(params.public_key, material),
        expiration_time=expiration_time,
    )
    client.import_key_material(ImportKeyMaterialRequest(body=body))


def _state(client: KmsClient, key_id: str) -> str:
    state = client.list_key_detail(
        ListKeyDetailRequest(body=OperateKeyRequestBody(key_id=key_id))
    ).key_info.key_state
    assert isinstance(state, str)
    return state


def _encrypt(client: KmsClient, key_id: str, text: str) -> str:
    body = EncryptDataRequestBody(key_id=key_id, plain_text=text)
    cipher_text = client.encrypt_data(EncryptDataRequest(body=body)).cipher_text
    assert isinstance(cipher_text, str)
    return cipher_text


def _decrypt(client: KmsClient, cipher_text: str) -> str:
    plain = client.decrypt_data(
        DecryptDataRequest(body=DecryptDataRequestBody(cipher_text=cipher_text))
    ).plain_text
    assert isinstance(plain, str)
    return plain


def _refused(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ClientRequestException) as raised:
        call()
    return raised.value.status_code, raised.value.error_code


def test_parameters_have_the_sdk_types_and_an_rsa_2048_der_public_key(sdk_client: KmsClient) -> None:
    key_id = _external_key(sdk_client)
    before = int(time.time())
    params = _params(sdk_client, key_id)
    raw = json.loads(params.raw_content)
    assert set(raw) == {"key_id", "import_token", "expiration_time", "public_key"}
    assert isinstance(raw["expiration_time"], int)  # epoch seconds, a JSON number
    assert before + 86_400 <= params.expiration_time <= int(time.time()) + 86_400
    public = serialization.load_der_public_key(base64.b64decode(params.public_key))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert 200 <= len(params.import_token) <= 6144


def test_symmetric_round_trip_with_delete_and_reimport(sdk_client: KmsClient) -> None:
    # Given an external AES_256 key, pending import ("5")
    key_id = _external_key(sdk_client)
    assert _state(sdk_client, key_id) == "5"
    # When material is imported, Then it is enabled and encrypts
    material = os.urandom(32)
    _import(sdk_client, key_id, material)
    assert _state(sdk_client, key_id) == "2"
    cipher_text = _encrypt(sdk_client, key_id, "made before the deletion")
    # When the material is deleted, Then the key is pending import again and cannot decrypt
    sdk_client.delete_imported_key_material(
        DeleteImportedKeyMaterialRequest(body=OperateKeyRequestBody(key_id=key_id))
    )
    assert _state(sdk_client, key_id) == "5"
    assert _refused(lambda: _decrypt(sdk_client, cipher_text)) == (400, "KMS.1301")
    # When other material is imported, Then it is refused
    assert _refused(lambda: _import(sdk_client, key_id, os.urandom(32))) == (400, "KMS.2606")
    # When the same material is imported again, Then the old ciphertext decrypts
    _import(sdk_client, key_id, material)
    assert _decrypt(sdk_client, cipher_text) == "made before the deletion"
    # And a second deletion of material that is gone is refused
    sdk_client.delete_imported_key_material(
        DeleteImportedKeyMaterialRequest(body=OperateKeyRequestBody(key_id=key_id))
    )
    second = _refused(
        lambda: sdk_client.delete_imported_key_material(
            DeleteImportedKeyMaterialRequest(body=OperateKeyRequestBody(key_id=key_id))
        )
    )
    assert second == (400, "KMS.2701")


def test_wrong_length_and_a_token_of_another_key_are_refused(sdk_client: KmsClient) -> None:
    key_id, other = _external_key(sdk_client), _external_key(sdk_client)
    assert _refused(lambda: _import(sdk_client, key_id, os.urandom(16))) == (400, "KMS.2604")
    params = _params(sdk_client, other)
    body = ImportKeyMaterialRequestBody(
        key_id=key_id,
        import_token=params.import_token,
        encrypted_key_material=oaep_wrap(params.public_key, os.urandom(32)),
    )
    assert _refused(lambda: sdk_client.import_key_material(ImportKeyMaterialRequest(body=body))) == (
        400,
        "KMS.2603",
    )


def test_an_imported_ec_key_signs_and_its_own_public_key_verifies(sdk_client: KmsClient) -> None:
    # Given an EC_P256 private key made outside KMS, imported (temporary key + RFC 5649)
    key_id = _external_key(sdk_client, "EC_P256", "SIGN_VERIFY")
    private = ec.generate_private_key(ec.SECP256R1())
    REGISTRY.add("imported private key", pkcs8_der(private))
    params = _params(sdk_client, key_id)
    temporary, wrapped = wrap_private_key(params.public_key, pkcs8_der(private))
    body = ImportKeyMaterialRequestBody(
        key_id=key_id,
        import_token=params.import_token,
        encrypted_key_material=temporary,
        encrypted_privatekey=wrapped,
    )
    sdk_client.import_key_material(ImportKeyMaterialRequest(body=body))
    # When KMS signs a message with it
    message = b"signed by an imported key"
    sign = SignRequestBody(
        key_id=key_id,
        message=base64.b64encode(message).decode("ascii"),
        signing_algorithm="ECDSA_SHA_256",
        message_type="RAW",
    )
    signature = base64.b64decode(sdk_client.sign(SignRequest(body=sign)).signature)
    # Then the caller's own public key verifies it (raises if not)
    private.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
    # And its material cannot be deleted (asymmetric)
    refused = _refused(
        lambda: sdk_client.delete_imported_key_material(
            DeleteImportedKeyMaterialRequest(body=OperateKeyRequestBody(key_id=key_id))
        )
    )
    assert refused == (400, "KMS.2702")


def test_material_that_expires_is_unusable(sdk_client: KmsClient) -> None:
    # Given material that expires two seconds from now, and a ciphertext under it
    key_id = _external_key(sdk_client)
    expires = int(time.time()) + 2
    _import(sdk_client, key_id, os.urandom(32), expiration_time=expires)
    cipher_text = _encrypt(sdk_client, key_id, "short-lived")
    assert _refused(lambda: _import(sdk_client, key_id, os.urandom(32), expiration_time=expires)) == (
        400,
        "KMS.0310",
    )
    # When that moment has passed
    while time.time() < expires + 0.2:
        time.sleep(0.2)
    # Then the key is pending import and neither decrypts nor encrypts
    assert _state(sdk_client, key_id) == "5"
    assert _refused(lambda: _decrypt(sdk_client, cipher_text)) == (400, "KMS.1301")
    assert _refused(lambda: _encrypt(sdk_client, key_id, "after")) == (400, "KMS.1301")


def test_a_past_expiration_time_is_refused(sdk_client: KmsClient) -> None:
    key_id = _external_key(sdk_client)
    past = int(time.time()) - 60
    assert _refused(lambda: _import(sdk_client, key_id, os.urandom(32), expiration_time=past)) == (
        400,
        "KMS.2602",
    )
