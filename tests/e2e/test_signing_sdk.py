"""sign / verify / get-publickey through the official SDK against ``skms serve`` (spec §5 ops 22-24).

Every signature the service makes is verified independently with ``cryptography`` (Ed25519ph, which it
lacks: RFC 8032's reference code, tests/support/rfc8032.py) using only the PEM that get-publickey
returned; the service's own verify answers "true" for it and "false" once one bit of the message or
signature changes.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateKeyRequest,
    CreateKeyRequestBody,
    KmsClient,
    OperateKeyRequestBody,
    ShowPublicKeyRequest,
    SignRequest,
    SignRequestBody,
    ValidateSignatureRequest,
    VerifyRequestBody,
)

from tests.support.rfc8032 import ed25519_public_from_pem, ed25519ph_verify

pytestmark = pytest.mark.e2e

MESSAGE = b"release-2026.11.25.tar.gz"
CASES = [
    ("RSA_2048", "RSASSA_PSS_SHA_256"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
    ("EC_P256", "ECDSA_SHA_256"),
    ("EC_P384", "ECDSA_SHA_384"),
    ("SECP256K1", "ECDSA_SHA_256"),
    ("ED25519", "ED25519_SHA_512"),
]


def _key(client: KmsClient, spec: str, usage: str = "SIGN_VERIFY") -> str:
    body = CreateKeyRequestBody(key_alias=f"sig-{uuid.uuid4().hex[:10]}", key_spec=spec, key_usage=usage)
    return str(client.create_key(CreateKeyRequest(body=body)).key_info.key_id)


def _sign(
    client: KmsClient, key_id: str, algorithm: str, message: bytes, message_type: str | None = "RAW"
) -> str:
    body = SignRequestBody(
        key_id=key_id,
        message=base64.b64encode(message).decode(),
        signing_algorithm=algorithm,
        message_type=message_type,
    )
    return str(client.sign(SignRequest(body=body)).signature)


def _verify(
    client: KmsClient, key_id: str, algorithm: str, message: bytes, signature: str, message_type: str = "RAW"
) -> str:
    body = VerifyRequestBody(
        key_id=key_id,
        message=base64.b64encode(message).decode(),
        signing_algorithm=algorithm,
        message_type=message_type,
        signature=signature,
    )
    return str(client.validate_signature(ValidateSignatureRequest(body=body)).signature_valid)


def _independently_verify(pem: str, algorithm: str, message: bytes, signature: bytes) -> None:
    public = serialization.load_pem_public_key(pem.encode())
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[algorithm[-3:]]
    if isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(signature, message)  # pure Ed25519 over the message itself
    elif isinstance(public, rsa.RSAPublicKey):
        if "PSS" in algorithm:
            scheme: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(digest), salt_length=digest.digest_size
            )
        else:
            scheme = padding.PKCS1v15()
        public.verify(signature, message, scheme, digest)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(digest))


@pytest.mark.parametrize(("spec", "algorithm"), CASES)
def test_signatures_verify_outside_the_service_and_inside(
    sdk_client: KmsClient, spec: str, algorithm: str
) -> None:
    # Given a signing key and its public key as an outside verifier gets it
    key_id = _key(sdk_client, spec)
    pem = sdk_client.show_public_key(
        ShowPublicKeyRequest(body=OperateKeyRequestBody(key_id=key_id))
    ).public_key
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    # When the service signs a message
    signature = _sign(sdk_client, key_id, algorithm, MESSAGE)
    # Then cryptography verifies it with only the PEM (it raises if not)
    _independently_verify(pem, algorithm, MESSAGE, base64.b64decode(signature))
    # And the service's verify says "true", and "false" for one flipped bit of message or signature
    assert _verify(sdk_client, key_id, algorithm, MESSAGE, signature) == "true"
    assert _verify(sdk_client, key_id, algorithm, b"S" + MESSAGE[1:], signature) == "false"
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 0x01
    assert _verify(sdk_client, key_id, algorithm, MESSAGE, base64.b64encode(bytes(raw)).decode()) == "false"


def test_digest_signing_and_its_length_check(sdk_client: KmsClient) -> None:
    key_id = _key(sdk_client, "EC_P256")
    digest = hashlib.sha256(MESSAGE).digest()
    signature = _sign(sdk_client, key_id, "ECDSA_SHA_256", digest, "DIGEST")
    assert _verify(sdk_client, key_id, "ECDSA_SHA_256", MESSAGE, signature) == "true"
    with pytest.raises(ClientRequestException) as caught:
        _sign(sdk_client, key_id, "ECDSA_SHA_256", digest[:20], "DIGEST")
    assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.0329")


@pytest.mark.parametrize(
    ("spec", "usage", "algorithm", "code"),
    [
        ("AES_256", "ENCRYPT_DECRYPT", "ECDSA_SHA_256", "KMS.1115"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "RSASSA_PSS_SHA_256", "KMS.0334"),
        ("EC_P256", "SIGN_VERIFY", "RSASSA_PSS_SHA_256", "KMS.0332"),
        ("SECP256K1", "SIGN_VERIFY", "ECDSA_SHA_384", "KMS.0332"),
        ("ED25519", "SIGN_VERIFY", "ECDSA_SHA_256", "KMS.0332"),
        ("EC_P256", "SIGN_VERIFY", "ED25519_PH_SHA_512", "KMS.0332"),
        ("EC_P256", "SIGN_VERIFY", "ED25519_SHA_512", "KMS.0332"),
        ("SECP256K1", "KEY_AGREEMENT", "ECDSA_SHA_256", "KMS.0332"),
    ],
)
def test_key_usage_is_enforced(
    sdk_client: KmsClient, spec: str, usage: str, algorithm: str, code: str
) -> None:
    key_id = _key(sdk_client, spec, usage)
    with pytest.raises(ClientRequestException) as caught:
        _sign(sdk_client, key_id, algorithm, MESSAGE)
    assert (caught.value.status_code, caught.value.error_code) == (400, code)


def test_ed25519_signs_raw_messages_only(sdk_client: KmsClient) -> None:
    # Pure Ed25519 cannot sign a digest; DIGEST (also the default message_type) is refused
    key_id = _key(sdk_client, "ED25519")
    digest = hashlib.sha512(MESSAGE).digest()
    for message_type in ("DIGEST", None):
        with pytest.raises(ClientRequestException) as caught:
            _sign(sdk_client, key_id, "ED25519_SHA_512", digest, message_type)
        assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.0308")
        assert "RAW" in caught.value.error_msg


@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_ed25519ph_signs_and_verifies_raw_messages_and_sha512_digests(
    sdk_client: KmsClient, message_type: str
) -> None:
    # Given an ED25519 key, its PEM, and the message as RAW or as its SHA-512 (Ed25519ph's prehash)
    key_id = _key(sdk_client, "ED25519")
    pem = sdk_client.show_public_key(
        ShowPublicKeyRequest(body=OperateKeyRequestBody(key_id=key_id))
    ).public_key
    digest = hashlib.sha512(MESSAGE).digest()
    data = {"RAW": MESSAGE, "DIGEST": digest}
    # When the service signs it with ED25519_PH_SHA_512
    signature = _sign(sdk_client, key_id, "ED25519_PH_SHA_512", data[message_type], message_type)
    raw = base64.b64decode(signature)
    # Then RFC 8032's reference verifier accepts it over MESSAGE with only the PEM's public key
    public = ed25519_public_from_pem(pem)
    assert ed25519ph_verify(public, MESSAGE, raw)
    assert not ed25519ph_verify(public, b"S" + MESSAGE[1:], raw)
    # And the service's verify says "true" for either form, "false" for one flipped bit
    for kind, message in data.items():
        assert _verify(sdk_client, key_id, "ED25519_PH_SHA_512", message, signature, kind) == "true"
    assert _verify(sdk_client, key_id, "ED25519_PH_SHA_512", b"S" + MESSAGE[1:], signature) == "false"
    flipped = base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 0x01])).decode()
    assert _verify(sdk_client, key_id, "ED25519_PH_SHA_512", MESSAGE, flipped) == "false"
    # And a DIGEST that is not 64 bytes is KMS.0329
    with pytest.raises(ClientRequestException) as caught:
        _sign(sdk_client, key_id, "ED25519_PH_SHA_512", digest[:32], "DIGEST")
    assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.0329")


def test_new_key_specs_take_only_their_own_usages(sdk_client: KmsClient) -> None:
    for spec, usage in [
        ("ED25519", "KEY_AGREEMENT"),
        ("SM2", "KEY_AGREEMENT"),
        ("SECP256K1", "ENCRYPT_DECRYPT"),
    ]:
        with pytest.raises(ClientRequestException) as caught:
            _key(sdk_client, spec, usage)
        assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.1110"), (spec, usage)


def test_symmetric_keys_have_no_public_key(sdk_client: KmsClient) -> None:
    key_id = _key(sdk_client, "AES_256", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientRequestException) as caught:
        sdk_client.show_public_key(ShowPublicKeyRequest(body=OperateKeyRequestBody(key_id=key_id)))
    assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.0331")
