"""HMAC keys through the official SDK against ``skms serve`` (spec §6 ops 26-27, §3 op 1)."""

from __future__ import annotations

import base64
import uuid

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateKeyRequest,
    CreateKeyRequestBody,
    GenerateMacRequest,
    GenerateMacRequestBody,
    KmsClient,
    VerifyMacRequest,
    VerifyMacRequestBody,
)

pytestmark = pytest.mark.e2e

MESSAGE = base64.b64encode(b"webhook payload 42").decode()


def _key(client: KmsClient, spec: str) -> str:
    body = CreateKeyRequestBody(key_alias=f"mac-{uuid.uuid4().hex[:10]}", key_spec=spec)
    return str(client.create_key(CreateKeyRequest(body=body)).key_info.key_id)


@pytest.mark.parametrize(
    ("spec", "algorithm", "length"),
    [
        ("HMAC_256", "HMAC_SHA_256", 32),
        ("HMAC_384", "HMAC_SHA_384", 48),
        ("HMAC_512", "HMAC_SHA_512", 64),
        ("HMAC_SM3", "HMAC_SM3", 32),
    ],
)
def test_generate_and_verify_a_mac(sdk_client: KmsClient, spec: str, algorithm: str, length: int) -> None:
    key_id = _key(sdk_client, spec)
    reply = sdk_client.generate_mac(
        GenerateMacRequest(
            body=GenerateMacRequestBody(key_id=key_id, mac_algorithm=algorithm, message=MESSAGE)
        )
    )
    assert len(base64.b64decode(reply.mac)) == length
    verify = VerifyMacRequestBody(key_id=key_id, mac_algorithm=algorithm, message=MESSAGE, mac=reply.mac)
    answer = sdk_client.verify_mac(VerifyMacRequest(body=verify))
    assert answer.mac_valid is True
    # The wire carries a real JSON boolean (a string "false" would read as True in the SDK, §F7)
    assert b'"mac_valid":true' in answer.raw_content.replace(b" ", b"")
    flipped = bytearray(base64.b64decode(reply.mac))
    flipped[0] ^= 0x01
    verify.mac = base64.b64encode(bytes(flipped)).decode()
    assert sdk_client.verify_mac(VerifyMacRequest(body=verify)).mac_valid is False


def test_mac_errors(sdk_client: KmsClient) -> None:
    hmac_key, aes_key = _key(sdk_client, "HMAC_256"), _key(sdk_client, "AES_256")
    cases = [
        (aes_key, "HMAC_SHA_256", "KMS.0334"),  # an ENCRYPT_DECRYPT key cannot make MACs
        (hmac_key, "HMAC_SHA_512", "KMS.0332"),  # an algorithm of another HMAC spec
    ]
    for key_id, algorithm, code in cases:
        with pytest.raises(ClientRequestException) as caught:
            sdk_client.generate_mac(
                GenerateMacRequest(
                    body=GenerateMacRequestBody(key_id=key_id, mac_algorithm=algorithm, message=MESSAGE)
                )
            )
        assert (caught.value.status_code, caught.value.error_code) == (400, code)
