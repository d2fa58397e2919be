"""CMK material: wrapping new material and unwrapping it through a bounded TTL cache."""

from __future__ import annotations

from skms.crypto.cache import TtlLruCache
from skms.crypto.errors import CryptoError
from skms.crypto.root_key import RootKeyProvider, material_context
from skms.domain import KeyRecord


class MaterialUnavailable(Exception):
    """The wrapped material of a key could not be unwrapped (wrong root key, corrupted item)."""


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

    def wrap(self, project_id: str, key_id: str, version: int, material: bytes) -> bytes:
        wrapped = self._root.wrap(material, material_context(project_id, key_id, version))
        self._cache.put((project_id, key_id, version), material)
        return wrapped

    def material(self, record: KeyRecord, version: int) -> bytes:
        cache_key = (record.project_id, record.key_id, version)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        wrapped = record.materials.get(version)
        if wrapped is None:
            raise MaterialUnavailable
        try:
            material = self._root.unwrap(wrapped, material_context(record.project_id, record.key_id, version))
        except CryptoError as exc:
            raise MaterialUnavailable from exc
        self._cache.put(cache_key, material)
        return material

    def forget(self, record: KeyRecord) -> None:
        for version in record.materials:
            self._cache.discard((record.project_id, record.key_id, version))
