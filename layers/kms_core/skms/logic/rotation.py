"""Key rotation (spec §11 ops 46-50; access-control §7): the operations and the one way a key is
rotated, shared with the scheduled rotation (:mod:`skms.logic.auto_rotation`).

A rotation generates new material, wraps it under the next version number with the key's binding
(:func:`skms.keyring.key_binding`) and adds it as the primary version (``KeyVersions.rotated``): the
newest version encrypts, every live version still decrypts what it made (ciphertexts name their
version, spec §F4), nothing is re-encrypted. Every change is written conditionally on the revision
read; a lost race is retried from a fresh read, through the gate again.

Which keys may rotate, and the error for the others, is the gate's (``Use.ROTATE``): enabled,
symmetric, KMS-made customer keys (default keys KMS.0211, external KMS.0312, HMAC KMS.0341,
asymmetric KMS.0324; disabled KMS.0209, pending deletion KMS.0210). Choices where the docs are
silent: enabling twice is KMS.2901 and disabling (or changing the interval of) a key whose rotation
is not enabled KMS.0313; any rotation, automatic or on demand, restarts the period; the status is
readable for any live key, like describe-key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.crypto import material
from skms.domain import KeyRecord
from skms.keyring import key_binding
from skms.logic.gate import Use, open_key
from skms.models.lifecycle import OperateKeyRequestBody
from skms.models.rotation import (
    KeyRotationChangeResponseBody,
    RotateOnDemandRequestBody,
    RotateOnDemandResponseBody,
    RotationKeyMaterial,
    ShowKeyRotationStatusResponseBody,
    UpdateKeyRotationIntervalRequestBody,
)
from skms.runtime import Services

DAY_MS = 86_400_000
MAX_ATTEMPTS = 8
MATERIAL_ENABLED = 2  # key_materials[].state (§11 op 48): 0 waiting to rotate, 2 enabled
# material_id: a UUID per (key, version), stable across calls without storing one.
_MATERIAL_NAMESPACE = uuid.UUID("5f0b8c1e-4a57-4f53-9a37-1d6f0c2b7e41")


def rotate(services: Services, record: KeyRecord, now: int) -> KeyRecord:
    """``record`` with new material as its primary version, made at ``now`` (not yet written).
    With rotation enabled, the next scheduled rotation is one period after this one."""
    number = record.versions.next_number
    binding = key_binding(record.key_spec, record.key_usage, record.public_key_pem)
    # Not cached before the write wins: a racing rotation may write this version number first.
    wrapped = services.keyring.wrap(
        record.project_id, record.key_id, number, material.generate(record.key_spec), binding, remember=False
    )
    next_time = now + record.rotation_interval * DAY_MS if record.key_rotation_enabled else None
    return record.replace(versions=record.versions.rotated(wrapped, now), next_rotation_time=next_time)


def _update(
    services: Services, caller: Caller, key_id: str, change: Callable[[KeyRecord, int], KeyRecord]
) -> KeyRecord:
    """Open the key for ``Use.ROTATE``, apply ``change`` and write it conditionally, retrying lost races."""
    for _ in range(MAX_ATTEMPTS):
        record = open_key(services, caller, key_id, Use.ROTATE).record
        try:
            return services.stores.keys.update_key(change(record, now_ms()), record.revision)
        except errors.ConcurrentUpdate:
            continue
    raise errors.ServiceUnavailable("The key is being changed concurrently; retry the request.")


def _enable(record: KeyRecord, now: int) -> KeyRecord:
    if record.key_rotation_enabled:
        raise errors.RotationNotDisabled
    return record.replace(
        key_rotation_enabled=True, next_rotation_time=now + record.rotation_interval * DAY_MS
    )


def _disable(record: KeyRecord, _now: int) -> KeyRecord:
    if not record.key_rotation_enabled:
        raise errors.RotationNotEnabled
    return record.replace(key_rotation_enabled=False, next_rotation_time=None)


def enable_key_rotation(
    body: OperateKeyRequestBody, caller: Caller, services: Services
) -> KeyRotationChangeResponseBody:
    """§11 op 46: the first rotation is one interval (365 days unless changed) from now."""
    _update(services, caller, body.key_id, _enable)
    return KeyRotationChangeResponseBody()


def disable_key_rotation(
    body: OperateKeyRequestBody, caller: Caller, services: Services
) -> KeyRotationChangeResponseBody:
    """§11 op 47: the versions made so far stay; the interval is kept for a later enable."""
    _update(services, caller, body.key_id, _disable)
    return KeyRotationChangeResponseBody()


def update_key_rotation_interval(
    body: UpdateKeyRotationIntervalRequestBody, caller: Caller, services: Services
) -> KeyRotationChangeResponseBody:
    """§11 op 49: the next rotation moves to one new interval after the start of the current period
    (the last rotation, or when rotation was enabled); if that has passed, the key is due now."""

    def change(record: KeyRecord, now: int) -> KeyRecord:
        if not record.key_rotation_enabled:
            raise errors.RotationNotEnabled
        started = (record.next_rotation_time or now + record.rotation_interval * DAY_MS) - (
            record.rotation_interval * DAY_MS
        )
        return record.replace(
            rotation_interval=body.rotation_interval,
            next_rotation_time=started + body.rotation_interval * DAY_MS,
        )

    _update(services, caller, body.key_id, change)
    return KeyRotationChangeResponseBody()


def rotate_on_demand(
    body: RotateOnDemandRequestBody, caller: Caller, services: Services
) -> RotateOnDemandResponseBody:
    """§11 op 50: rotate now, whether automatic rotation is enabled or not."""
    record = _update(services, caller, body.key_id, lambda current, now: rotate(services, current, now))
    return RotateOnDemandResponseBody(key_id=record.key_id)


def show_key_rotation_status(
    body: OperateKeyRequestBody, caller: Caller, services: Services
) -> ShowKeyRotationStatusResponseBody:
    """§11 op 48. ``number_of_rotations`` counts the versions after the first; ``key_materials``
    lists the live versions, oldest first, each enabled (state 2): each still decrypts."""
    record = open_key(services, caller, body.key_id, Use.DESCRIBE).record
    versions = record.versions.versions
    rotations = max(len(versions) - 1, 0)
    return ShowKeyRotationStatusResponseBody(
        key_rotation_enabled=record.key_rotation_enabled,
        rotation_interval=record.rotation_interval,
        last_rotation_time=str(versions[-1].created_at) if rotations else "",
        number_of_rotations=rotations,
        key_materials=[
            RotationKeyMaterial(
                material_id=str(uuid.uuid5(_MATERIAL_NAMESPACE, f"{record.key_id}/{version.number}")),
                charge_id="",
                create_time=str(version.created_at),
                expiration_time="",
                state=MATERIAL_ENABLED,
            )
            for version in versions
            if version.is_live
        ],
    )
