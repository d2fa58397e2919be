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
            if delta < 0 and key not in self._login_failures:
                return 0  # nothing to take back: a take-back never creates a counter
            count = max(self._login_failures.get(key, 0) + delta, 0)
            if count == 0:
                self._login_failures.pop(key, None)  # a counter at zero is no counter
            else:
                self._login_failures[key] = count
            return count

    def get_secret(self, name: str) -> bytes | None:
        with self._lock:
            return self._secrets.get(name)

    def get_or_create_secret(self, name: str, wrapped: bytes) -> bytes:
        with self._lock:
            return self._secrets.setdefault(name, bytes(wrapped))
