"""The root of trust: a port that wraps and unwraps key material under a context.

Wrapped layout: ``PROVIDER(1) || provider-specific bytes``. The context (project id, key id,
key version, purpose) is bound as associated data, so a wrapped blob copied onto another key,
version or project fails to unwrap. Providers:

- :class:`LocalRootKey` (here): AES-256-GCM under a 32-byte key file created on first use, mode 0600.
- ``skms.root_keys.aws_kms.AwsKmsRootKey``: AWS KMS Encrypt/Decrypt with the context as the
  KMS encryption context (kept out of this package because it needs boto3).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from skms.crypto import aead
from skms.crypto.encoding import encode_context, length_prefixed
from skms.crypto.errors import CryptoError

PROVIDER_LOCAL = 0x01
PROVIDER_AWS_KMS = 0x02
ROOT_KEY_LEN = 32
_LABEL = b"skms/root-wrap/v1"


class RootKeyProvider(Protocol):
    """Wraps CMK material. Implementations must be thread-safe."""

    def wrap(self, plaintext: bytes, context: Mapping[str, str]) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """Raise :class:`CryptoError` on any failure."""
        ...


def material_context(
    project_id: str, key_id: str, key_version: int, binding: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The context every CMK's material is wrapped under: where it belongs (project, key, version)
    and, for material wrapped since metadata binding, ``binding``: what the key is (spec, usage,
    public key digest), so a row whose metadata was changed fails to unwrap."""
    return {
        "purpose": "cmk-material",
        "project_id": project_id,
        "key_id": key_id,
        "key_version": str(key_version),
        **(binding or {}),
    }


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalRootKey:
    """AES-256-GCM under a key held in memory (loaded from, or created in, a 0600 file)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != ROOT_KEY_LEN:
            raise ValueError("the root key must be 32 bytes")
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> LocalRootKey:
        """Load the key file, creating it on first use: mode 0600, published atomically.

        The key is written to a private temporary file and hard-linked into place, so no reader
        can ever see a partial file and concurrent first starts agree on one key.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(os.urandom(ROOT_KEY_LEN))
                    out.flush()
                    os.fsync(out.fileno())
                # If another process won the race, its key is the one to use.
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
                _fsync_directory(path.parent)  # the new name must survive a crash too
            finally:
                tmp.unlink(missing_ok=True)
        if path.stat().st_mode & 0o077:
            raise ValueError(f"root key file {path} must not be accessible by group or others (chmod 600)")
        key = path.read_bytes()
        if len(key) != ROOT_KEY_LEN:
            raise ValueError(f"root key file {path} is not {ROOT_KEY_LEN} bytes")
        return cls(key)

    def __repr__(self) -> str:
        return "LocalRootKey(<redacted>)"

    @staticmethod
    def _aad(context: Mapping[str, str]) -> bytes:
        return length_prefixed(_LABEL, encode_context(context))

    def wrap(self, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        sealed = aead.seal(aead.Suite.AES_256_GCM, self._key, plaintext, self._aad(context))
        return bytes((PROVIDER_LOCAL,)) + sealed

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        if not wrapped or wrapped[0] != PROVIDER_LOCAL:
            raise CryptoError
        return aead.open_sealed(aead.Suite.AES_256_GCM, self._key, wrapped[1:], self._aad(context))
