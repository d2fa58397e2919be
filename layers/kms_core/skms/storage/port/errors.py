"""The errors every storage port shares; adapters raise these, never a driver's own."""

from __future__ import annotations


class AliasExists(Exception):
    """The alias is taken: another key of the project has this ``key_alias``, or an alias record
    of this name already exists in the domain."""


class AliasNotFound(Exception):
    """No alias record of this name in the domain (pointing at the given key, when one is given)."""


class KeyExists(Exception):
    """A key with this id already exists (ids are never reused)."""


class QuotaExceeded(Exception):
    """The project already has as many live keys as the quota given to ``create_key`` allows."""


class PrincipalExists(Exception):
    """An access key with this id, or a user with this name in the domain, already exists."""


class StorageFailure(Exception):
    """The store could not be reached or refused for a reason other than a condition."""


class TagLimitExceeded(Exception):
    """The change would leave the key with more tag keys than the limit given to ``change_tags``."""


class GrantLimitExceeded(Exception):
    """The key already has as many grants as the limit given to ``create_grant`` allows."""
