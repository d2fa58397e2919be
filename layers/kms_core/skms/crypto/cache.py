"""A small, bounded, thread-safe LRU cache with a time-to-live, for unwrapped key material.

It keeps a warm function from calling the root key for a key it used a moment ago. Entries live
only in process memory; ``clock`` is injectable so tests control time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlLruCache(Generic[V]):
    def __init__(
        self, max_entries: int = 1024, ttl_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("max_entries must be >= 1 and ttl_seconds > 0")
        self._max = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        # The hit path takes no lock (it runs several times per request): with the GIL, and keys
        # of built-in types (str, int, tuples of them: hashing and comparing them runs no Python
        # code), each OrderedDict call below is atomic. A racing put or discard can only make this
        # a hit on the value that was current a moment ago, or the recency update a no-op.
        entry = self._data.get(key)
        if entry is not None and entry[0] > self._clock():
            try:  # noqa: SIM105 - contextlib.suppress costs more than this whole path
                self._data.move_to_end(key)
            except KeyError:  # discarded or evicted meanwhile
                pass
            return entry[1]
        return self._get_locked(key)

    def _get_locked(self, key: Hashable) -> V | None:
        """:meth:`get` for a missing or expired entry: drops it under the lock if it is still expired."""
        now = self._clock()
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires <= now:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = (self._clock() + self._ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        return f"TtlLruCache(<{len(self)} entries>)"
