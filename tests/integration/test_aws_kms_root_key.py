"""AwsKmsRootKey, the production root of trust, against AWS KMS under moto.

Wrapped layout: ``PROVIDER_AWS_KMS(1) || CiphertextBlob``, with the material context passed as the
KMS encryption context, so a blob only unwraps under the project, key id and version it was made for.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from skms.crypto.errors import CryptoError
from skms.crypto.root_key import PROVIDER_AWS_KMS, PROVIDER_LOCAL, LocalRootKey, material_context
from skms.root_keys.aws_kms import AwsKmsRootKey, RootKeyUnavailable

PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
CONTEXT = material_context(PROJECT_ID, KEY_ID, 0)


@pytest.fixture
def root_key_arn(aws_account: Any) -> str:
    arn: str = aws_account.root_key_arn
    return arn


@pytest.fixture
def root_key(root_key_arn: str) -> AwsKmsRootKey:
    return AwsKmsRootKey(root_key_arn)  # its client is created lazily, inside the mock


@pytest.fixture
def material() -> bytes:
    return os.urandom(32)


def test_wrap_unwrap_round_trip(root_key: AwsKmsRootKey, material: bytes) -> None:
    # Given material wrapped under a context
    wrapped = root_key.wrap(material, CONTEXT)

    # Then the blob is the AWS KMS provider's, and does not contain the material
    assert wrapped[0] == PROVIDER_AWS_KMS
    assert material not in wrapped
    # And it unwraps to the material under the same context
    assert root_key.unwrap(wrapped, CONTEXT) == material
    assert root_key.unwrap(wrapped, dict(reversed(CONTEXT.items()))) == material


def test_wrap_is_randomised(root_key: AwsKmsRootKey, material: bytes) -> None:
    # When the same material is wrapped twice; Then the blobs differ, and both unwrap
    first, second = root_key.wrap(material, CONTEXT), root_key.wrap(material, CONTEXT)
    assert first != second
    assert root_key.unwrap(first, CONTEXT) == root_key.unwrap(second, CONTEXT) == material


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(material_context("f0e1d2c3b4a5968778695a4b3c2d1e0f", KEY_ID, 0), id="other-project"),
        pytest.param(material_context(PROJECT_ID, "1d0466b0-e727-4d9c-b35d-f84bb474a37f", 0), id="other-key"),
        pytest.param(material_context(PROJECT_ID, KEY_ID, 1), id="other-version"),
        pytest.param({**CONTEXT, "purpose": "data-key"}, id="other-purpose"),
        pytest.param({**CONTEXT, "extra": "pair"}, id="extra-pair"),
        pytest.param({k: v for k, v in CONTEXT.items() if k != "key_version"}, id="missing-pair"),
        pytest.param({}, id="no-context"),
    ],
)
def test_unwrap_under_another_context_fails(
    root_key: AwsKmsRootKey, material: bytes, other: dict[str, str]
) -> None:
    # Given material wrapped for one project, key and version
    wrapped = root_key.wrap(material, CONTEXT)

    # When it is unwrapped under any other context; Then CryptoError
    with pytest.raises(CryptoError):
        root_key.unwrap(wrapped, other)


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(1 + 36, id="iv"),
        pytest.param(1 + 36 + 12, id="tag"),
        pytest.param(-1, id="last-byte"),
        pytest.param(-16, id="ciphertext"),
    ],
)
def test_tampered_blob_fails(root_key: AwsKmsRootKey, material: bytes, index: int) -> None:
    # Given a wrapped blob with one bit flipped past the provider byte and moto's key-id header
    tampered = bytearray(root_key.wrap(material, CONTEXT))
    tampered[index] ^= 0x01

    # When it is unwrapped; Then CryptoError (not the material, not RootKeyUnavailable)
    with pytest.raises(CryptoError):
        root_key.unwrap(bytes(tampered), CONTEXT)


def test_truncated_blob_fails(root_key: AwsKmsRootKey, material: bytes) -> None:
    wrapped = root_key.wrap(material, CONTEXT)
    for cut in (len(wrapped) - 1, 1 + 36 + 12 + 16, 20):
        with pytest.raises(CryptoError):
            root_key.unwrap(wrapped[:cut], CONTEXT)


@pytest.mark.parametrize("provider", [PROVIDER_LOCAL, 0x00, 0x03, 0xFF])
def test_wrong_provider_byte_fails(root_key: AwsKmsRootKey, material: bytes, provider: int) -> None:
    # Given a valid blob whose provider byte names another provider
    wrapped = root_key.wrap(material, CONTEXT)
    relabelled = bytes((provider,)) + wrapped[1:]

    # When it is unwrapped; Then CryptoError
    with pytest.raises(CryptoError):
        root_key.unwrap(relabelled, CONTEXT)


def test_empty_blob_and_local_blob_fail(root_key: AwsKmsRootKey, material: bytes) -> None:
    # Given nothing, and a blob of the local root key
    local_blob = LocalRootKey(os.urandom(32)).wrap(material, CONTEXT)

    # When either is unwrapped by the AWS KMS provider; Then CryptoError
    for blob in (b"", local_blob):
        with pytest.raises(CryptoError):
            root_key.unwrap(blob, CONTEXT)


def test_the_kms_ciphertext_is_bound_to_the_encryption_context(
    root_key: AwsKmsRootKey, root_key_arn: str, material: bytes
) -> None:
    # Given material wrapped by the provider
    ciphertext_blob = root_key.wrap(material, CONTEXT)[1:]
    kms = boto3.client("kms")

    # When AWS KMS is asked directly to decrypt the CiphertextBlob without a context; Then it refuses
    with pytest.raises(ClientError) as refused:
        kms.decrypt(CiphertextBlob=ciphertext_blob, KeyId=root_key_arn)
    assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException"
    # But with the material context as encryption context, Then it gives the material back
    reply = kms.decrypt(CiphertextBlob=ciphertext_blob, KeyId=root_key_arn, EncryptionContext=CONTEXT)
    assert reply["Plaintext"] == material


def test_the_calls_carry_the_key_and_the_context(root_key_arn: str, material: bytes) -> None:
    # Given a provider whose KMS client records the parameters of every call
    client = boto3.client("kms")
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.kms.*", record)
    root_key = AwsKmsRootKey(root_key_arn, client=client)

    # When it wraps and unwraps
    wrapped = root_key.wrap(material, CONTEXT)
    root_key.unwrap(wrapped, CONTEXT)

    # Then Encrypt and Decrypt were called on the root key with the material context
    assert [name for name, _ in calls] == ["Encrypt", "Decrypt"]
    for _, params in calls:
        assert params["KeyId"] == root_key_arn
        assert params["EncryptionContext"] == CONTEXT
    assert calls[1][1]["CiphertextBlob"] == wrapped[1:]


def test_a_missing_root_key_is_unavailable_not_a_bad_blob(root_key_arn: str, material: bytes) -> None:
    # Given a provider configured with a root key that does not exist
    missing = AwsKmsRootKey(root_key_arn.rsplit("/", 1)[0] + "/1d0466b0-e727-4d9c-b35d-f84bb474a37f")

    # When it wraps; Then RootKeyUnavailable (AWS KMS refused the call), not a CryptoError
    with pytest.raises(RootKeyUnavailable) as unavailable:
        missing.wrap(material, CONTEXT)
    assert not isinstance(unavailable.value, CryptoError)


class _RefusingKms:
    """A KMS client whose Decrypt fails with a given error code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def decrypt(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, "Decrypt")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("InvalidCiphertextException", CryptoError),
        ("IncorrectKeyException", CryptoError),
        ("InvalidKeyUsageException", CryptoError),
        ("ThrottlingException", RootKeyUnavailable),
        ("KMSInternalException", RootKeyUnavailable),
        ("DisabledException", RootKeyUnavailable),
        ("AccessDeniedException", RootKeyUnavailable),
    ],
)
def test_unwrap_tells_a_bad_blob_from_an_unavailable_root_key(code: str, expected: type[Exception]) -> None:
    # Given AWS KMS refusing Decrypt with an error code
    root_key = AwsKmsRootKey("arn:aws:kms:us-east-1:123456789012:key/x", client=_RefusingKms(code))

    # When a blob is unwrapped; Then only "this blob or context is wrong" codes are a CryptoError
    with pytest.raises(expected) as raised:
        root_key.unwrap(bytes((PROVIDER_AWS_KMS,)) + b"blob", CONTEXT)
    assert isinstance(raised.value, CryptoError) == (expected is CryptoError)


def test_repr_names_the_key_only(root_key_arn: str) -> None:
    assert repr(AwsKmsRootKey(root_key_arn)) == f"AwsKmsRootKey(key_id={root_key_arn!r})"
