"""The in-memory fake of the :class:`ServiceStateStore` port."""

from __future__ import annotations

import threading

from skms.storage.port import ServiceStateStore


class InMemoryServiceStateStore(ServiceStateStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, bytes] = {}
        self._login_failures: dict[tuple[str, str, int], int] = {}

    def login_failures(self, domain_name: str, name: str, window: int) -> int:
        with self._lock:
            return self._login_failures.get((domain_name, name, window), 0)

    def add_login_failure(
        self, domain_name: str, name: str, window: int, expires_at: int, delta: int = 1
    ) -> int:
        with self._lock:
            key = (domain_name, name, window)
            for stale in [k for k in self._login_failures if k[2] < window]:  # windows that are over
                del self._login_failures[stale]
            self._login_failures[key] = self._login_failures.get(key, 0) + delta
            return self._login_failures[key]

    def get_secret(self, name: str) -> bytes | None:
        with self._lock:
            return self._secrets.get(name)

    def get_or_create_secret(self, name: str, wrapped: bytes) -> bytes:
        with self._lock:
            return self._secrets.setdefault(name, bytes(wrapped))
