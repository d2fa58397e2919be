"""AWS KMS as the root of trust: Encrypt/Decrypt with the material context as encryption context.

Wrapped layout: ``PROVIDER_AWS_KMS(1) || CiphertextBlob``. AWS KMS binds the encryption context
to the ciphertext, so a blob copied onto another key, version or project fails to decrypt.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skms.crypto.errors import CryptoError
from skms.crypto.root_key import PROVIDER_AWS_KMS

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

# Errors that mean "this blob or context is wrong", as opposed to "KMS is unreachable".
_DECRYPT_REJECTIONS = frozenset(
    {"InvalidCiphertextException", "IncorrectKeyException", "InvalidKeyUsageException"}
)


class RootKeyUnavailable(Exception):
    """AWS KMS could not be reached or refused the call for a reason other than the blob."""


class AwsKmsRootKey:
    def __init__(self, key_id: str, endpoint_url: str | None = None, client: Any = None) -> None:
        self._key_id = key_id
        self._endpoint_url = endpoint_url
        self._client: KMSClient | None = client
        self._lock = threading.Lock()

    def _kms(self) -> KMSClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client("kms", endpoint_url=self._endpoint_url)
        return self._client

    def wrap(self, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reply = self._kms().encrypt(
                KeyId=self._key_id, Plaintext=plaintext, EncryptionContext=dict(context)
            )
        except (ClientError, BotoCoreError) as exc:
            raise RootKeyUnavailable(type(exc).__name__) from exc
        return bytes((PROVIDER_AWS_KMS,)) + reply["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        if not wrapped or wrapped[0] != PROVIDER_AWS_KMS:
            raise CryptoError
        try:
            reply = self._kms().decrypt(
                KeyId=self._key_id, CiphertextBlob=wrapped[1:], EncryptionContext=dict(context)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _DECRYPT_REJECTIONS:
                raise CryptoError from exc
            raise RootKeyUnavailable(exc.response.get("Error", {}).get("Code", "ClientError")) from exc
        except BotoCoreError as exc:
            raise RootKeyUnavailable(type(exc).__name__) from exc
        return reply["Plaintext"]

    def __repr__(self) -> str:
        return f"AwsKmsRootKey(key_id={self._key_id!r})"
