"""The stores of one backend, built together by its ``open_stores`` factory so they share one
connection (SQLite) or one client (DynamoDB). A new record kind is one more port module here, one
more field below and one more adapter module per backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from skms.storage.port.aliases import AliasStore
from skms.storage.port.grants import GrantStore
from skms.storage.port.keys import KeyStore
from skms.storage.port.principals import PrincipalStore
from skms.storage.port.service_state import ServiceStateStore
from skms.storage.port.tags import TagStore


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Stores:
    keys: KeyStore
    aliases: AliasStore
    principals: PrincipalStore
    service_state: ServiceStateStore
    tags: TagStore
    grants: GrantStore
    # Releases what the stores share (connections); the factory of the backend provides it.
    on_close: Callable[[], None] = field(default=_nothing, repr=False, compare=False)

    def close(self) -> None:
        """Release connections; the stores stay usable (they reconnect on next use)."""
        self.on_close()
