"""The AEAD suites used under a CMK and under the local root key.

A suite is picked by the CMK's key spec: AES_256 keys use AES-256-GCM, SM4 keys use SM4-GCM
(GB/T 36624; both through OpenSSL via ``cryptography``). Every sealed value is
``nonce(12) || ciphertext || tag(16)`` with a fresh random nonce.
"""

from __future__ import annotations

import enum
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skms.crypto.errors import CryptoError

NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = NONCE_LEN + TAG_LEN


class Suite(enum.IntEnum):
    """Identifier byte written into blobs: never renumber a member."""

    AES_256_GCM = 1
    SM4_GCM = 2

    @property
    def key_len(self) -> int:
        return 32 if self is Suite.AES_256_GCM else 16


def seal(suite: Suite, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate under a fresh random nonce."""
    return _seal_with_nonce(suite, key, plaintext, aad, os.urandom(NONCE_LEN))


def _seal_with_nonce(suite: Suite, key: bytes, plaintext: bytes, aad: bytes, nonce: bytes) -> bytes:
    """:func:`seal` with a chosen nonce, for known-answer tests only (as pyca's Fernet keeps
    ``_encrypt_from_parts`` private): a nonce used twice under one key breaks GCM."""
    if len(key) != suite.key_len:
        raise ValueError(f"{suite.name} needs a {suite.key_len}-byte key")
    if len(nonce) != NONCE_LEN:
        raise ValueError("nonce must be 12 bytes")
    return nonce + _encrypt(suite, key, plaintext, aad, nonce)


def _encrypt(suite: Suite, key: bytes, plaintext: bytes, aad: bytes, nonce: bytes) -> bytes:
    """``ciphertext || tag``, with no checks: for callers that have already checked the key and
    nonce lengths (:func:`_seal_with_nonce`, and the blob, which checks them once for its frame)."""
    if suite is Suite.AES_256_GCM:
        return AESGCM(key).encrypt(nonce, plaintext, aad)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return body + encryptor.tag


def open_sealed(suite: Suite, key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`seal`; any failure is the one opaque :class:`CryptoError`."""
    if len(key) != suite.key_len or len(sealed) < OVERHEAD:
        raise CryptoError
    nonce, body, tag = sealed[:NONCE_LEN], sealed[NONCE_LEN:-TAG_LEN], sealed[-TAG_LEN:]
    try:
        if suite is Suite.AES_256_GCM:
            return AESGCM(key).decrypt(nonce, body + tag, aad)
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(aad)
        return decryptor.update(body) + decryptor.finalize()
    except (InvalidTag, ValueError) as exc:
        raise CryptoError from exc
