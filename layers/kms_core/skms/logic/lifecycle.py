"""The key state machine (spec §F1, §F2), enforced in this one place, and conditional updates.

Every state change reads the key, checks the transition against :data:`TRANSITIONS`, and writes
conditionally on the revision it read; a lost race is retried from a fresh read (so the check is
made again against the state that won), never blindly overwritten.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.domain import KeyRecord, KeyState
from skms.logic.gate import Use, open_key
from skms.runtime import Services

MAX_ATTEMPTS = 8
DAY_MS = 86_400_000


class Op(enum.StrEnum):
    ENABLE = "enable-key"
    DISABLE = "disable-key"
    SCHEDULE_DELETION = "schedule-key-deletion"
    CANCEL_DELETION = "cancel-key-deletion"
    UPDATE_ALIAS = "update-key-alias"
    UPDATE_DESCRIPTION = "update-key-description"


S = KeyState
Outcome = KeyState | type[errors.KmsError] | None  # new state, error, or None: state unchanged

# (state, operation) -> outcome. A pair that is absent is refused with KMS.0308.
TRANSITIONS: dict[tuple[KeyState, Op], Outcome] = {
    # enable: only a disabled key (KMS.1201 "key is not disabled")
    (S.DISABLED, Op.ENABLE): S.ENABLED,
    (S.ENABLED, Op.ENABLE): errors.KeyNotDisabled,
    (S.PENDING_IMPORT, Op.ENABLE): errors.KeyNotDisabled,
    (S.PENDING_ACTIVATION, Op.ENABLE): errors.KeyNotDisabled,
    (S.PENDING_DELETION, Op.ENABLE): errors.KeyPendingDeletion,
    (S.FROZEN, Op.ENABLE): errors.KeyFrozen,
    # disable: only an enabled key (KMS.1301 "key is not enabled")
    (S.ENABLED, Op.DISABLE): S.DISABLED,
    (S.DISABLED, Op.DISABLE): errors.KeyNotEnabled,
    (S.PENDING_IMPORT, Op.DISABLE): errors.KeyNotEnabled,
    (S.PENDING_ACTIVATION, Op.DISABLE): errors.KeyNotEnabled,
    (S.PENDING_DELETION, Op.DISABLE): errors.KeyPendingDeletion,
    (S.FROZEN, Op.DISABLE): errors.KeyFrozen,
    # schedule deletion: from any live state; twice is KMS.1402
    (S.ENABLED, Op.SCHEDULE_DELETION): S.PENDING_DELETION,
    (S.DISABLED, Op.SCHEDULE_DELETION): S.PENDING_DELETION,
    (S.PENDING_IMPORT, Op.SCHEDULE_DELETION): S.PENDING_DELETION,
    (S.PENDING_ACTIVATION, Op.SCHEDULE_DELETION): S.PENDING_DELETION,
    (S.PENDING_DELETION, Op.SCHEDULE_DELETION): errors.AlreadyPendingDeletion,
    (S.FROZEN, Op.SCHEDULE_DELETION): errors.KeyFrozen,
    # cancel deletion: only a key pending deletion (KMS.1501); it comes back disabled (§F1)
    (S.PENDING_DELETION, Op.CANCEL_DELETION): S.DISABLED,
    (S.ENABLED, Op.CANCEL_DELETION): errors.NotPendingDeletion,
    (S.DISABLED, Op.CANCEL_DELETION): errors.NotPendingDeletion,
    (S.PENDING_IMPORT, Op.CANCEL_DELETION): errors.NotPendingDeletion,
    (S.PENDING_ACTIVATION, Op.CANCEL_DELETION): errors.NotPendingDeletion,
    (S.FROZEN, Op.CANCEL_DELETION): errors.KeyFrozen,
}
for _state in (S.ENABLED, S.DISABLED, S.PENDING_IMPORT, S.PENDING_ACTIVATION):
    TRANSITIONS[(_state, Op.UPDATE_ALIAS)] = None
    TRANSITIONS[(_state, Op.UPDATE_DESCRIPTION)] = None
for _op in (Op.UPDATE_ALIAS, Op.UPDATE_DESCRIPTION):
    TRANSITIONS[(S.PENDING_DELETION, _op)] = errors.KeyPendingDeletion
    TRANSITIONS[(S.FROZEN, _op)] = errors.KeyFrozen

# Service default keys (alias suffix /default) cannot be disabled, deleted, renamed or re-described.
DEFAULT_KEY_FORBIDDEN = frozenset({Op.DISABLE, Op.SCHEDULE_DELETION, Op.UPDATE_ALIAS, Op.UPDATE_DESCRIPTION})


def next_state(record: KeyRecord, op: Op) -> KeyState:
    """The state after ``op``, or raise the §F2 error for this (state, operation) pair."""
    if record.is_default_key and op in DEFAULT_KEY_FORBIDDEN:
        raise errors.DefaultKeyOperation
    outcome = TRANSITIONS.get((record.key_state, op), errors.InvalidParameter)
    if outcome is None:
        return record.key_state
    if isinstance(outcome, KeyState):
        if outcome is S.DISABLED and op is Op.CANCEL_DELETION and record.versions.primary_version is None:
            # An external key that never had material goes back to waiting for it, not to
            # "disabled" (which could then be enabled with nothing to encrypt with).
            return S.PENDING_IMPORT
        return outcome
    raise outcome


def apply(
    services: Services,
    caller: Caller,
    key_id: str,
    op: Op,
    change: Callable[[KeyRecord, KeyState], KeyRecord] = lambda record, state: record.replace(
        key_state=state
    ),
) -> KeyRecord:
    """Read, check and conditionally write, retrying lost races from a fresh read."""
    for _ in range(MAX_ATTEMPTS):
        record = open_key(services, caller, key_id, Use.MANAGE).record
        updated = change(record, next_state(record, op))
        try:
            return services.stores.keys.update_key(updated, record.revision)
        except errors.ConcurrentUpdate:
            continue
    raise errors.ServiceUnavailable("The key is being changed concurrently; retry the request.")


def schedule_deletion(record: KeyRecord, state: KeyState, pending_days: int) -> KeyRecord:
    return record.replace(key_state=state, scheduled_deletion_date=now_ms() + pending_days * DAY_MS)


def cancel_deletion(record: KeyRecord, state: KeyState) -> KeyRecord:
    return record.replace(key_state=state, scheduled_deletion_date=None)
