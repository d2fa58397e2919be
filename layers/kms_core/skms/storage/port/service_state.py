"""The service-state port: what the service keeps about itself rather than about a tenant's
resources: its service secrets (e.g. the wrapped token-signing key) and the failed-login counters
that throttle password guessing."""

from __future__ import annotations

import abc


class ServiceStateStore(abc.ABC):
    @abc.abstractmethod
    def get_secret(self, name: str) -> bytes | None:
        """The stored value of a service secret (a consistent read), or None if there is none yet."""

    @abc.abstractmethod
    def get_or_create_secret(self, name: str, wrapped: bytes) -> bytes:
        """Store ``wrapped`` under ``name`` unless a value is already there (conditional write);
        return the stored value, so concurrent cold starts agree on one service secret."""

    @abc.abstractmethod
    def login_failures(self, domain_name: str, name: str, window: int) -> int:
        """Failed password attempts counted for (domain_name, name) in the fixed time window
        ``window`` (an index such as ``now // period``); 0 if none. A consistent read."""

    @abc.abstractmethod
    def add_login_failure(
        self, domain_name: str, name: str, window: int, expires_at: int, delta: int = 1
    ) -> int:
        """Add ``delta`` (an atomic increment; -1 takes an attempt back) to the failed attempts of
        ``window`` and return the new count. The counter may be forgotten after ``expires_at``
        (epoch seconds). A take-back never takes a count below 0 and never creates a counter;
        a counter it brings to 0 may be removed (0 and absent read the same)."""
