"""What every operation shares: who is calling, and finding a usable key."""

from __future__ import annotations

import time
from dataclasses import dataclass

from skms import errors
from skms.domain import KeyRecord, KeyState
from skms.keyring import MaterialUnavailable
from skms.runtime import Services


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal of a request, as established by the authorizer (or the direct invoker)."""

    project_id: str
    domain_id: str
    request_id: str


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def find_key(services: Services, caller: Caller, key_id: str) -> KeyRecord:
    """The caller's key, or KMS.0207. Keys of other projects are invisible (404, not 403)."""
    record = services.stores.keys.get_key(caller.project_id, key_id)
    if record is None or record.deleted_at is not None:  # a deleted key's tombstone is invisible
        raise errors.KeyNotFound
    return record


_STATE_ERRORS: dict[KeyState, type[errors.KmsError]] = {
    KeyState.DISABLED: errors.KeyDisabled,
    KeyState.PENDING_DELETION: errors.KeyPendingDeletion,
    KeyState.FROZEN: errors.KeyFrozen,
    KeyState.PENDING_ACTIVATION: errors.KeyNotEnabled,
    KeyState.PENDING_IMPORT: errors.KeyNotEnabled,
}


def require_enabled(record: KeyRecord) -> None:
    """§F1: a key in state 3 gives KMS.0209, in state 4 KMS.0210; other non-enabled states KMS.1301."""
    if record.key_state is not KeyState.ENABLED:
        raise _STATE_ERRORS.get(record.key_state, errors.KeyNotEnabled)


def key_material(services: Services, record: KeyRecord, version: int) -> bytes:
    try:
        return services.keyring.material(record, version)
    except MaterialUnavailable as exc:
        raise errors.InternalError("The key material is unavailable.") from exc
