"""Scheduled deletion that really deletes (issue: lifecycle §5), and the erasure of imported
material that expired (access-control §6.3: the key goes back to pending import).

A key pending deletion whose ``scheduled_deletion_date`` has passed becomes a tombstone: its
wrapped material is erased, ``deleted_at`` is set, and no operation can use it again (every lookup
answers KMS.0207); its id and alias are never reused. Ciphertexts under it can no longer be opened.
Its alias objects (ops 39-42) are deleted right after, which frees their names; should that be
interrupted, those left stop resolving all the same (the gate finds a tombstone: KMS.0207) and
delete-alias can still remove them.

The sweep is idempotent and safe to run twice at once: each key is tombstoned by a write that is
conditional on the revision read, so of two sweepers (or a sweeper and a cancel-key-deletion) only
one wins; the loser re-reads and skips a key that is already deleted or no longer due.
"""

from __future__ import annotations

from dataclasses import dataclass

from skms import errors
from skms.clock import now_ms
from skms.domain import KeyRecord, KeyState
from skms.logic.due import BATCH, process_due
from skms.logic.importing import material_erased
from skms.observability import logger
from skms.runtime import Services
from skms.storage.port import AliasNotFound


@dataclass(frozen=True, slots=True)
class SweepResult:
    deleted: int
    skipped: int
    expired: int = 0  # imported material erased because it expired (access-control §6.3)


def _is_due(record: KeyRecord, now: int) -> bool:
    return (
        record.deleted_at is None
        and record.key_state is KeyState.PENDING_DELETION
        and record.scheduled_deletion_date is not None
        and record.scheduled_deletion_date <= now
    )


def _tombstone(services: Services, record: KeyRecord, now: int) -> bool:
    """True when this call deleted the key; False when it was not (or no longer) due."""
    for _ in range(4):
        if not _is_due(record, now):
            return False
        try:
            services.stores.keys.update_key(
                record.replace(deleted_at=now, versions=record.versions.erased()), record.revision
            )
        except errors.ConcurrentUpdate:
            fresh = services.stores.keys.get_key(record.project_id, record.key_id)
            if fresh is None:
                return False
            record = fresh
            continue
        services.keyring.forget(record)
        # Its tags go with it (spec §8): after the tombstone, so a key whose deletion was
        # cancelled meanwhile keeps them; list-kms-by-tags skips tombstones in between.
        services.stores.tags.delete_tags(record.project_id, record.key_id)
        # And its grants (access-control §3): none may unlock anything on a deleted key.
        services.stores.grants.delete_key_grants(record.project_id, record.key_id)
        _drop_aliases(services, record)
        return True
    return False


def _drop_aliases(services: Services, record: KeyRecord) -> None:
    """Delete the alias objects pointing at a key just tombstoned (after it, never before: a key
    whose deletion is cancelled keeps its aliases)."""
    aliases = services.stores.aliases
    cursor: str | None = None
    while True:
        page = aliases.list_key_aliases(record.project_id, record.key_id, BATCH, cursor)
        for alias in page.records:
            try:
                aliases.delete_alias(alias.domain_id, alias.alias, key_id=record.key_id)
            except AliasNotFound:  # moved to another key or deleted meanwhile
                continue
        cursor = page.next_cursor
        if cursor is None:
            return


def erase_expired_material(services: Services, record: KeyRecord, now: int) -> bool:
    """Erase ``record``'s imported material if it has expired by ``now`` (the key goes back to
    pending import). True when this call erased it; idempotent, and safe against concurrent
    writers (conditional on the revision, re-read on a lost race)."""
    for _ in range(4):
        if record.material_expired(now) is record:  # not (or no longer) expired
            return False
        try:
            services.stores.keys.update_key(material_erased(record), record.revision)
        except errors.ConcurrentUpdate:
            fresh = services.stores.keys.get_key(record.project_id, record.key_id)
            if fresh is None:
                return False
            record = fresh
            continue
        services.keyring.forget(record)
        return True
    return False


def sweep(services: Services, now: int | None = None, limit: int = 10_000) -> SweepResult:
    """Tombstone every key whose deletion date has passed (at most ``limit`` per run)."""
    moment = now_ms() if now is None else now
    expired: list[KeyRecord] = []

    def act(record: KeyRecord) -> bool:
        # The due index also holds external keys whose imported material expires (KeyRecord.due_at).
        if record.key_state is not KeyState.PENDING_DELETION:
            if erase_expired_material(services, record, moment):
                expired.append(record)
            return False
        return _tombstone(services, record, moment)

    deleted, skipped = process_due(
        lambda n: services.stores.keys.due_for_deletion(moment, n),
        act,
        operation="delete-expired-keys",
        outcome="deleted",
        limit=limit,
    )
    for record in expired:
        logger.info(
            "imported key material expired",
            extra={
                "operation": "delete-expired-keys",
                "project_id": record.project_id,
                "key_id": record.key_id,
                "outcome": "material-erased",
            },
        )
    return SweepResult(deleted, skipped - len(expired), len(expired))
