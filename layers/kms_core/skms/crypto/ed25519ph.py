"""Ed25519ph: RFC 8032 §5.1 HashEdDSA with PH = SHA-512 and an empty context (ED25519_PH_SHA_512).

``cryptography`` has pure Ed25519 only, so this goes through pycryptodome's maintained
``Crypto.Signature.eddsa``, which selects Ed25519ph when it is handed a ``Crypto.Hash.SHA512`` object
and signs ``dom2(1, "") || ... || PH(M)`` with that object's digest as ``PH(M)``.

This module is imported lazily by :mod:`skms.crypto.signing`, on the first Ed25519ph request only:
pycryptodome stays out of every other handler's cold start.

Keys cross the boundary as raw RFC 8032 bytes (the 32-byte seed, the 32-byte encoded point), so all
parsing of PKCS#8 and PEM stays in :mod:`skms.crypto.signing`. The input is always the 64-byte
prehash ``SHA-512(M)``: for a RAW message the caller hashes it first, for a DIGEST it is the digest.
"""

from __future__ import annotations

from Crypto.Hash import SHA512
from Crypto.Signature import eddsa

SEED_LEN = 32  # RFC 8032 §5.1.5: the private key
PUBLIC_LEN = 32  # RFC 8032 §5.1.2: the encoded point A
PREHASH_LEN = 64  # PH(M) = SHA-512(M)
SIGNATURE_LEN = 64  # R (32) || S (32, little-endian), RFC 8032 §5.1.6
# The order L of the base point (RFC 8032 §5.1); S must be below it (§5.1.7 step 1).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


class _GivenPrehash(SHA512.SHA512Hash):
    """A SHA-512 hash object whose digest is a prehash computed elsewhere.

    pycryptodome recognises HashEdDSA by this type and reads only ``digest()``; a DIGEST request
    gives us ``SHA-512(M)`` without ``M``, so there is no data to feed a real hash object.
    """

    def __init__(self, prehash: bytes) -> None:
        super().__init__(None, None)
        self._prehash = prehash

    def digest(self) -> bytes:
        return self._prehash


def sign(seed: bytes, prehash: bytes) -> bytes:
    """The Ed25519ph signature ``R || S`` of the message whose SHA-512 is ``prehash``."""
    if len(seed) != SEED_LEN:
        raise ValueError("Ed25519 private key must be 32 bytes")
    _check_prehash(prehash)
    signer = eddsa.new(eddsa.import_private_key(seed), "rfc8032")
    return bytes(signer.sign(_GivenPrehash(prehash)))


def verify(public: bytes, prehash: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the Ed25519ph signature of ``prehash`` under ``public``.

    Malformed signatures (wrong size, R not a point, S not below L) are False, never an exception.
    """
    if len(public) != PUBLIC_LEN:
        raise ValueError("Ed25519 public key must be 32 bytes")
    _check_prehash(prehash)
    if len(signature) != SIGNATURE_LEN:
        return False
    # pycryptodome lets S == L through; RFC 8032 §5.1.7 wants S < L (else S and S + L both verify).
    if int.from_bytes(signature[32:], "little") >= GROUP_ORDER:
        return False
    verifier = eddsa.new(eddsa.import_public_key(public), "rfc8032")
    try:
        verifier.verify(_GivenPrehash(prehash), signature)
    except ValueError:
        return False
    return True


def _check_prehash(prehash: bytes) -> None:
    if len(prehash) != PREHASH_LEN:
        raise ValueError("an Ed25519ph prehash is the 64-byte SHA-512 of the message")
