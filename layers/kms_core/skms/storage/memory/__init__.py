"""The in-process fakes of the storage ports, for fast unit tests of logic.

They pass the same contract suites as the real adapters; each store has its own lock and state
(nothing is shared between record kinds, so there is nothing to close).
"""

from __future__ import annotations

from skms.storage.memory.aliases import InMemoryAliasStore
from skms.storage.memory.grants import InMemoryGrantStore
from skms.storage.memory.keys import InMemoryKeyStore
from skms.storage.memory.principals import InMemoryPrincipalStore
from skms.storage.memory.service_state import InMemoryServiceStateStore
from skms.storage.memory.tags import InMemoryTagStore
from skms.storage.port import Stores

__all__ = [
    "InMemoryAliasStore",
    "InMemoryGrantStore",
    "InMemoryKeyStore",
    "InMemoryPrincipalStore",
    "InMemoryServiceStateStore",
    "InMemoryTagStore",
    "open_stores",
]


def open_stores() -> Stores:
    return Stores(
        keys=InMemoryKeyStore(),
        aliases=InMemoryAliasStore(),
        principals=InMemoryPrincipalStore(),
        service_state=InMemoryServiceStateStore(),
        tags=InMemoryTagStore(),
        grants=InMemoryGrantStore(),
    )
