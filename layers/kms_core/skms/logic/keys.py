"""Key lifecycle operations (spec §3 ops 2-9): describe, list, enable, disable, schedule and cancel
deletion, update alias and description. State changes go through :mod:`skms.logic.lifecycle`."""

from __future__ import annotations

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.domain import DEFAULT_KEY_SUFFIX, KeyRecord
from skms.logic import lifecycle
from skms.logic.gate import Use, open_key
from skms.logic.lifecycle import Op
from skms.models.keys import KEY_SPECS
from skms.models.lifecycle import (
    DescribeKeyResponseBody,
    KeyAliasInfo,
    KeyDescriptionInfo,
    KeyDetails,
    KeyStateResponseBody,
    KeyStatusInfo,
    KeyStatusResponseBody,
    ListKeysRequestBody,
    ListKeysResponseBody,
    OperateKeyRequestBody,
    ScheduleKeyDeletionRequestBody,
    UpdateKeyAliasRequestBody,
    UpdateKeyAliasResponseBody,
    UpdateKeyDescriptionRequestBody,
    UpdateKeyDescriptionResponseBody,
)
from skms.runtime import Services
from skms.storage.port import AliasExists, KeyFilter

MIN_PENDING_DAYS, MAX_PENDING_DAYS = 7, 1096  # §3 op 6
DEFAULT_LIST_LIMIT = 1000


def describe_key(body: OperateKeyRequestBody, caller: Caller, services: Services) -> DescribeKeyResponseBody:
    return DescribeKeyResponseBody(
        key_info=KeyDetails.of(open_key(services, caller, body.key_id, Use.DESCRIBE).record)
    )


def _status(record: KeyRecord) -> KeyStatusResponseBody:
    return KeyStatusResponseBody(
        key_info=KeyStatusInfo(key_id=record.key_id, key_state=record.key_state.value)
    )


def enable_key(body: OperateKeyRequestBody, caller: Caller, services: Services) -> KeyStatusResponseBody:
    return _status(lifecycle.apply(services, caller, body.key_id, Op.ENABLE))


def disable_key(body: OperateKeyRequestBody, caller: Caller, services: Services) -> KeyStatusResponseBody:
    return _status(lifecycle.apply(services, caller, body.key_id, Op.DISABLE))


def schedule_key_deletion(
    body: ScheduleKeyDeletionRequestBody, caller: Caller, services: Services
) -> KeyStateResponseBody:
    days = int(body.pending_days)
    if not MIN_PENDING_DAYS <= days <= MAX_PENDING_DAYS:
        raise errors.InvalidPendingDays
    record = lifecycle.apply(
        services,
        caller,
        body.key_id,
        Op.SCHEDULE_DELETION,
        lambda current, state: lifecycle.schedule_deletion(current, state, days),
    )
    services.keyring.forget(record)
    return KeyStateResponseBody(key_id=record.key_id, key_state=record.key_state.value)


def cancel_key_deletion(
    body: OperateKeyRequestBody, caller: Caller, services: Services
) -> KeyStateResponseBody:
    record = lifecycle.apply(services, caller, body.key_id, Op.CANCEL_DELETION, lifecycle.cancel_deletion)
    return KeyStateResponseBody(key_id=record.key_id, key_state=record.key_state.value)


def update_key_alias(
    body: UpdateKeyAliasRequestBody, caller: Caller, services: Services
) -> UpdateKeyAliasResponseBody:
    if body.key_alias.endswith(DEFAULT_KEY_SUFFIX):
        raise errors.InvalidKeyAlias("The suffix /default is reserved for service default keys.")
    try:
        record = lifecycle.apply(
            services,
            caller,
            body.key_id,
            Op.UPDATE_ALIAS,
            lambda current, _state: current.replace(key_alias=body.key_alias),
        )
    except AliasExists:
        raise errors.DuplicateAlias from None
    return UpdateKeyAliasResponseBody(key_info=KeyAliasInfo(key_id=record.key_id, key_alias=record.key_alias))


def update_key_description(
    body: UpdateKeyDescriptionRequestBody, caller: Caller, services: Services
) -> UpdateKeyDescriptionResponseBody:
    record = lifecycle.apply(
        services,
        caller,
        body.key_id,
        Op.UPDATE_DESCRIPTION,
        lambda current, _state: current.replace(key_description=body.key_description),
    )
    return UpdateKeyDescriptionResponseBody(
        key_info=KeyDescriptionInfo(key_id=record.key_id, key_description=record.key_description)
    )


def _filters(body: ListKeysRequestBody) -> KeyFilter:
    """§3 op 3: key_spec defaults to AES_256 ("ALL" for every spec); enterprise project "all" = any."""
    spec = body.key_spec or "AES_256"
    if spec != "ALL" and spec not in KEY_SPECS:
        raise errors.InvalidAlgorithm("Unsupported key_spec filter.")
    project = body.enterprise_project_id
    return KeyFilter(
        key_spec=None if spec == "ALL" else spec,
        key_state=body.key_state,
        enterprise_project_id=None if project in (None, "", "all") else project,
    )


def list_keys(body: ListKeysRequestBody, caller: Caller, services: Services) -> ListKeysResponseBody:
    limit = DEFAULT_LIST_LIMIT if body.limit is None else int(body.limit)
    if not 1 <= limit <= min(services.settings.key_quota, DEFAULT_LIST_LIMIT):
        raise errors.InvalidLimit(f"limit must be between 1 and {min(services.settings.key_quota, 1000)}.")
    filters = _filters(body)
    listed_at = now_ms()
    try:
        page = services.stores.keys.list_keys(caller.project_id, limit, body.marker or None, filters=filters)
    except ValueError:
        raise errors.InvalidMarker("marker must be a next_marker returned by list-keys.") from None
    return ListKeysResponseBody(
        keys=[record.key_id for record in page.records],
        # Imported material that has expired is gone from that moment (access-control §6.3), even
        # before the sweep erases it: such a key is listed pending import, as describe-key shows it.
        key_details=[KeyDetails.of(record.material_expired(listed_at)) for record in page.records],
        next_marker=page.next_cursor or "",
        truncated="true" if page.next_cursor else "false",
        total=services.stores.keys.count_keys(caller.project_id, filters=filters),
    )
