"""The storage ports, one per record kind, and the :class:`Stores` bundle of one backend.

Adapters: :mod:`skms.storage.dynamodb` (AWS), :mod:`skms.storage.sqlite` (local) and
:mod:`skms.storage.memory` (the fake of the unit tests). Every adapter passes the contract suite of
each port (tests/contract/). Rules common to all:

- Writes that must not race are conditional (create-if-absent, expected revision or key), atomic
  with whatever must change with them.
- Listings are queries with a limit and an opaque cursor, never scans.
- Driver errors are translated by code into :class:`StorageFailure`, chained with ``from``.
"""

from skms.storage.port.aliases import AliasPage, AliasStore
from skms.storage.port.bundle import Stores
from skms.storage.port.errors import (
    AliasExists,
    AliasNotFound,
    GrantLimitExceeded,
    KeyExists,
    PrincipalExists,
    QuotaExceeded,
    StorageFailure,
    TagLimitExceeded,
)
from skms.storage.port.grants import (
    GRANTEE_DOMAIN,
    GRANTEE_USER,
    GrantPage,
    GrantRecord,
    GrantStore,
    domain_retirer,
    principal_retirer,
    retirers_of,
)
from skms.storage.port.keys import KeyFilter, KeyPage, KeyStore
from skms.storage.port.principals import PrincipalStore
from skms.storage.port.service_state import ServiceStateStore
from skms.storage.port.tags import TagCondition, TagMatches, TagStore

__all__ = [
    "GRANTEE_DOMAIN",
    "GRANTEE_USER",
    "AliasExists",
    "AliasNotFound",
    "AliasPage",
    "AliasStore",
    "GrantLimitExceeded",
    "GrantPage",
    "GrantRecord",
    "GrantStore",
    "KeyExists",
    "KeyFilter",
    "KeyPage",
    "KeyStore",
    "PrincipalExists",
    "PrincipalStore",
    "QuotaExceeded",
    "ServiceStateStore",
    "StorageFailure",
    "Stores",
    "TagCondition",
    "TagLimitExceeded",
    "TagMatches",
    "TagStore",
    "domain_retirer",
    "principal_retirer",
    "retirers_of",
]
