"""derive-shared-secret (ECDH) through the official SDK against ``skms serve`` (spec §5 op 25).

huaweicloudsdkkms 3.1.219 has the models (``DeriveSharedSecretRequest``, ``DeriveSharedSecretRequestBody``,
``Recipient``), so every call goes through ``KmsClient.derive_shared_secret``. Each secret is checked
against the peer's own ECDH, computed by ``cryptography`` with the peer's private key and only the PEM
that get-publickey returned.
"""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateKeyRequest,
    CreateKeyRequestBody,
    DeriveSharedSecretRequest,
    DeriveSharedSecretRequestBody,
    KmsClient,
    OperateKeyRequestBody,
    Recipient,
    ShowPublicKeyRequest,
)

pytestmark = pytest.mark.e2e

CURVES = {"EC_P256": ec.SECP256R1(), "EC_P384": ec.SECP384R1(), "SECP256K1": ec.SECP256K1()}
UNKNOWN_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"


def _key(client: KmsClient, spec: str, usage: str | None = "KEY_AGREEMENT") -> str:
    body = CreateKeyRequestBody(key_alias=f"ka-{uuid.uuid4().hex[:10]}", key_spec=spec, key_usage=usage)
    return str(client.create_key(CreateKeyRequest(body=body)).key_info.key_id)


def _spki_b64(public: ec.EllipticCurvePublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def _derive(
    client: KmsClient,
    key_id: str,
    public_key: str,
    algorithm: str = "ECDH",
    recipient: Recipient | None = None,
) -> object:
    body = DeriveSharedSecretRequestBody(
        key_id=key_id, key_agreement_algorithm=algorithm, public_key=public_key, recipient=recipient
    )
    return client.derive_shared_secret(DeriveSharedSecretRequest(body=body))


def _error(call: object) -> tuple[int, str]:
    assert callable(call)
    with pytest.raises(ClientRequestException) as caught:
        call()
    assert caught.value.error_msg
    assert caught.value.request_id
    return caught.value.status_code, caught.value.error_code


@pytest.mark.parametrize("spec", list(CURVES))
def test_shared_secret_matches_the_peers_own_ecdh(sdk_client: KmsClient, spec: str) -> None:
    # Given a KEY_AGREEMENT key, and a peer that knows only its get-publickey PEM
    key_id = _key(sdk_client, spec)
    pem = sdk_client.show_public_key(
        ShowPublicKeyRequest(body=OperateKeyRequestBody(key_id=key_id))
    ).public_key
    cmk_public = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(cmk_public, ec.EllipticCurvePublicKey)
    peer = ec.generate_private_key(CURVES[spec])
    # When the service derives with the peer's public key
    reply = _derive(sdk_client, key_id, _spki_b64(peer.public_key()))
    # Then the SDK parsed all three fields, and the secret is the peer's ECDH
    assert reply.status_code == 200  # type: ignore[attr-defined]
    assert reply.key_id == key_id  # type: ignore[attr-defined]
    assert reply.key_agreement_algorithm == "ECDH"  # type: ignore[attr-defined]
    assert reply.ciphertext_recipient is None  # type: ignore[attr-defined]
    secret = base64.b64decode(reply.shared_secret, validate=True)  # type: ignore[attr-defined]
    assert secret == peer.exchange(ec.ECDH(), cmk_public)


def test_the_peer_key_must_be_on_the_keys_curve(sdk_client: KmsClient) -> None:
    key_id = _key(sdk_client, "SECP256K1")
    p256 = _spki_b64(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert _error(lambda: _derive(sdk_client, key_id, p256)) == (400, "KMS.0308")
    assert _error(lambda: _derive(sdk_client, key_id, "not base64!")) == (400, "KMS.0308")
    assert _error(lambda: _derive(sdk_client, key_id, base64.b64encode(b"junk").decode())) == (
        400,
        "KMS.0308",
    )


def test_only_ecdh_is_an_algorithm(sdk_client: KmsClient) -> None:
    key_id = _key(sdk_client, "EC_P256")
    peer = _spki_b64(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert _error(lambda: _derive(sdk_client, key_id, peer, algorithm="ECDH_SHA_256")) == (400, "KMS.0308")


def test_a_recipient_is_refused(sdk_client: KmsClient) -> None:
    # Qingtian enclave attestation cannot be verified here: refused, not silently ignored
    key_id = _key(sdk_client, "EC_P256")
    peer = _spki_b64(ec.generate_private_key(ec.SECP256R1()).public_key())
    recipient = Recipient(attestation_document="AAAA", key_encryption_algorithm="RSAES_OAEP_SHA_256")
    with pytest.raises(ClientRequestException) as caught:
        _derive(sdk_client, key_id, peer, recipient=recipient)
    assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.0308")
    assert "recipient" in caught.value.error_msg


@pytest.mark.parametrize(
    ("spec", "usage", "code"),
    [
        ("EC_P256", "SIGN_VERIFY", "KMS.0335"),
        ("SECP256K1", None, "KMS.0335"),
        ("ED25519", None, "KMS.0335"),
        ("SM2", "ENCRYPT_DECRYPT", "KMS.0334"),
        ("AES_256", None, "KMS.0331"),
    ],
)
def test_only_key_agreement_keys_derive(
    sdk_client: KmsClient, spec: str, usage: str | None, code: str
) -> None:
    key_id = _key(sdk_client, spec, usage)
    peer = _spki_b64(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert _error(lambda: _derive(sdk_client, key_id, peer)) == (400, code)


def test_unknown_key_is_404(sdk_client: KmsClient) -> None:
    peer = _spki_b64(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert _error(lambda: _derive(sdk_client, UNKNOWN_KEY_ID, peer)) == (404, "KMS.0207")


def test_sm2_cannot_be_a_key_agreement_key(sdk_client: KmsClient) -> None:
    assert _error(lambda: _key(sdk_client, "SM2", "KEY_AGREEMENT")) == (400, "KMS.1110")
