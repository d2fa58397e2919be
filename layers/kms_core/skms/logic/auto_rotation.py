"""Automatic rotation (access-control §7): rotate every key whose rotation period has passed.

Due keys come from the storage port's rotation index (``due_for_rotation``: an index query, sparse in
DynamoDB, never a scan), which holds only live, enabled keys with rotation enabled, by
``next_rotation_time`` (:attr:`skms.domain.KeyRecord.rotation_due_at`). Each is checked again by the
gate's rules for ``Use.ROTATE`` (state and capability: a key disabled or scheduled for deletion
meanwhile is not rotated) and rotated by one write conditional on the revision read
(:func:`skms.logic.rotation.rotate`). So the run is idempotent and safe twice at once: of two
runners the loser's write fails, it re-reads the key, finds it no longer due, and skips it; a key
is rotated once per period.
"""

from __future__ import annotations

from dataclasses import dataclass

from skms import errors
from skms.clock import now_ms
from skms.domain import KeyRecord
from skms.logic.due import process_due
from skms.logic.gate import Use, check_capability, check_state
from skms.logic.rotation import rotate
from skms.runtime import Services

MAX_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class RotationResult:
    rotated: int
    skipped: int


def _is_due(record: KeyRecord, now: int) -> bool:
    due_at = record.rotation_due_at
    if due_at is None or due_at > now:
        return False
    try:
        check_state(record, Use.ROTATE)
        check_capability(record, Use.ROTATE)
    except errors.KmsError:
        return False
    return True


def _rotate_if_due(services: Services, record: KeyRecord, now: int) -> bool:
    """True when this call rotated the key; False when it was not (or no longer) due."""
    for _ in range(MAX_ATTEMPTS):
        if not _is_due(record, now):
            return False
        try:
            services.stores.keys.update_key(rotate(services, record, now), record.revision)
        except errors.ConcurrentUpdate:
            fresh = services.stores.keys.get_key(record.project_id, record.key_id)
            if fresh is None:
                return False
            record = fresh
            continue
        return True
    return False


def rotate_due_keys(services: Services, now: int | None = None, limit: int = 10_000) -> RotationResult:
    """Rotate every key whose ``next_rotation_time`` <= ``now`` (at most ``limit`` per run)."""
    moment = now_ms() if now is None else now
    rotated, skipped = process_due(
        lambda n: services.stores.keys.due_for_rotation(moment, n),
        lambda record: _rotate_if_due(services, record, moment),
        operation="rotate-due-keys",
        outcome="rotated",
        limit=limit,
    )
    return RotationResult(rotated, skipped)
