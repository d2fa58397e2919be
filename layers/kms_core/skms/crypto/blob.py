"""The ciphertext blob of data keys and encrypt-data (spec §F4 frame, our own sealed body).

Frame, all integers little-endian as in §F4::

    offset  len  field
    0       2    FRAME_MARKER   02 00
    2       2    L              bytes from offset 4 up to the trailer = B + 36 + 4
    4       B    body           one of the body versions below
    4+B     36   key_id         the CMK id, ASCII
    40+B    4    key_version    the CMK material version that sealed the body
    44+B    32   trailer        SHA-256 of bytes [0, 44+B): a checksum, not the authenticator

Body version 2 (:data:`BODY_V2`), the only one :func:`seal` writes; B = 63 + n::

    offset  len  field
    0       1    BODY_VERSION   02
    1       1    SUITE          aead.Suite
    2       1    PURPOSE        Purpose
    3       32   salt           random per message (SALT_LEN): input of the message key
    35      12   nonce          random (aead.NONCE_LEN)
    47      n    ciphertext     under the message key
    47+n    16   tag

Body version 1 (:data:`BODY_V1`), still opened, never written; B = 31 + n::

    offset  len  field
    0       1    BODY_VERSION   01
    1       1    SUITE          aead.Suite
    2       1    PURPOSE        Purpose
    3       12   nonce          random
    15      n    ciphertext     under the CMK version's material itself
    15+n    16   tag

**Per-message keys (v2).** Each v2 body is sealed under its own key, RFC 5869 HKDF with
``IKM = the CMK version's material``, ``salt = the body's salt``, ``L = the suite's key length`` and
``info = MESSAGE_KEY_LABEL || body[0:3] || key_id || key_version`` (the fixed-length cleartext
fields exactly as the blob carries them, after a fixed label, so the encoding is unambiguous). The
hash is SHA-256 for AES-256-GCM and SM3 for SM4-GCM (see :data:`KDF_HASHES`). A CMK version then
never sees the random-nonce GCM limit (NIST SP 800-38D §8.3: 2^32 messages per key): that bound
applies to each message key, which seals one message. A GCM key and nonce repeat only if both the
256-bit salt and the 96-bit nonce repeat. New blobs use the material only as an HKDF key; as a GCM
key it only ever opens stored v1 blobs.

Size: v2 adds the 32-byte salt, so encrypt-data's largest blob (4096-byte plaintext) is 4235 bytes,
exactly the 5648 Base64 characters decrypt-data accepts (§4 op 15): the body has room for one more
byte of overhead, not two.

What goes where: the key id, version, suite and purpose are in the HKDF info *and* in the AAD. In
the info they separate keys: a message key belongs to one (CMK, version, suite, purpose), even if
the same material were imported into two keys or versions. In the AAD they keep the authenticity
argument of v1 unchanged. The caller's binding (project, encryption context, AAD) is variable-length
and only authenticated, in the AAD, where GCM takes any length. The salt and nonce are not in the
AAD: like the nonce, a changed salt gives another key, and the tag fails.

The AEAD's associated data, in both versions, is the frame header, the body header (version, suite,
purpose), the key id and the key version, followed by the canonical *binding*: project id,
encryption context and additional_authenticated_data (see :func:`binding`). So a blob moved to
another key, version, project or context fails to open.

Parsing checks every bound before slicing; every failure is the opaque :class:`CryptoError`.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from skms.crypto import aead
from skms.crypto.encoding import encode_context, length_prefixed
from skms.crypto.errors import CryptoError

FRAME_MARKER = b"\x02\x00"
HEADER_LEN = 4
KEY_ID_LEN = 36
KEY_VERSION_LEN = 4
TRAILER_LEN = 32
FRAME_OVERHEAD = HEADER_LEN + KEY_ID_LEN + KEY_VERSION_LEN + TRAILER_LEN  # 76, as in §F4

BODY_V1 = 1  # GCM directly under the CMK material: opened, never written
BODY_V2 = 2  # GCM under a per-message HKDF key
BODY_VERSION = BODY_V2  # what seal writes
BODY_HEADER_LEN = 3  # BODY_VERSION, SUITE, PURPOSE
SALT_LEN = 32  # RFC 5869 §3.1: a salt of HashLen (32 for SHA-256 and SM3)
BODY_OVERHEAD_V1 = BODY_HEADER_LEN + aead.OVERHEAD  # 31
BODY_OVERHEAD = BODY_HEADER_LEN + SALT_LEN + aead.OVERHEAD  # 63
_BODY_OVERHEADS = {BODY_V1: BODY_OVERHEAD_V1, BODY_V2: BODY_OVERHEAD}
MAX_L = 0xFFFF
MAX_PLAINTEXT = MAX_L - KEY_ID_LEN - KEY_VERSION_LEN - BODY_OVERHEAD

BINDING_LABEL = b"skms/blob/v1"  # names the binding's encoding, which both body versions share
MESSAGE_KEY_LABEL = b"skms/blob/v2/message-key"

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_HEAD = struct.Struct("<2sHBBB")  # FRAME_MARKER, L, then the body header: BODY_VERSION, SUITE, PURPOSE
_TAIL = struct.Struct(f"<{KEY_ID_LEN}sI")  # key_id (length checked before packing), key_version


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
    if not context and not aad:  # most requests: a function of the project alone
        return _project_binding(project_id)
    return length_prefixed(
        BINDING_LABEL, project_id.encode("utf-8"), encode_context(context or {}), aad or b""
    )


@functools.lru_cache(maxsize=256)
def _project_binding(project_id: str) -> bytes:
    """:func:`binding` with no context and no AAD (public values: nothing secret is remembered)."""
    return length_prefixed(BINDING_LABEL, project_id.encode("utf-8"), encode_context({}), b"")


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
    """Build a v2 blob under a fresh message key and nonce. ``bound`` comes from :func:`binding`."""
    fresh = os.urandom(SALT_LEN + aead.NONCE_LEN)  # salt then nonce: independent random bytes, one call
    return _build(
        BODY_V2,
        suite=suite,
        key=key,
        key_id=key_id,
        key_version=key_version,
        purpose=purpose,
        plaintext=plaintext,
        bound=bound,
        salt=fresh[:SALT_LEN],
        nonce=fresh[SALT_LEN:],
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
    salt: bytes,
    nonce: bytes,
) -> bytes:
    """:func:`seal` with a chosen salt and nonce, for the known-answer vectors only."""
    if len(salt) != SALT_LEN:
        raise ValueError("salt must be 32 bytes")
    if len(nonce) != aead.NONCE_LEN:
        raise ValueError("nonce must be 12 bytes")
    return _build(
        BODY_V2,
        suite=suite,
        key=key,
        key_id=key_id,
        key_version=key_version,
        purpose=purpose,
        plaintext=plaintext,
        bound=bound,
        salt=salt,
        nonce=nonce,
    )


def _seal_v1_with_nonce(
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
    """The retired v1 writer, kept private for the v1 vectors and the benchmark's baseline."""
    if len(nonce) != aead.NONCE_LEN:
        raise ValueError("nonce must be 12 bytes")
    return _build(
        BODY_V1,
        suite=suite,
        key=key,
        key_id=key_id,
        key_version=key_version,
        purpose=purpose,
        plaintext=plaintext,
        bound=bound,
        salt=b"",
        nonce=nonce,
    )


def _build(
    version: int,
    *,
    suite: aead.Suite,
    key: bytes,
    key_id: str,
    key_version: int,
    purpose: Purpose,
    plaintext: bytes,
    bound: bytes,
    salt: bytes,
    nonce: bytes,
) -> bytes:
    """The blob; every length is checked here once (the salt and nonce by the callers), so the
    AEAD is called without checking again."""
    key_id_bytes = key_id.encode("ascii")
    if len(key_id_bytes) != KEY_ID_LEN:
        raise ValueError("key_id must be 36 ASCII characters")
    if not 0 <= key_version <= 0xFFFFFFFF:
        raise ValueError("key_version out of range")
    key_len = _KEY_LENS[suite]
    if len(key) != key_len:  # HKDF would take any length: check before deriving
        raise ValueError(f"{suite.name} needs a {key_len}-byte key")
    overhead = _BODY_OVERHEADS[version]
    if len(plaintext) > MAX_L - KEY_ID_LEN - KEY_VERSION_LEN - overhead:
        raise ValueError("plaintext too long for a blob")
    head = _HEAD.pack(
        FRAME_MARKER, overhead + len(plaintext) + KEY_ID_LEN + KEY_VERSION_LEN, version, suite, purpose
    )
    tail = _TAIL.pack(key_id_bytes, key_version)
    if version == BODY_V2:
        key = _message_key(suite, key, salt, head[HEADER_LEN:], tail)
    # The AAD: frame header, body header, key id, key version, then the binding (module docstring).
    sealed = aead._encrypt(suite, key, plaintext, head + tail + bound, nonce)
    framed = head + salt + nonce + sealed + tail
    return framed + hashlib.sha256(framed).digest()


# The HKDF hash of each suite. An SM4 key is chosen to stay within the SM (GB/T) algorithms, so its
# message keys come from HKDF-SM3, the pairing RFC 8998 uses for TLS_SM4_GCM_SM3 (and §F3 already
# digests SM4 data keys with SM3); HMAC-SM3 is a PRF on the same assumptions as HMAC-SHA-256 (a
# 256-bit Merkle-Damgard hash with a 64-byte block). Hash objects are stateless descriptors.
KDF_HASHES: dict[aead.Suite, hashes.HashAlgorithm] = {
    aead.Suite.AES_256_GCM: hashes.SHA256(),
    aead.Suite.SM4_GCM: hashes.SM3(),
}


_KEY_LENS = {suite: suite.key_len for suite in aead.Suite}
_BLOCK_SIZE = 64  # of SHA-256 and SM3


class _Hash(Protocol):
    @property
    def block_size(self) -> int: ...

    def digest(self) -> bytes: ...


_NewHash = Callable[[bytes], _Hash]


def _hashlib_of(name: str) -> _NewHash | None:
    """A hashlib constructor of ``name``, or None where this Python's OpenSSL lacks it (or it is
    not a hash of :data:`_BLOCK_SIZE`-byte blocks, which :func:`_hmac` assumes)."""
    if name == "sha256":
        return hashlib.sha256
    try:
        empty = hashlib.new(name)
    except ValueError:
        return None

    def new(data: bytes) -> _Hash:
        # A copy of an empty hash: hashlib.new(name) would look the algorithm up by name each time.
        started = empty.copy()
        started.update(data)
        return started

    return new if empty.block_size == _BLOCK_SIZE else None


# The KDF_HASHES again, as hashlib constructors for _hkdf; None: that hash is not in hashlib here,
# and cryptography's HKDF derives instead (the same bytes: RFC 5869 either way).
_KDF_HASHLIB: dict[aead.Suite, _NewHash | None] = {
    suite: _hashlib_of(algorithm.name) for suite, algorithm in KDF_HASHES.items()
}
_TRANS_36 = bytes(x ^ 0x36 for x in range(256))  # RFC 2104 ipad, as CPython's hmac.py builds it
_TRANS_5C = bytes(x ^ 0x5C for x in range(256))  # opad


def _hmac(new: _NewHash, key: bytes, message: bytes) -> bytes:
    """RFC 2104 HMAC over a 64-byte-block hash, from two plain hash computations."""
    if len(key) > _BLOCK_SIZE:
        key = new(key).digest()
    key = key.ljust(_BLOCK_SIZE, b"\0")
    inner = new(key.translate(_TRANS_36) + message).digest()
    return new(key.translate(_TRANS_5C) + inner).digest()


def _hkdf(new: _NewHash, length: int, salt: bytes, info: bytes, ikm: bytes) -> bytes:
    """RFC 5869 HKDF (extract, then expand to ``length`` bytes) over hashlib's hash ``new``.

    Why not cryptography's ``HKDF``: a message key is one block of four small hashes, and an HKDF
    object per message (its algorithm checked through the ``HashAlgorithm`` ABC) cost ~8 us more
    per create-datakey in process than this. hashlib (OpenSSL) keeps the GIL for inputs this
    small, where ``hmac.digest`` releases and retakes it around each call. Proven equal to
    cryptography's HKDF by the RFC 5869 vectors and property tests (test_blob_hkdf.py).
    """
    prk = _hmac(new, salt, ikm)  # an empty salt is HashLen zeros once HMAC pads the key
    hash_len = len(prk)
    if not 0 < length <= 255 * hash_len:
        raise ValueError("HKDF length out of range")
    if length <= hash_len:  # one block, T(1): every message key
        return _hmac(new, prk, info + b"\x01")[:length]
    okm, block = b"", b""
    for counter in range(1, -(-length // hash_len) + 1):
        block = _hmac(new, prk, block + info + bytes((counter,)))
        okm += block
    return okm[:length]


def _message_key(suite: aead.Suite, material: bytes, salt: bytes, body_header: bytes, tail: bytes) -> bytes:
    """The v2 per-message key: HKDF(IKM=material, salt, info=label || body header || key id || version)."""
    info = MESSAGE_KEY_LABEL + body_header + tail
    new = _KDF_HASHLIB[suite]
    if new is None:
        return HKDF(KDF_HASHES[suite], _KEY_LENS[suite], salt, info).derive(material)
    return _hkdf(new, _KEY_LENS[suite], salt, info, material)


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: BlobHeader
    version: int
    frame_header: bytes
    body: bytes
    tail: bytes


def _parse(blob: bytes) -> _Parsed:
    """Check frame, lengths, checksum and body header; every failure is :class:`CryptoError`."""
    if len(blob) < FRAME_OVERHEAD + BODY_OVERHEAD_V1 or blob[:2] != FRAME_MARKER:
        raise CryptoError
    (length,) = _U16.unpack_from(blob, 2)
    if HEADER_LEN + length + TRAILER_LEN != len(blob):
        raise CryptoError
    framed, trailer = blob[:-TRAILER_LEN], blob[-TRAILER_LEN:]
    if not hmac.compare_digest(hashlib.sha256(framed).digest(), trailer):
        raise CryptoError
    tail_at = len(framed) - KEY_ID_LEN - KEY_VERSION_LEN
    body, tail = framed[HEADER_LEN:tail_at], framed[tail_at:]
    version = body[0]
    if version not in _BODY_OVERHEADS or len(body) < _BODY_OVERHEADS[version]:
        raise CryptoError
    try:
        suite, purpose = aead.Suite(body[1]), Purpose(body[2])
        key_id = tail[:KEY_ID_LEN].decode("ascii")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CryptoError from exc
    (key_version,) = _U32.unpack_from(tail, KEY_ID_LEN)
    header = BlobHeader(key_id=key_id, key_version=key_version, suite=suite, purpose=purpose)
    return _Parsed(header, version, framed[:HEADER_LEN], body, tail)


def read_header(blob: bytes) -> BlobHeader:
    """Parse and check the frame; does not decrypt. Raises :class:`CryptoError`."""
    return _parse(blob).header


def open_blob(blob: bytes, *, key: bytes, expected: BlobHeader, bound: bytes) -> bytes:
    """Decrypt a blob (either body version) whose header the caller has read and checked against the CMK."""
    parsed = _parse(blob)
    if parsed.header != expected or len(key) != expected.suite.key_len:
        raise CryptoError
    body_header, sealed = parsed.body[:BODY_HEADER_LEN], parsed.body[BODY_HEADER_LEN:]
    if parsed.version == BODY_V2:
        salt, sealed = sealed[:SALT_LEN], sealed[SALT_LEN:]
        key = _message_key(expected.suite, key, salt, body_header, parsed.tail)
    return aead.open_sealed(
        expected.suite, key, sealed, parsed.frame_header + body_header + parsed.tail + bound
    )
