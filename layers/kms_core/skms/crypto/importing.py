"""Import of key material (access-control §6): the wrapping key pair, the import token, and the
unwrapping and checking of what a caller imports.

Import token layout (Base64 on the wire; every integer big-endian)::

    VERSION(1) = 0x01 || ALGORITHM(1) || EXPIRES(8, epoch seconds) || KEY_ID_LEN(1) || KEY_ID (ASCII)
    || SEALED

``SEALED`` is the wrapping private key (PKCS#8 DER) wrapped by the root key under
:func:`token_context`: the purpose, the project, the key id, the algorithm and the expiry. The
key id and expiry are also in clear, so that a token of another key (KMS.2603) and an expired
one (KMS.2601) can be told apart before anything is unwrapped; changing either in clear makes the
unwrap fail (KMS.2605). The wrapping private key is never stored anywhere else.

Formats imported (§6.2):

- symmetric and HMAC keys: RSAES-OAEP (MGF1 with the same hash) over the raw material, under the
  wrapping public key;
- asymmetric keys: RSAES-OAEP over a temporary AES key (16 or 32 bytes), and the private key as
  PKCS#8 DER wrapped by AES key wrap with padding (RFC 5649) under that temporary key.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from skms.crypto.errors import CryptoError
from skms.crypto.keyspec import KeySpec
from skms.crypto.material import HMAC_LEN, SYMMETRIC_LEN
from skms.crypto.root_key import RootKeyProvider

TOKEN_VERSION = 0x01
_HEADER_LEN = 1 + 1 + 8 + 1  # version, algorithm, expires, key id length
WRAPPING_KEY_BITS = 2048
TOKEN_PURPOSE = "import-wrapping-key"  # noqa: S105 - a root-key context label, not a secret
TEMPORARY_KEY_LENGTHS = (16, 32)
WrappingPrivateKey = rsa.RSAPrivateKey


class WrappingAlgorithm(enum.Enum):
    """The RSAES-OAEP variants offered (§10 op 43; SHA_1 is the older API's). The value is the
    token's ALGORITHM byte."""

    RSAES_OAEP_SHA_256 = 1
    RSAES_OAEP_SHA_1 = 2

    def padding(self) -> padding.OAEP:
        digest: hashes.HashAlgorithm = (
            hashes.SHA256() if self is WrappingAlgorithm.RSAES_OAEP_SHA_256 else hashes.SHA1()  # noqa: S303
        )
        return padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)


class TokenMalformed(CryptoError):
    """Not a token of this layout (KMS.2605)."""


class TokenInvalid(CryptoError):
    """The sealed wrapping key did not unwrap under the token's context (KMS.2605)."""


class UnwrapFailed(CryptoError):
    """The RSA-OAEP ciphertext did not decrypt under the wrapping key."""


class TemporaryKeyLength(CryptoError):
    """The temporary AES key is neither 16 nor 32 bytes (KMS.2610)."""


class MaterialLength(CryptoError):
    """Symmetric or HMAC material of the wrong length for the key spec (KMS.2604)."""


class PrivateKeyRejected(CryptoError):
    """The wrapped private key did not unwrap, parse, or match the key spec (KMS.2609)."""


@dataclass(frozen=True, slots=True)
class ImportToken:
    algorithm: WrappingAlgorithm
    expires: int  # epoch seconds
    key_id: str
    sealed: bytes


def token_context(project_id: str, token: ImportToken) -> dict[str, str]:
    return {
        "purpose": TOKEN_PURPOSE,
        "project_id": project_id,
        "key_id": token.key_id,
        "wrapping_algorithm": token.algorithm.name,
        "expires": str(token.expires),
    }


def new_wrapping_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA-2048 key pair and its public key as DER SubjectPublicKeyInfo."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_BITS)
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public_der


def seal_token(
    root: RootKeyProvider,
    project_id: str,
    key_id: str,
    *,
    algorithm: WrappingAlgorithm,
    expires: int,
    private: rsa.RSAPrivateKey,
) -> str:
    """The Base64 import token carrying ``private`` sealed for this project, key and expiry."""
    key_id_bytes = key_id.encode("ascii")
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    unsealed = ImportToken(algorithm, expires, key_id, b"")
    sealed = root.wrap(der, token_context(project_id, unsealed))
    raw = (
        bytes((TOKEN_VERSION, algorithm.value))
        + expires.to_bytes(8, "big")
        + bytes((len(key_id_bytes),))
        + key_id_bytes
        + sealed
    )
    return base64.b64encode(raw).decode("ascii")


def parse_token(token: str) -> ImportToken:
    """The token's clear fields and sealed part; :class:`TokenMalformed` for anything else."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raise TokenMalformed from None
    if len(raw) < _HEADER_LEN or raw[0] != TOKEN_VERSION:
        raise TokenMalformed
    try:
        algorithm = WrappingAlgorithm(raw[1])
    except ValueError:
        raise TokenMalformed from None
    expires = int.from_bytes(raw[2:10], "big")
    key_id_len = raw[10]
    end = _HEADER_LEN + key_id_len
    if len(raw) <= end:
        raise TokenMalformed
    try:
        key_id = raw[_HEADER_LEN:end].decode("ascii")
    except UnicodeDecodeError:
        raise TokenMalformed from None
    return ImportToken(algorithm, expires, key_id, raw[end:])


def open_token(root: RootKeyProvider, project_id: str, token: ImportToken) -> rsa.RSAPrivateKey:
    """The wrapping private key sealed in ``token``; :class:`TokenInvalid` if it does not unwrap
    under the token's context (tampered, or of another project)."""
    try:
        der = root.unwrap(token.sealed, token_context(project_id, token))
        private = serialization.load_der_private_key(der, password=None)
    except (CryptoError, ValueError, TypeError):
        raise TokenInvalid from None
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TokenInvalid
    return private


def _oaep_decrypt(private: rsa.RSAPrivateKey, algorithm: WrappingAlgorithm, ciphertext: bytes) -> bytes:
    try:
        return private.decrypt(ciphertext, algorithm.padding())
    except ValueError:
        raise UnwrapFailed from None


def material_length(spec: KeySpec) -> int | None:
    """The raw material length of a symmetric or HMAC spec; None for asymmetric specs."""
    return SYMMETRIC_LEN.get(spec) or HMAC_LEN.get(spec)


def unwrap_symmetric(
    private: rsa.RSAPrivateKey, algorithm: WrappingAlgorithm, spec: KeySpec, encrypted: bytes
) -> bytes:
    """Raw symmetric or HMAC material of exactly the spec's length."""
    material = _oaep_decrypt(private, algorithm, encrypted)
    if len(material) != material_length(spec):
        raise MaterialLength
    return material


_RSA_BITS = {KeySpec.RSA_2048: 2048, KeySpec.RSA_3072: 3072, KeySpec.RSA_4096: 4096}
_EC_CURVES: Mapping[KeySpec, type[ec.EllipticCurve]] = {
    KeySpec.EC_P256: ec.SECP256R1,
    KeySpec.EC_P384: ec.SECP384R1,
    KeySpec.SECP256K1: ec.SECP256K1,
}
IMPORTABLE_ASYMMETRIC = frozenset({*_RSA_BITS, *_EC_CURVES, KeySpec.ED25519})


def private_key_material(spec: KeySpec, der: bytes) -> bytes:
    """``der`` parsed as a PKCS#8 private key of ``spec`` (RSA modulus size, EC curve, Ed25519),
    re-encoded as the PKCS#8 DER that generated keys of that spec hold (skms.crypto.material)."""
    try:
        private = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, InvalidKey):
        raise PrivateKeyRejected from None
    matches = (
        (spec in _RSA_BITS and isinstance(private, rsa.RSAPrivateKey) and private.key_size == _RSA_BITS[spec])
        or (
            spec in _EC_CURVES
            and isinstance(private, ec.EllipticCurvePrivateKey)
            and isinstance(private.curve, _EC_CURVES[spec])
        )
        or (spec is KeySpec.ED25519 and isinstance(private, ed25519.Ed25519PrivateKey))
    )
    if not matches:
        raise PrivateKeyRejected
    if isinstance(private, rsa.RSAPrivateKey) and private.public_key().public_numbers().e < 3:
        raise PrivateKeyRejected
    return private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def unwrap_asymmetric(
    private: rsa.RSAPrivateKey,
    algorithm: WrappingAlgorithm,
    spec: KeySpec,
    encrypted_temporary_key: bytes,
    wrapped_private_key: bytes,
) -> bytes:
    """The imported private key as PKCS#8 DER: the temporary key by RSA-OAEP, then the private
    key by AES key wrap with padding (RFC 5649) under it, parsed and checked against ``spec``."""
    temporary = _oaep_decrypt(private, algorithm, encrypted_temporary_key)
    if len(temporary) not in TEMPORARY_KEY_LENGTHS:
        raise TemporaryKeyLength
    try:
        der = aes_key_unwrap_with_padding(temporary, wrapped_private_key)
    except (InvalidUnwrap, ValueError):
        raise PrivateKeyRejected from None
    return private_key_material(spec, der)
