"""Canonical, length-prefixed encodings of what a ciphertext is bound to.

Modelled on the AWS Encryption SDK's encryption-context serialisation: sorted by key bytes,
counted, each key and value length-prefixed, no duplicates, no trailing bytes. The output is only
ever fed to an AEAD as associated data, so it needs to be unambiguous, not reversible.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

# Spec §F5: encryption_context is at most 8192 characters serialised; AAD at most 128 bytes.
MAX_CONTEXT_PAIRS = 1024
MAX_FIELD_BYTES = 0xFFFF

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


def encode_context(context: Mapping[str, str]) -> bytes:
    """count(u16) then, sorted by UTF-8 key bytes, key_len(u16) key value_len(u16) value."""
    if len(context) > MAX_CONTEXT_PAIRS:
        raise ValueError("too many encryption context pairs")
    items = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    out = bytearray(_U16.pack(len(items)))
    for key, value in items:
        if len(key) > MAX_FIELD_BYTES or len(value) > MAX_FIELD_BYTES:
            raise ValueError("encryption context entry too long")
        out += _U16.pack(len(key)) + key + _U16.pack(len(value)) + value
    return bytes(out)


def length_prefixed(*fields: bytes) -> bytes:
    """Concatenate fields, each preceded by its u32 big-endian length."""
    return b"".join(_U32.pack(len(f)) + f for f in fields)
