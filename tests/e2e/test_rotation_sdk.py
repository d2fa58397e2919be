"""The official Huawei Cloud SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: key rotation,
spec §11 ops 46-50 and access-control §7. Ciphertexts and data keys made before one and two
rotations still open after them, the newest version encrypts, re-encrypt moves a ciphertext to it;
the status has the SDK's wire types (§F7: a JSON boolean, numbers); RSA keys and intervals outside
30-365 days are refused with their codes."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateDatakeyRequest,
    CreateDatakeyRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DecryptDatakeyRequest,
    DecryptDatakeyRequestBody,
    DecryptDataRequest,
    DecryptDataRequestBody,
    DisableKeyRequest,
    DisableKeyRotationRequest,
    EnableKeyRotationRequest,
    EncryptDataRequest,
    EncryptDataRequestBody,
    KmsClient,
    ListKeyDetailRequest,
    OperateKeyRequestBody,
    ReEncryptRequest,
    ReEncryptRequestBody,
    RotateOnDemandRequest,
    RotateOnDemandRequestBody,
    ShowKeyRotationStatusRequest,
    UpdateKeyRotationIntervalRequest,
    UpdateKeyRotationIntervalRequestBody,
)

pytestmark = pytest.mark.e2e

VERSION_OFFSET_FROM_END = 36  # §F4: a 4-byte key version, then the 32-byte SHA-256 trailer


def _key(client: KmsClient, alias: str, spec: str | None = None) -> str:
    body = CreateKeyRequestBody(key_alias=alias, key_spec=spec)
    key_id = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    assert isinstance(key_id, str)
    return key_id


def _okb(key_id: str) -> OperateKeyRequestBody:
    return OperateKeyRequestBody(key_id=key_id)


def _rotate(client: KmsClient, key_id: str) -> None:
    reply = client.rotate_on_demand(RotateOnDemandRequest(body=RotateOnDemandRequestBody(key_id=key_id)))
    assert reply.key_id == key_id


def _status(client: KmsClient, key_id: str) -> tuple[Any, dict[str, Any]]:
    reply = client.show_key_rotation_status(ShowKeyRotationStatusRequest(body=_okb(key_id)))
    return reply, json.loads(reply.raw_content)


def _version(blob: bytes) -> int:
    # the 4-byte version before the trailer (little-endian, as the frame's length)
    start = len(blob) - VERSION_OFFSET_FROM_END
    return int.from_bytes(blob[start : start + 4], "little")


def _code(action: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientRequestException) as raised:
        action()
    return raised.value.status_code, raised.value.error_code


def test_ciphertexts_and_data_keys_from_before_one_and_two_rotations_decrypt_after_them(
    sdk_client: KmsClient, new_alias: Callable[[str], str]
) -> None:
    # Given a key with rotation enabled, and under each of its versions a ciphertext and a data key
    key_id = _key(sdk_client, new_alias("rot"))
    sdk_client.enable_key_rotation(EnableKeyRotationRequest(body=_okb(key_id)))
    made: list[tuple[str, str, str, str]] = []
    for version in range(3):
        if version:  # one rotation, then two
            _rotate(sdk_client, key_id)
        text = f"secret made by version {version}"
        cipher = sdk_client.encrypt_data(
            EncryptDataRequest(body=EncryptDataRequestBody(key_id=key_id, plain_text=text))
        ).cipher_text
        dek = sdk_client.create_datakey(
            CreateDatakeyRequest(body=CreateDatakeyRequestBody(key_id=key_id, datakey_length="256"))
        )
        # Then the newest version encrypts
        assert _version(base64.b64decode(cipher)) == version
        assert _version(bytes.fromhex(dek.cipher_text)) == version
        made.append((text, cipher, dek.cipher_text, dek.plain_text))
    # When all of them are opened after the two rotations, Then each opens
    for text, cipher, dek_cipher, dek_plain in made:
        opened = sdk_client.decrypt_data(DecryptDataRequest(body=DecryptDataRequestBody(cipher_text=cipher)))
        assert opened.plain_text == text
        key = sdk_client.decrypt_datakey(
            DecryptDatakeyRequest(
                body=DecryptDatakeyRequestBody(
                    key_id=key_id, cipher_text=dek_cipher, datakey_cipher_length="32"
                )
            )
        )
        assert key.data_key == dek_plain
        # And re-encrypt onto the same key moves the ciphertext to the newest version
        moved = sdk_client.re_encrypt(
            ReEncryptRequest(body=ReEncryptRequestBody(cipher_text=cipher, destination_key_id=key_id))
        ).cipher_text
        assert _version(base64.b64decode(moved)) == 2
        again = sdk_client.decrypt_data(DecryptDataRequest(body=DecryptDataRequestBody(cipher_text=moved)))
        assert again.plain_text == text
    # And the status counts two rotations and lists three materials, in the SDK's types
    status, raw = _status(sdk_client, key_id)
    assert (status.key_rotation_enabled, status.rotation_interval, status.number_of_rotations) == (
        True,
        365,
        2,
    )
    assert raw["key_rotation_enabled"] is True
    assert isinstance(raw["rotation_interval"], int)
    assert isinstance(raw["number_of_rotations"], int)
    assert raw["last_rotation_time"].isdigit()
    assert [m.state for m in status.key_materials] == [2, 2, 2]
    described = sdk_client.list_key_detail(ListKeyDetailRequest(body=_okb(key_id)))
    assert described.key_info.key_rotation_enabled == "true"


def test_rotation_settings_through_the_sdk(sdk_client: KmsClient, new_alias: Callable[[str], str]) -> None:
    # Given a new key: rotation off, 365 days, never rotated
    key_id = _key(sdk_client, new_alias("rot"))
    status, raw = _status(sdk_client, key_id)
    assert raw["key_rotation_enabled"] is False
    assert (status.key_rotation_enabled, status.rotation_interval, status.number_of_rotations) == (
        False,
        365,
        0,
    )
    # An interval update before rotation is enabled is KMS.0313
    interval = UpdateKeyRotationIntervalRequestBody(key_id=key_id, rotation_interval=90)
    assert _code(
        lambda: sdk_client.update_key_rotation_interval(UpdateKeyRotationIntervalRequest(body=interval))
    ) == (400, "KMS.0313")
    # Enabled, then enabled again: KMS.2901
    sdk_client.enable_key_rotation(EnableKeyRotationRequest(body=_okb(key_id)))
    assert _code(lambda: sdk_client.enable_key_rotation(EnableKeyRotationRequest(body=_okb(key_id)))) == (
        400,
        "KMS.2901",
    )
    # The interval, 30-365 days
    sdk_client.update_key_rotation_interval(UpdateKeyRotationIntervalRequest(body=interval))
    assert _status(sdk_client, key_id)[0].rotation_interval == 90
    for days in (29, 366):
        outside = UpdateKeyRotationIntervalRequest(
            body=UpdateKeyRotationIntervalRequestBody(key_id=key_id, rotation_interval=days)
        )
        assert _code(functools.partial(sdk_client.update_key_rotation_interval, outside)) == (400, "KMS.3001")
    # Disabled rotation: the status says so; disabling again is KMS.0313
    sdk_client.disable_key_rotation(DisableKeyRotationRequest(body=_okb(key_id)))
    assert _status(sdk_client, key_id)[1]["key_rotation_enabled"] is False
    assert _code(lambda: sdk_client.disable_key_rotation(DisableKeyRotationRequest(body=_okb(key_id)))) == (
        400,
        "KMS.0313",
    )
    # A disabled key cannot be rotated (KMS.0209)
    sdk_client.disable_key(DisableKeyRequest(body=_okb(key_id)))
    assert _code(lambda: _rotate(sdk_client, key_id)) == (400, "KMS.0209")


def test_rotation_is_refused_on_an_rsa_key(sdk_client: KmsClient, new_alias: Callable[[str], str]) -> None:
    key_id = _key(sdk_client, new_alias("rot-rsa"), spec="RSA_2048")
    assert _code(lambda: sdk_client.enable_key_rotation(EnableKeyRotationRequest(body=_okb(key_id)))) == (
        400,
        "KMS.0324",
    )
    assert _code(lambda: _rotate(sdk_client, key_id)) == (400, "KMS.0324")
    # its status stays readable: never enabled
    assert _status(sdk_client, key_id)[0].key_rotation_enabled is False


def test_an_unknown_key_is_kms_0207(sdk_client: KmsClient) -> None:
    unknown = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
    assert _code(lambda: _rotate(sdk_client, unknown)) == (404, "KMS.0207")
    assert _code(lambda: _status(sdk_client, unknown)) == (404, "KMS.0207")
