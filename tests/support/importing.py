"""The client side of an import (access-control §6.2), written with ``cryptography`` alone (never
with skms code): wrap symmetric material, or a private key under a temporary AES key, for the
wrapping public key that get-parameters-for-import returned."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding


def _public_key(public_key_b64: str) -> rsa.RSAPublicKey:
    public = serialization.load_der_public_key(base64.b64decode(public_key_b64))
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def oaep_wrap(public_key_b64: str, plaintext: bytes, digest: hashes.HashAlgorithm | None = None) -> str:
    """RSAES-OAEP (SHA-256 unless told) of ``plaintext`` under the wrapping key, Base64."""
    algorithm = digest or hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=algorithm), algorithm=algorithm, label=None)
    return base64.b64encode(_public_key(public_key_b64).encrypt(plaintext, oaep)).decode("ascii")


def pkcs8_der(private: PrivateKeyTypes) -> bytes:
    return private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def wrap_private_key(
    public_key_b64: str, private_der: bytes, temporary_key: bytes | None = None
) -> tuple[str, str]:
    """(encrypted_key_material, encrypted_privatekey): a temporary AES-256 key by RSA-OAEP-SHA256,
    the PKCS#8 DER private key by AES key wrap with padding (RFC 5649) under it."""
    temporary = temporary_key if temporary_key is not None else os.urandom(32)
    wrapped = aes_key_wrap_with_padding(temporary, private_der)
    return oaep_wrap(public_key_b64, temporary), base64.b64encode(wrapped).decode("ascii")
