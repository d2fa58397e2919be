"""CMK material: wrapping new material, choosing the version, and unwrapping through a bounded TTL cache.

The keyring owns version selection (in the manner of Tink's keyset handle): the primary version
encrypts, signs and makes MACs (:meth:`Keyring.primary`); any live version opens what it made
(:meth:`Keyring.material`, with the version a ciphertext names).

Metadata binding: material is wrapped under a context that names its project, key and version and
what the key is (:func:`key_binding`: spec, usage and a digest of the public key). Whoever can write
the table but does not hold the root key cannot change a key's spec, usage or public key: the
material then fails to unwrap, and every operation on the key fails closed. Material wrapped before
the binding existed (``KeyVersion.bound`` False) is checked another way where it matters: the
public key is derived from it and compared (:meth:`Keyring.public_key_pem`).
"""

from __future__ import annotations

import hashlib

from skms.crypto.cache import TtlLruCache
from skms.crypto.errors import CryptoError
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.crypto.root_key import RootKeyProvider, material_context
from skms.domain import KeyRecord, KeyVersion


class MaterialUnavailable(Exception):
    """The wrapped material of a key could not be unwrapped (wrong root key, corrupted item)."""


class UnknownVersion(Exception):
    """The key holds no live version of that number (never made, or its material was destroyed)."""


def key_binding(spec: KeySpec, usage: KeyUsage, public_key_pem: str | None) -> dict[str, str]:
    """What a key is, as bound into the wrapping context of its material."""
    digest = "" if public_key_pem is None else hashlib.sha256(public_key_pem.encode("utf-8")).hexdigest()
    return {"key_spec": spec.value, "key_usage": usage.value, "public_key_sha256": digest}


def version_context(record: KeyRecord, version: KeyVersion) -> dict[str, str]:
    """The context ``version``'s material of ``record`` is wrapped under."""
    binding = key_binding(record.key_spec, record.key_usage, record.public_key_pem) if version.bound else None
    return material_context(record.project_id, record.key_id, version.number, binding)


class Keyring:
    def __init__(self, root: RootKeyProvider, cache: TtlLruCache[bytes]) -> None:
        self._root = root
        self._cache = cache

    @property
    def root(self) -> RootKeyProvider:
        """The root of trust, for wrapping other secrets (access keys, service secrets)."""
        return self._root

    @property
    def cache(self) -> TtlLruCache[bytes]:
        return self._cache

    def wrap(
        self,
        project_id: str,
        key_id: str,
        version: int,
        material: bytes,
        binding: dict[str, str],
        *,
        remember: bool = True,
    ) -> bytes:
        """Wrap new material of ``version`` for a key that is ``binding`` (:func:`key_binding`).

        ``remember=False`` leaves the cache alone: a rotation wraps a version that a racing
        rotation may write first with other material, so it must not be cached before its write won."""
        wrapped = self._root.wrap(material, material_context(project_id, key_id, version, binding))
        if remember:
            self._cache.put((project_id, key_id, version), material)
        return wrapped

    def primary(self, record: KeyRecord) -> tuple[int, bytes]:
        """The primary version's number and material; :class:`UnknownVersion` for a key with none."""
        version = record.versions.primary
        return version, self.material(record, version)

    def material(self, record: KeyRecord, version: int) -> bytes:
        """The material of the live ``version`` (:class:`UnknownVersion` if the key holds none)."""
        held = record.versions.live(version)
        if held is None:
            raise UnknownVersion
        cache_key = (record.project_id, record.key_id, version)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        try:
            material = self._root.unwrap(held.wrapped, version_context(record, held))
        except CryptoError as exc:
            raise MaterialUnavailable from exc
        self._cache.put(cache_key, material)
        return material

    def public_key_pem(self, record: KeyRecord) -> str:
        """The stored public key, once it is proven to be the key's: by unwrapping the primary
        material (bound versions), or by deriving it from that material (older, unbound ones).
        :class:`MaterialUnavailable` when neither holds."""
        version, material = self.primary(record)
        if record.public_key_pem is None:
            raise MaterialUnavailable
        held = record.versions.live(version)
        if held is not None and not held.bound:
            from skms.crypto import material as materials  # only for keys older than the binding

            if materials.public_key_pem(record.key_spec, material) != record.public_key_pem:
                raise MaterialUnavailable
        return record.public_key_pem

    def forget(self, record: KeyRecord) -> None:
        for version in (v.number for v in record.versions.versions):
            self._cache.discard((record.project_id, record.key_id, version))
