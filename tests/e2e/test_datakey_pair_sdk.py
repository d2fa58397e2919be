"""create-rsa-datakey-pair / create-ec-datakey-pair through the official SDK against ``skms serve``
(spec §4 ops 17-18; errors §F2).

The pairs are checked with independent code only: ``cryptography`` for RSA and EC, the OpenSSL 3
command line for SM2 (which ``cryptography`` cannot load). The private key cipher text is opened
with the SDK's decrypt_data. Raw signed HTTP (conftest's :class:`RawApi`) checks the JSON itself:
which fields are present, and that a string ``with_plain_text`` is refused.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateEcDatakeyPairRequest,
    CreateEcDatakeyPairRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    CreateRsaDatakeyPairRequest,
    CreateRsaDatakeyPairRequestBody,
    DecryptDataRequest,
    DecryptDataRequestBody,
    DisableKeyRequest,
    KmsClient,
    OperateKeyRequestBody,
)

from skms.crypto import keypairs
from tests.e2e.conftest import RawApi, SkmsServer

pytestmark = pytest.mark.e2e

RSA_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
EC_SPECS = {
    "ECC_NIST_P256": "secp256r1",
    "ECC_NIST_P384": "secp384r1",
    "ECC_NIST_P521": "secp521r1",
    "ECC_SECG_P256K1": "secp256k1",
    "SM2": "SM2",
}
MESSAGE = b"artifact-2026.11.25.tar.gz"
AAD = "build-42"
UNKNOWN_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
PAIR_FIELDS = {"key_id", "key_spec", "public_key", "private_key_cipher_text", "private_key_plain_text"}


# -- helpers ----------------------------------------------------------------------------------


def _key(client: KmsClient, spec: str = "AES_256", usage: str | None = None) -> str:
    body = CreateKeyRequestBody(key_alias=f"kp-{uuid.uuid4().hex[:12]}", key_spec=spec, key_usage=usage)
    return str(client.create_key(CreateKeyRequest(body=body)).key_info.key_id)


def create_pair(client: KmsClient, key_id: str, key_spec: str, **fields: Any) -> Any:
    """The SDK call of op 17 for RSA specs, op 18 otherwise."""
    if key_spec.startswith("RSA"):
        rsa_body = CreateRsaDatakeyPairRequestBody(key_id=key_id, key_spec=key_spec, **fields)
        return client.create_rsa_datakey_pair(CreateRsaDatakeyPairRequest(body=rsa_body))
    ec_body = CreateEcDatakeyPairRequestBody(key_id=key_id, key_spec=key_spec, **fields)
    return client.create_ec_datakey_pair(CreateEcDatakeyPairRequest(body=ec_body))


def decrypt_private_key(client: KmsClient, cipher_text: str, **fields: Any) -> Any:
    body = DecryptDataRequestBody(cipher_text=cipher_text, **fields)
    return client.decrypt_data(DecryptDataRequest(body=body))


def expect_client_error(call: Callable[[], Any], status: int, code: str) -> None:
    with pytest.raises(ClientRequestException) as caught:
        call()
    assert (caught.value.status_code, caught.value.error_code) == (status, code), caught.value
    assert caught.value.error_msg


def _openssl(*args: str | Path) -> bytes:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, check=True, timeout=30)
    return done.stdout


def assert_pair_works(key_spec: str, public_der: bytes, private_der: bytes, tmp_path: Path) -> None:
    """Independent code: the private half signs, the public half verifies, and they match."""
    if key_spec == "SM2":
        # OpenSSL reads the PKCS#8 as an SM2 key, derives our public key, and signs a message
        # that verifies with our public key (SM3, default distinguishing id)
        key, public, message = tmp_path / "sm2.der", tmp_path / "sm2.pub.der", tmp_path / "msg"
        key.write_bytes(private_der)
        public.write_bytes(public_der)
        message.write_bytes(MESSAGE)
        assert _openssl("pkey", "-inform", "DER", "-in", key, "-pubout", "-outform", "DER") == public_der
        assert b"SM2" in _openssl("pkey", "-inform", "DER", "-in", key, "-noout", "-text")
        distid = "distid:1234567812345678"
        signature = tmp_path / "sig"
        _openssl(
            "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-keyform", "DER", "-inkey", key,
            "-in", message, "-out", signature, "-pkeyopt", distid,
        )  # fmt: skip
        verified = _openssl(
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-keyform", "DER", "-inkey", public,
            "-in", message, "-sigfile", signature, "-pkeyopt", distid,
        )  # fmt: skip
        assert b"Signature Verified Successfully" in verified
        return
    private_key = serialization.load_der_private_key(private_der, password=None)
    public_key = serialization.load_der_public_key(public_der)
    spki = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == public_der
    if key_spec in RSA_SPECS:
        assert isinstance(private_key, rsa.RSAPrivateKey)
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert private_key.key_size == RSA_SPECS[key_spec]
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public_key.verify(private_key.sign(MESSAGE, pss, hashes.SHA256()), MESSAGE, pss, hashes.SHA256())
    else:
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert public_key.curve.name == EC_SPECS[key_spec]
        ecdsa = ec.ECDSA(hashes.SHA256())
        public_key.verify(private_key.sign(MESSAGE, ecdsa), MESSAGE, ecdsa)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(sdk_client_factory: Callable[..., KmsClient], skms_server: SkmsServer) -> KmsClient:
    return sdk_client_factory(skms_server.base_url)


@pytest.fixture(scope="module")
def cmk(client: KmsClient) -> str:
    """The AES_256 CMK that wraps this module's pairs."""
    return _key(client)


# -- success paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("key_spec", [*RSA_SPECS, *EC_SPECS])
def test_pair_works_and_decrypt_data_returns_its_private_key(
    client: KmsClient, cmk: str, key_spec: str, tmp_path: Path
) -> None:
    # When the SDK asks for a pair, with AAD
    reply = create_pair(client, cmk, key_spec, additional_authenticated_data=AAD)

    # Then the reply names the CMK and the spec, and carries the public and both private keys
    assert reply.status_code == 200
    assert (reply.key_id, reply.key_spec) == (cmk, key_spec)
    assert reply.wrapped_private_key is None
    assert reply.ciphertext_recipient is None
    public_der = base64.b64decode(reply.public_key, validate=True)
    private_der = base64.b64decode(reply.private_key_plain_text, validate=True)
    # And the pair works with independent code
    assert_pair_works(key_spec, public_der, private_der, tmp_path)
    # And the SDK's decrypt_data, given the same AAD, returns exactly that private key
    opened = decrypt_private_key(client, reply.private_key_cipher_text, additional_authenticated_data=AAD)
    assert opened.key_id == cmk
    assert opened.plain_text_base64 == reply.private_key_plain_text


@pytest.mark.parametrize("key_spec", ["RSA_2048", "ECC_NIST_P384", "SM2"])
def test_without_plain_text_only_the_wrapped_private_key_comes_back(
    client: KmsClient, key_spec: str, tmp_path: Path
) -> None:
    # Given an SM4 CMK
    sm4 = _key(client, "SM4", "ENCRYPT_DECRYPT")
    # When a pair is asked for without plaintext
    reply = create_pair(client, sm4, key_spec, with_plain_text=False)
    # Then no private key in clear comes back
    assert reply.private_key_plain_text is None
    assert reply.public_key
    # And the wrapped private key opens (no AAD was bound) to the public key's partner
    opened = decrypt_private_key(client, reply.private_key_cipher_text)
    private_der = base64.b64decode(opened.plain_text_base64, validate=True)
    assert_pair_works(key_spec, base64.b64decode(reply.public_key), private_der, tmp_path)


def test_wire_shape_and_sequence(raw_api: RawApi, cmk: str) -> None:
    # with_plain_text as a real JSON bool: false leaves the field out, true (and absent) puts it in
    base = {"key_id": cmk, "key_spec": "ECC_NIST_P256", "sequence": "919c82d4-8046-4722-9094-35c3c6524cff"}
    without = raw_api.post_ok("create-ec-datakey-pair", {**base, "with_plain_text": False})
    assert set(without) == PAIR_FIELDS - {"private_key_plain_text"}
    assert all(isinstance(value, str) for value in without.values())
    for extra in ({"with_plain_text": True}, {}, {"with_plain_text": None}):
        assert set(raw_api.post_ok("create-ec-datakey-pair", {**base, **extra})) == PAIR_FIELDS
    # And the same sequence again makes a new pair: the answers hold secrets, so they are not replayed
    again = raw_api.post_ok("create-ec-datakey-pair", {**base, "with_plain_text": False})
    assert again["public_key"] != without["public_key"]
    # And pin / pin_type are accepted and ignored on the EC op
    pinned = raw_api.post_ok("create-ec-datakey-pair", {**base, "pin": "123456", "pin_type": "PlainText"})
    assert set(pinned) == PAIR_FIELDS


# -- error paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_spec", "cmk_spec", "cmk_usage", "code"),
    [
        ("RSA_2048", "RSA_2048", "ENCRYPT_DECRYPT", "KMS.0325"),
        ("ECC_NIST_P256", "EC_P256", "SIGN_VERIFY", "KMS.0325"),
        ("SM2", "SM2", "ENCRYPT_DECRYPT", "KMS.0325"),
        ("RSA_4096", "HMAC_256", "GENERATE_VERIFY_MAC", "KMS.0341"),
    ],
)
def test_only_symmetric_encryption_cmks_wrap_pairs(
    client: KmsClient, key_spec: str, cmk_spec: str, cmk_usage: str, code: str
) -> None:
    key_id = _key(client, cmk_spec, cmk_usage)
    expect_client_error(lambda: create_pair(client, key_id, key_spec), 400, code)


@pytest.mark.parametrize(
    ("key_spec", "code"),
    [("RSA_1024", "KMS.1110"), ("EC_P256", "KMS.1110"), ("ECC_NIST_P256", "KMS.1110")],
)
def test_rsa_op_refuses_other_specs(client: KmsClient, cmk: str, key_spec: str, code: str) -> None:
    body = CreateRsaDatakeyPairRequestBody(key_id=cmk, key_spec=key_spec)
    expect_client_error(
        lambda: client.create_rsa_datakey_pair(CreateRsaDatakeyPairRequest(body=body)), 400, code
    )


@pytest.mark.parametrize("key_spec", ["RSA_2048", "EC_P384", "SM4"])
def test_ec_op_refuses_other_specs(client: KmsClient, cmk: str, key_spec: str) -> None:
    body = CreateEcDatakeyPairRequestBody(key_id=cmk, key_spec=key_spec)
    expect_client_error(
        lambda: client.create_ec_datakey_pair(CreateEcDatakeyPairRequest(body=body)), 400, "KMS.1110"
    )


def test_missing_spec_unknown_key_and_disabled_key(client: KmsClient) -> None:
    key_id = _key(client)
    body = CreateEcDatakeyPairRequestBody(key_id=key_id)
    expect_client_error(
        lambda: client.create_ec_datakey_pair(CreateEcDatakeyPairRequest(body=body)), 400, "KMS.0204"
    )
    expect_client_error(lambda: create_pair(client, UNKNOWN_KEY_ID, "SM2"), 404, "KMS.0207")
    client.disable_key(DisableKeyRequest(body=OperateKeyRequestBody(key_id=key_id)))
    expect_client_error(lambda: create_pair(client, key_id, "RSA_2048"), 400, "KMS.0209")
    expect_client_error(lambda: create_pair(client, key_id, "ECC_NIST_P256"), 400, "KMS.0209")


def test_the_cipher_text_needs_its_aad(client: KmsClient, cmk: str) -> None:
    reply = create_pair(client, cmk, "ECC_SECG_P256K1", additional_authenticated_data=AAD)
    cipher = reply.private_key_cipher_text
    expect_client_error(lambda: decrypt_private_key(client, cipher), 400, "KMS.2201")
    expect_client_error(
        lambda: decrypt_private_key(client, cipher, additional_authenticated_data=AAD + "x"), 400, "KMS.2201"
    )


def test_with_plain_text_must_be_a_json_bool(raw_api: RawApi, cmk: str) -> None:
    # The SDK's bool() would turn "false" into True: the server refuses a string instead of guessing
    reply = raw_api.post(
        "create-rsa-datakey-pair", {"key_id": cmk, "key_spec": "RSA_2048", "with_plain_text": "false"}
    )
    assert (reply.status, reply.error_code()) == (400, "KMS.0308")


# -- secrets stay out of the logs -------------------------------------------------------------


def test_no_private_key_reaches_the_server_logs(client: KmsClient, cmk: str, skms_server: SkmsServer) -> None:
    # Given pairs of each family, returned in clear and opened again through decrypt_data
    received: list[str] = []
    for key_spec in ("RSA_2048", "ECC_NIST_P521", "SM2"):
        reply = create_pair(client, cmk, key_spec, additional_authenticated_data=AAD)
        opened = decrypt_private_key(client, reply.private_key_cipher_text, additional_authenticated_data=AAD)
        assert opened.plain_text_base64 == reply.private_key_plain_text
        received.append(reply.private_key_plain_text)
    # Then neither the Base64 nor the hex of any private key, nor of its secret values, is in the logs
    logs = skms_server.logs()
    assert "create-rsa-datakey-pair" in logs  # positive control: the requests were logged
    for text in received:
        der = base64.b64decode(text)
        for needle in (text, text[-48:], der.hex(), der.hex().upper(), *map(bytes.hex, _secret_values(der))):
            assert needle not in logs
            assert needle.upper() not in logs


def _secret_values(der: bytes) -> list[bytes]:
    """The private scalar (EC, SM2) or the private exponent and primes (RSA) of a PKCS#8 key."""
    if der.startswith(keypairs.SM2_PKCS8_PREFIX):
        return [keypairs.sm2_from_pkcs8(der)[0]]
    key = serialization.load_der_private_key(der, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        return [_int_bytes(value) for value in (numbers.d, numbers.p, numbers.q)]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return [_int_bytes(key.private_numbers().private_value)]


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
