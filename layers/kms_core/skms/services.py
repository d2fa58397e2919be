"""The services a request runs with (configuration, stores, keyring, caches, the policy source),
in a module of its own so that the parts :mod:`skms.runtime` wires together (e.g. ``skms.auth``)
can name the type without importing the factory. Built by :func:`skms.runtime.build_services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skms.config import Settings
from skms.crypto.cache import TtlLruCache
from skms.iam.source import PolicySource
from skms.keyring import Keyring
from skms.storage.port import Stores


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    stores: Stores
    keyring: Keyring
    # Access-key records (not secrets) the authorizer read a moment ago; None: read every time.
    access_keys: TtlLruCache[Any] | None = None
    # Where authorization reads an IAM user's policies (skms.iam.source); None: no IAM users exist
    # here, so a USER principal is refused everything (never allowed by default).
    policies: PolicySource | None = None
    # The grants a principal holds on a key, read a moment ago (skms.logic.grants.grant_allows); None:
    # read every time. Kept for KMS_ACCESS_KEY_CACHE_SECONDS, so a revoke takes effect within it.
    grants_held: TtlLruCache[Any] | None = None
