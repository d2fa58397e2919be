"""The ciphertext blob of data keys and encrypt-data (spec §F4 frame, our own sealed body).

Byte layout, all integers little-endian as in §F4::

    offset  len  field
    0       2    FRAME_MARKER   02 00
    2       2    L              bytes from offset 4 up to the trailer = len(body) + 36 + 4
    4       B    body           BODY_VERSION(1) SUITE(1) PURPOSE(1) nonce(12) ciphertext tag(16)
    4+B     36   key_id         the CMK id, ASCII
    40+B    4    key_version    the CMK material version that sealed the body
    44+B    32   trailer        SHA-256 of bytes [0, 44+B): a checksum, not the authenticator

The AEAD's associated data is every cleartext field the blob carries (frame header, body header,
key id, key version) followed by the canonical *binding*: project id,
encryption context and additional_authenticated_data (see :func:`binding`). So the key id,
version, purpose and project are all authenticated under the CMK, and a blob moved to another
key, version, project or context fails to open.

Parsing checks every bound before slicing; every failure is the opaque :class:`CryptoError`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from skms.crypto import aead
from skms.crypto.encoding import encode_context, length_prefixed
from skms.crypto.errors import CryptoError

FRAME_MARKER = b"\x02\x00"
HEADER_LEN = 4
KEY_ID_LEN = 36
KEY_VERSION_LEN = 4
TRAILER_LEN = 32
FRAME_OVERHEAD = HEADER_LEN + KEY_ID_LEN + KEY_VERSION_LEN + TRAILER_LEN  # 76, as in §F4

BODY_VERSION = 1
BODY_HEADER_LEN = 3  # BODY_VERSION, SUITE, PURPOSE
BODY_OVERHEAD = BODY_HEADER_LEN + aead.OVERHEAD
MAX_L = 0xFFFF
MAX_PLAINTEXT = MAX_L - KEY_ID_LEN - KEY_VERSION_LEN - BODY_OVERHEAD

BINDING_LABEL = b"skms/blob/v1"

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class Purpose(enum.IntEnum):
    """What the plaintext is. Bound, so a data-key blob cannot be opened as encrypt-data."""

    DATA_KEY = 1
    DATA = 2


@dataclass(frozen=True, slots=True)
class BlobHeader:
    """What can be read from a blob without any key: enough to find the CMK."""

    key_id: str
    key_version: int
    suite: aead.Suite
    purpose: Purpose


def binding(project_id: str, context: Mapping[str, str] | None, aad: bytes | None) -> bytes:
    """Canonical bytes of what a blob is bound to besides its own header.

    An absent context equals ``{}`` and absent AAD equals ``b""``.
    """
    return length_prefixed(
        BINDING_LABEL, project_id.encode("utf-8"), encode_context(context or {}), aad or b""
    )


def seal(
    *,
    suite: aead.Suite,
    key: bytes,
    key_id: str,
    key_version: int,
    purpose: Purpose,
    plaintext: bytes,
    bound: bytes,
) -> bytes:
    """Build a blob under a fresh random nonce. ``bound`` comes from :func:`binding`."""
    return _seal_with_nonce(
        suite=suite,
        key=key,
        key_id=key_id,
        key_version=key_version,
        purpose=purpose,
        plaintext=plaintext,
        bound=bound,
        nonce=os.urandom(aead.NONCE_LEN),
    )


def _seal_with_nonce(
    *,
    suite: aead.Suite,
    key: bytes,
    key_id: str,
    key_version: int,
    purpose: Purpose,
    plaintext: bytes,
    bound: bytes,
    nonce: bytes,
) -> bytes:
    """:func:`seal` with a chosen nonce, for the known-answer vectors only."""
    key_id_bytes = key_id.encode("ascii")
    if len(key_id_bytes) != KEY_ID_LEN:
        raise ValueError("key_id must be 36 ASCII characters")
    if not 0 <= key_version <= 0xFFFFFFFF:
        raise ValueError("key_version out of range")
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError("plaintext too long for a blob")
    body_len = BODY_OVERHEAD + len(plaintext)
    header = FRAME_MARKER + _U16.pack(body_len + KEY_ID_LEN + KEY_VERSION_LEN)
    body_header = bytes((BODY_VERSION, suite, purpose))
    tail = key_id_bytes + _U32.pack(key_version)
    sealed = aead._seal_with_nonce(suite, key, plaintext, header + body_header + tail + bound, nonce)
    framed = header + body_header + sealed + tail
    return framed + hashlib.sha256(framed).digest()


def _split(blob: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(header, body, tail, trailer) after checking frame, lengths and checksum."""
    if len(blob) < FRAME_OVERHEAD + BODY_OVERHEAD or blob[:2] != FRAME_MARKER:
        raise CryptoError
    (length,) = _U16.unpack_from(blob, 2)
    if HEADER_LEN + length + TRAILER_LEN != len(blob):
        raise CryptoError
    framed, trailer = blob[:-TRAILER_LEN], blob[-TRAILER_LEN:]
    if not hmac.compare_digest(hashlib.sha256(framed).digest(), trailer):
        raise CryptoError
    tail_at = len(framed) - KEY_ID_LEN - KEY_VERSION_LEN
    return framed[:HEADER_LEN], framed[HEADER_LEN:tail_at], framed[tail_at:], trailer


def read_header(blob: bytes) -> BlobHeader:
    """Parse and check the frame; does not decrypt. Raises :class:`CryptoError`."""
    _, body, tail, _ = _split(blob)
    if body[0] != BODY_VERSION:
        raise CryptoError
    try:
        suite, purpose = aead.Suite(body[1]), Purpose(body[2])
        key_id = tail[:KEY_ID_LEN].decode("ascii")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CryptoError from exc
    (key_version,) = _U32.unpack_from(tail, KEY_ID_LEN)
    return BlobHeader(key_id=key_id, key_version=key_version, suite=suite, purpose=purpose)


def open_blob(blob: bytes, *, key: bytes, expected: BlobHeader, bound: bytes) -> bytes:
    """Decrypt a blob whose header the caller has read and checked against the CMK."""
    header, body, tail, _ = _split(blob)
    if read_header(blob) != expected:
        raise CryptoError
    return aead.open_sealed(
        expected.suite, key, body[BODY_HEADER_LEN:], header + body[:BODY_HEADER_LEN] + tail + bound
    )
