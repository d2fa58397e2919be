"""Service default keys (aliases ending in ``/default``, e.g. ``obs/default``).

They are reserved for keys the service creates itself, on first use by another function: a
direct (event-driven) invocation that names ``<service>/default`` where a key id is expected gets
that project's default key, created on the spot if it does not exist yet (AES_256,
ENCRYPT_DECRYPT, ``default_key_flag`` "1"), within the project's key quota like any key (KMS.1105).
Default keys cannot be disabled, scheduled for deletion, renamed or re-described (KMS.0211, see
:mod:`skms.logic.lifecycle`), and no caller can create a key with such an alias (KMS.1101).
"""

from __future__ import annotations

import re
import uuid

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import DEFAULT_KEY_SUFFIX, KeyRecord, KeyState, KeyVersions, Origin
from skms.keyring import key_binding
from skms.runtime import Services
from skms.storage.port import AliasExists, QuotaExceeded

DEFAULT_ALIAS = re.compile(r"^[a-zA-Z0-9:_-]{1,64}/default$")


def is_default_alias(value: object) -> bool:
    return isinstance(value, str) and value.endswith(DEFAULT_KEY_SUFFIX)


def resolve_default_key(services: Services, caller: Caller, alias: str) -> str:
    """The id of the project's default key for ``alias``, created if it does not exist yet."""
    if not DEFAULT_ALIAS.fullmatch(alias):
        raise errors.InvalidKeyId("A default key alias is <service>/default.")
    existing = services.stores.keys.get_key_by_alias(caller.project_id, alias)
    if existing is not None:
        return existing.key_id
    from skms.crypto import material  # only on first use: keeps every handler's cold start lean

    key_id = str(uuid.uuid4())
    created = now_ms()
    binding = key_binding(KeySpec.AES_256, KeyUsage.ENCRYPT_DECRYPT, None)
    wrapped = services.keyring.wrap(caller.project_id, key_id, 0, material.generate(KeySpec.AES_256), binding)
    record = KeyRecord(
        project_id=caller.project_id,
        key_id=key_id,
        domain_id=caller.domain_id,
        key_alias=alias,
        key_spec=KeySpec.AES_256,
        key_usage=KeyUsage.ENCRYPT_DECRYPT,
        key_state=KeyState.ENABLED,
        origin=Origin.KMS,
        creation_date=created,
        key_description=f"Default key of {alias.removesuffix(DEFAULT_KEY_SUFFIX)}",
        realm=services.settings.region_id,
        default_key_flag="1",
        versions=KeyVersions.first(wrapped, created),
    )
    try:
        # A default key is a key: it counts against the project's quota like any other.
        services.stores.keys.create_key(record, quota=services.settings.key_quota)
    except QuotaExceeded:
        raise errors.TooManyKeys from None
    except AliasExists:  # another invocation created it first: use that one
        winner = services.stores.keys.get_key_by_alias(caller.project_id, alias)
        if winner is None:
            raise errors.ServiceUnavailable("The default key is being created; retry.") from None
        return winner.key_id
    return key_id
