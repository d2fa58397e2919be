"""Signatures under an asymmetric CMK: RSASSA-PSS, RSASSA-PKCS1-v1_5, ECDSA, SM2 and Ed25519
(spec §5 ops 22-23).

The private key is always the CMK material (:mod:`skms.crypto.material`): PKCS#8 DER for RSA, EC,
SECP256K1 and Ed25519, private(32) || public(64) for SM2. Verification takes the PEM
SubjectPublicKeyInfo that get-publickey hands out, so what verifies here is exactly what an outside
verifier with that PEM accepts.

Algorithms per key spec (:data:`SUPPORTED`), as in AWS KMS and Huawei KMS:

- RSA_2048/3072/4096: RSASSA_PSS_SHA_256/384/512 and RSASSA_PKCS1_V1_5_SHA_256/384/512.
- EC_P256: ECDSA_SHA_256 only; EC_P384: ECDSA_SHA_384 only. Each curve is paired with the hash of its
  own strength (FIPS 186-5 / SP 800-57); no key spec here takes ECDSA_SHA_512 (that is P-521's in AWS).
- SECP256K1: ECDSA_SHA_256 only. The spec lists ECDSA_SHA_256/384/512 without saying which curve takes
  which; we stay conservative and pair the 256-bit curve with SHA-256, as for EC_P256 and as AWS KMS does
  for ECC_SECG_P256K1 (a longer hash is truncated to 256 bits by ECDSA anyway, so it adds no strength).
- SM2: SM2DSA_SM3.
- ED25519: ED25519_SHA_512 and ED25519_PH_SHA_512.

  ED25519_SHA_512 is pure Ed25519 (RFC 8032 §5.1; SHA-512 is internal to it) over the RAW message.
  Pure Ed25519 hashes the message twice, together with the key, so it cannot sign a digest: a DIGEST
  message is refused (:class:`MessageTypeError`, KMS.0308) rather than given a meaning no outside
  verifier would share.

  ED25519_PH_SHA_512 is Ed25519ph (RFC 8032 §5.1 HashEdDSA: the ``dom2(1, "")`` prefix, empty
  context, PH = SHA-512), which signs the prehash ``SHA-512(M)``: with DIGEST the caller passes that
  64-byte digest, with RAW it is computed here. Either way the signature is the same and is an
  ordinary RFC 8032 Ed25519ph signature over M. ``cryptography`` has no Ed25519ph, so it goes
  through pycryptodome (:mod:`skms.crypto.ed25519ph`), imported on first use only.

Message types:

- ``RAW``: the message itself; it is hashed here with the algorithm's hash.
- ``DIGEST``: the caller already hashed it. Its length must be the hash's output size, else
  :class:`DigestLengthError` (KMS.0329); RSA and ECDSA then sign it through cryptography's ``Prehashed``,
  Ed25519ph takes it as PH(M). Not for ED25519_SHA_512 (see above).

Conventions, all chosen to match AWS KMS so that stock verifiers work unchanged:

- RSASSA-PSS uses MGF1 with the same hash and a salt as long as the digest (32/48/64 bytes); verify
  demands exactly that salt length.
- ECDSA and SM2 signatures are DER ``SEQUENCE { r INTEGER, s INTEGER }``; Ed25519 signatures are the
  64 bytes ``R || S`` of RFC 8032.
- SM2 signs ``e = SM3(Z_A || M)`` where ``Z_A`` binds the default distinguishing id
  ``1234567812345678`` and the public key (GB/T 32918.2, GB/T 35276). With ``RAW`` the message is M.
  With ``DIGEST`` the caller passes ``e`` itself (32 bytes) and GmSSL's ``sm2_sign_sm3_digest`` signs it
  unchanged: the caller must have computed ``Z_A`` over *this* key's public point (see
  :func:`sm2_digest`). Either way the signature verifies as an ordinary SM2/SM3 signature over M
  (``openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678``).

:func:`verify` answers False, never raises, for any signature that is malformed (bad DER, wrong size,
garbage); it raises only for a wrong request (unsupported algorithm, bad digest length) or a public key
that does not fit the key spec.
"""

from __future__ import annotations

import base64
import binascii
import enum
from typing import cast

import gmssl_pyx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from skms.crypto import sm2
from skms.crypto.keyspec import KeySpec


class SigningAlgorithm(enum.StrEnum):
    """Signing algorithms, by their wire names (spec §5 op 22)."""

    RSASSA_PSS_SHA_256 = "RSASSA_PSS_SHA_256"
    RSASSA_PSS_SHA_384 = "RSASSA_PSS_SHA_384"
    RSASSA_PSS_SHA_512 = "RSASSA_PSS_SHA_512"
    RSASSA_PKCS1_V1_5_SHA_256 = "RSASSA_PKCS1_V1_5_SHA_256"
    RSASSA_PKCS1_V1_5_SHA_384 = "RSASSA_PKCS1_V1_5_SHA_384"
    RSASSA_PKCS1_V1_5_SHA_512 = "RSASSA_PKCS1_V1_5_SHA_512"
    ECDSA_SHA_256 = "ECDSA_SHA_256"
    ECDSA_SHA_384 = "ECDSA_SHA_384"
    ECDSA_SHA_512 = "ECDSA_SHA_512"
    SM2DSA_SM3 = "SM2DSA_SM3"
    ED25519_SHA_512 = "ED25519_SHA_512"
    ED25519_PH_SHA_512 = "ED25519_PH_SHA_512"

    @property
    def is_pss(self) -> bool:
        return self.name.startswith("RSASSA_PSS_")

    @property
    def is_rsa(self) -> bool:
        return self.name.startswith("RSASSA_")

    @property
    def is_ecdsa(self) -> bool:
        return self.name.startswith("ECDSA_")

    @property
    def signs_raw_only(self) -> bool:
        """Pure Ed25519 signs the message itself: there is no digest it could be given."""
        return self is SigningAlgorithm.ED25519_SHA_512

    @property
    def digest_size(self) -> int:
        """Bytes of the algorithm's hash output: what a ``DIGEST`` message must be."""
        return _hash(self).digest_size


class MessageType(enum.StrEnum):
    RAW = "RAW"
    DIGEST = "DIGEST"


_RSA = frozenset(a for a in SigningAlgorithm if a.is_rsa)
SUPPORTED: dict[KeySpec, frozenset[SigningAlgorithm]] = {
    KeySpec.AES_256: frozenset(),
    KeySpec.SM4: frozenset(),
    KeySpec.RSA_2048: _RSA,
    KeySpec.RSA_3072: _RSA,
    KeySpec.RSA_4096: _RSA,
    KeySpec.EC_P256: frozenset({SigningAlgorithm.ECDSA_SHA_256}),
    KeySpec.EC_P384: frozenset({SigningAlgorithm.ECDSA_SHA_384}),
    KeySpec.SECP256K1: frozenset({SigningAlgorithm.ECDSA_SHA_256}),
    KeySpec.SM2: frozenset({SigningAlgorithm.SM2DSA_SM3}),
    KeySpec.ED25519: frozenset({SigningAlgorithm.ED25519_SHA_512, SigningAlgorithm.ED25519_PH_SHA_512}),
}

_CURVES: dict[KeySpec, type[ec.EllipticCurve]] = {
    KeySpec.EC_P256: ec.SECP256R1,
    KeySpec.EC_P384: ec.SECP384R1,
    KeySpec.SECP256K1: ec.SECP256K1,
}
ED25519_SIGNATURE_LEN = 64  # R || S, RFC 8032 §5.1.6
_RSA_BITS = {KeySpec.RSA_2048: 2048, KeySpec.RSA_3072: 3072, KeySpec.RSA_4096: 4096}

# SM2 curve parameters a, b and the base point G = xG || yG (GB/T 32918.5), for Z_A.
_SM2_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_SM2_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_SM2_G = bytes.fromhex(
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


class SigningError(ValueError):
    """A signing request this module refuses (not a bad signature: :func:`verify` says False then)."""


class UnsupportedAlgorithmError(SigningError):
    """The key spec does not take this signing algorithm (KMS.0332)."""


class DigestLengthError(SigningError):
    """A ``DIGEST`` message whose length is not the algorithm's hash size (KMS.0329)."""


class MessageTypeError(SigningError):
    """A ``message_type`` the algorithm cannot take: unknown, or DIGEST for pure Ed25519 (KMS.0308)."""


def supported_algorithms(spec: KeySpec) -> frozenset[SigningAlgorithm]:
    return SUPPORTED.get(spec, frozenset())


def check_request(
    spec: KeySpec, algorithm: SigningAlgorithm, message: bytes, message_type: str
) -> MessageType:
    """Validate what :func:`sign` and :func:`verify` will be asked before any key is touched."""
    if algorithm not in supported_algorithms(spec):
        raise UnsupportedAlgorithmError(f"{spec.value} keys do not support {algorithm.value}.")
    try:
        kind = MessageType(message_type)
    except ValueError:
        raise MessageTypeError("message_type must be RAW or DIGEST.") from None
    if kind is MessageType.DIGEST and algorithm.signs_raw_only:
        raise MessageTypeError(
            f"{algorithm.value} is pure Ed25519 and signs the message itself: use message_type RAW."
        )
    if kind is MessageType.DIGEST and len(message) != algorithm.digest_size:
        raise DigestLengthError(
            f"A {algorithm.value} digest is {algorithm.digest_size} bytes, not {len(message)}."
        )
    return kind


def sign(
    spec: KeySpec, material: bytes, algorithm: SigningAlgorithm, message: bytes, message_type: str
) -> bytes:
    """Sign ``message`` (RAW) or a digest of it (DIGEST) with the private half of ``material``."""
    kind = check_request(spec, algorithm, message, message_type)
    if spec is KeySpec.SM2:
        if kind is MessageType.RAW:
            return sm2.sign(material, message)
        private, _ = sm2.split(material)
        return cast(bytes, gmssl_pyx.sm2_sign_sm3_digest(private, message))
    if spec.is_rsa:
        rsa_key = _rsa_private(spec, material)
        return rsa_key.sign(message, _rsa_padding(algorithm), _prehashed_or_not(algorithm, kind))
    if spec is KeySpec.ED25519:
        ed_key = _ed25519_private(material)
        if algorithm is SigningAlgorithm.ED25519_PH_SHA_512:
            from skms.crypto import ed25519ph  # pycryptodome: only on this path (cold starts)

            seed = ed_key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            return ed25519ph.sign(seed, _sha512_prehash(message, kind))
        return ed_key.sign(message)
    ec_key = _ec_private(spec, material)
    return ec_key.sign(message, ec.ECDSA(_prehashed_or_not(algorithm, kind)))


def verify(  # noqa: PLR0917 - mirrors sign() plus the signature
    spec: KeySpec,
    public_key_pem: str,
    algorithm: SigningAlgorithm,
    message: bytes,
    message_type: str,
    signature: bytes,
) -> bool:
    """Whether ``signature`` is valid for ``message`` under the PEM public key. Malformed -> False."""
    kind = check_request(spec, algorithm, message, message_type)
    if spec is KeySpec.SM2:
        public = sm2.public_key_from_der(_pem_to_der(public_key_pem))
        if kind is MessageType.RAW:
            return sm2.verify(public, message, signature)
        try:
            return bool(gmssl_pyx.sm2_verify_sm3_digest(public, message, signature))
        except (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError, ValueError, TypeError):
            return False
    loaded = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    if spec.is_rsa:
        if not isinstance(loaded, rsa.RSAPublicKey) or loaded.key_size != _RSA_BITS[spec]:
            raise ValueError(f"not an {spec.value} public key")
        if len(signature) != loaded.key_size // 8:
            # Only the canonical, modulus-length encoding: OpenSSL would also take a signature
            # whose leading zero bytes were dropped, making signatures malleable.
            return False
        try:
            loaded.verify(signature, message, _rsa_padding(algorithm), _prehashed_or_not(algorithm, kind))
        except (InvalidSignature, ValueError):  # the request was checked: only the signature is left
            return False
        return True
    if spec is KeySpec.ED25519:
        if not isinstance(loaded, ed25519.Ed25519PublicKey):
            raise ValueError(f"not an {spec.value} public key")
        if len(signature) != ED25519_SIGNATURE_LEN:
            return False
        if algorithm is SigningAlgorithm.ED25519_PH_SHA_512:
            from skms.crypto import ed25519ph  # pycryptodome: only on this path (cold starts)

            public = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return ed25519ph.verify(public, _sha512_prehash(message, kind), signature)
        try:
            loaded.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(loaded.curve, _CURVES[spec]):
        raise ValueError(f"not an {spec.value} public key")
    try:
        loaded.verify(signature, message, ec.ECDSA(_prehashed_or_not(algorithm, kind)))
    except (InvalidSignature, ValueError):
        return False
    return True


def sm2_digest(public: bytes, message: bytes, signer_id: bytes = sm2.DEFAULT_ID) -> bytes:
    """``e = SM3(Z_A || M)``: what a caller passes as an SM2DSA_SM3 ``DIGEST`` for this key's point.

    ``Z_A = SM3(ENTL_A || ID_A || a || b || xG || yG || xA || yA)`` with ENTL_A the id's bit length
    as two big-endian bytes (GB/T 32918.2 §5.5).
    """
    if len(public) != sm2.PUBLIC_LEN:
        raise ValueError("SM2 public key must be 64 bytes")
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    z = _sm3(entl + signer_id + _SM2_A + _SM2_B + _SM2_G + public)
    return _sm3(z + message)


# --- internals


def _hash(algorithm: SigningAlgorithm) -> hashes.HashAlgorithm:
    suffix = algorithm.value.rsplit("_", 1)[-1]
    if suffix == "SM3":
        return hashes.SM3()
    return {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[suffix]


def _prehashed_or_not(algorithm: SigningAlgorithm, kind: MessageType) -> hashes.HashAlgorithm | Prehashed:
    digest = _hash(algorithm)
    return Prehashed(digest) if kind is MessageType.DIGEST else digest


def _sha512_prehash(message: bytes, kind: MessageType) -> bytes:
    """Ed25519ph's PH(M): the caller's digest (DIGEST, length already checked) or SHA-512 of RAW."""
    if kind is MessageType.DIGEST:
        return message
    h = hashes.Hash(hashes.SHA512())
    h.update(message)
    return h.finalize()


def _rsa_padding(algorithm: SigningAlgorithm) -> padding.AsymmetricPadding:
    if algorithm.is_pss:
        digest = _hash(algorithm)
        # Salt as long as the digest: the AWS KMS convention, and what PSS verifiers assume by default.
        return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    return padding.PKCS1v15()


def _rsa_private(spec: KeySpec, material: bytes) -> rsa.RSAPrivateKey:
    # As in skms.crypto.asymmetric: the material was generated here and reaches us only through the
    # root key's AEAD unwrap, so OpenSSL's slow RSA consistency check is skipped.
    private = serialization.load_der_private_key(material, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(private, rsa.RSAPrivateKey) or private.key_size != _RSA_BITS[spec]:
        raise ValueError(f"not {spec.value} key material")
    return private


def _ec_private(spec: KeySpec, material: bytes) -> ec.EllipticCurvePrivateKey:
    private = serialization.load_der_private_key(material, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, _CURVES[spec]):
        raise ValueError(f"not {spec.value} key material")
    return private


def _ed25519_private(material: bytes) -> ed25519.Ed25519PrivateKey:
    private = serialization.load_der_private_key(material, password=None)
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ValueError("not ED25519 key material")
    return private


def _pem_to_der(pem: str) -> bytes:
    """The DER inside a ``PUBLIC KEY`` PEM; LF or CRLF line breaks alike."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----" or lines[-1] != "-----END PUBLIC KEY-----":
        raise ValueError("not a PEM public key")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error:
        raise ValueError("not a PEM public key") from None


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()
