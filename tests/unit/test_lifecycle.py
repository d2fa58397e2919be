"""The key state machine (spec §F1, §F2): every (state, operation) pair, default keys, races."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from skms import errors
from skms.caller import Caller
from skms.domain import KeyRecord, KeyState
from skms.logic import keys
from skms.logic.create_key import create_key
from skms.logic.lifecycle import TRANSITIONS, Op
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import (
    OperateKeyRequestBody,
    ScheduleKeyDeletionRequestBody,
    UpdateKeyAliasRequestBody,
    UpdateKeyDescriptionRequestBody,
)
from skms.runtime import Services

S = KeyState
STATES = [S.PENDING_ACTIVATION, S.ENABLED, S.DISABLED, S.PENDING_DELETION, S.PENDING_IMPORT, S.FROZEN]

# The expected outcome of every (state, operation) pair, written out independently of TRANSITIONS:
# a state, "same" for an update that keeps the state, or the §F2 error code.
EXPECTED: dict[Op, dict[KeyState, str | KeyState]] = {
    Op.ENABLE: {
        S.PENDING_ACTIVATION: "KMS.1201",
        S.ENABLED: "KMS.1201",
        S.DISABLED: S.ENABLED,
        S.PENDING_DELETION: "KMS.0210",
        S.PENDING_IMPORT: "KMS.1201",
        S.FROZEN: "KMS.0320",
    },
    Op.DISABLE: {
        S.PENDING_ACTIVATION: "KMS.1301",
        S.ENABLED: S.DISABLED,
        S.DISABLED: "KMS.1301",
        S.PENDING_DELETION: "KMS.0210",
        S.PENDING_IMPORT: "KMS.1301",
        S.FROZEN: "KMS.0320",
    },
    Op.SCHEDULE_DELETION: {
        S.PENDING_ACTIVATION: S.PENDING_DELETION,
        S.ENABLED: S.PENDING_DELETION,
        S.DISABLED: S.PENDING_DELETION,
        S.PENDING_DELETION: "KMS.1402",
        S.PENDING_IMPORT: S.PENDING_DELETION,
        S.FROZEN: "KMS.0320",
    },
    Op.CANCEL_DELETION: {
        S.PENDING_ACTIVATION: "KMS.1501",
        S.ENABLED: "KMS.1501",
        S.DISABLED: "KMS.1501",
        S.PENDING_DELETION: S.DISABLED,
        S.PENDING_IMPORT: "KMS.1501",
        S.FROZEN: "KMS.0320",
    },
    Op.UPDATE_ALIAS: {
        S.PENDING_ACTIVATION: "same",
        S.ENABLED: "same",
        S.DISABLED: "same",
        S.PENDING_DELETION: "KMS.0210",
        S.PENDING_IMPORT: "same",
        S.FROZEN: "KMS.0320",
    },
    Op.UPDATE_DESCRIPTION: {
        S.PENDING_ACTIVATION: "same",
        S.ENABLED: "same",
        S.DISABLED: "same",
        S.PENDING_DELETION: "KMS.0210",
        S.PENDING_IMPORT: "same",
        S.FROZEN: "KMS.0320",
    },
}


def _call(op: Op, key_id: str, caller: Caller, services: Services, n: int = 0) -> object:
    calls: dict[Op, Callable[[], object]] = {
        Op.ENABLE: lambda: keys.enable_key(OperateKeyRequestBody(key_id=key_id), caller, services),
        Op.DISABLE: lambda: keys.disable_key(OperateKeyRequestBody(key_id=key_id), caller, services),
        Op.SCHEDULE_DELETION: lambda: keys.schedule_key_deletion(
            ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7"), caller, services
        ),
        Op.CANCEL_DELETION: lambda: keys.cancel_key_deletion(
            OperateKeyRequestBody(key_id=key_id), caller, services
        ),
        Op.UPDATE_ALIAS: lambda: keys.update_key_alias(
            UpdateKeyAliasRequestBody(key_id=key_id, key_alias=f"renamed-{n}"), caller, services
        ),
        Op.UPDATE_DESCRIPTION: lambda: keys.update_key_description(
            UpdateKeyDescriptionRequestBody(key_id=key_id, key_description=f"d{n}"), caller, services
        ),
    }
    return calls[op]()


def _key_in(state: KeyState, services: Services, caller: Caller, alias: str = "k") -> KeyRecord:
    key_id = create_key(CreateKeyRequestBody(key_alias=alias), caller, services).key_info.key_id
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    return services.stores.keys.update_key(record.replace(key_state=state), record.revision)


def test_the_table_covers_every_pair() -> None:
    assert {(s, op) for s in STATES for op in Op} <= set(TRANSITIONS)


@pytest.mark.parametrize("state", STATES, ids=lambda s: f"state{s.value}")
@pytest.mark.parametrize("op", list(Op), ids=lambda o: o.value)
def test_every_state_and_operation(
    memory_services: Services, caller: Caller, state: KeyState, op: Op
) -> None:
    # Given a key in `state`
    before = _key_in(state, memory_services, caller)
    expected = EXPECTED[op][state]
    # When `op` is applied
    if isinstance(expected, str) and expected.startswith("KMS."):
        with pytest.raises(errors.KmsError) as caught:
            _call(op, before.key_id, caller, memory_services)
        # Then the §F2 error is raised and nothing changed
        assert caught.value.code == expected
        assert memory_services.stores.keys.get_key(caller.project_id, before.key_id) == before
        return
    _call(op, before.key_id, caller, memory_services)
    after = memory_services.stores.keys.get_key(caller.project_id, before.key_id)
    assert after is not None
    # Then the key is in the expected state, with one more revision
    assert after.key_state == (state if expected == "same" else expected)
    assert after.revision == before.revision + 1
    if op is Op.SCHEDULE_DELETION:
        assert after.scheduled_deletion_date is not None
    if op is Op.CANCEL_DELETION:
        assert after.scheduled_deletion_date is None


@pytest.mark.parametrize("op", [Op.DISABLE, Op.SCHEDULE_DELETION, Op.UPDATE_ALIAS, Op.UPDATE_DESCRIPTION])
def test_default_keys_refuse_changes(memory_services: Services, caller: Caller, op: Op) -> None:
    record = _key_in(S.ENABLED, memory_services, caller)
    default = memory_services.stores.keys.update_key(
        record.replace(default_key_flag="1", key_alias="obs/default"), record.revision
    )
    with pytest.raises(errors.KmsError) as caught:
        _call(op, default.key_id, caller, memory_services)
    assert caught.value.code == "KMS.0211"


def test_cancelling_deletion_of_a_key_without_material_returns_it_to_pending_import(
    memory_services: Services, caller: Caller
) -> None:
    key_id = create_key(
        CreateKeyRequestBody(key_alias="ext", origin="external"), caller, memory_services
    ).key_info.key_id
    _call(Op.SCHEDULE_DELETION, key_id, caller, memory_services)
    reply = keys.cancel_key_deletion(OperateKeyRequestBody(key_id=key_id), caller, memory_services)
    assert reply.key_state == S.PENDING_IMPORT.value


@pytest.mark.parametrize("days", ["6", "1097", "0"])
def test_pending_days_range(memory_services: Services, caller: Caller, days: str) -> None:
    record = _key_in(S.ENABLED, memory_services, caller)
    with pytest.raises(errors.KmsError) as caught:
        keys.schedule_key_deletion(
            ScheduleKeyDeletionRequestBody(key_id=record.key_id, pending_days=days), caller, memory_services
        )
    assert caught.value.code == "KMS.1401"


def test_alias_rename_respects_uniqueness(memory_services: Services, caller: Caller) -> None:
    first = _key_in(S.ENABLED, memory_services, caller, "first")
    _key_in(S.ENABLED, memory_services, caller, "second")
    with pytest.raises(errors.KmsError) as caught:
        keys.update_key_alias(
            UpdateKeyAliasRequestBody(key_id=first.key_id, key_alias="second"), caller, memory_services
        )
    assert caught.value.code == "KMS.1104"
    with pytest.raises(errors.KmsError) as caught:
        keys.update_key_alias(
            UpdateKeyAliasRequestBody(key_id=first.key_id, key_alias="x/default"), caller, memory_services
        )
    assert caught.value.code == "KMS.1101"


def test_concurrent_state_changes_lose_no_update(services: Services, caller: Caller) -> None:
    """Many threads toggling one key (SQLite, real concurrency): the final state and revision
    account for exactly the operations that reported success."""
    record = _key_in(S.ENABLED, services, caller)
    successes: list[Op] = []
    refusals: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def worker(index: int) -> None:
        barrier.wait()
        for step in range(10):
            op = (Op.DISABLE, Op.ENABLE, Op.UPDATE_DESCRIPTION)[(index + step) % 3]
            try:
                _call(op, record.key_id, caller, services, n=index * 100 + step)
            except errors.KmsError as exc:
                with lock:
                    refusals.append(exc.code)
                continue
            with lock:
                successes.append(op)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Only "already in that state" refusals: never a lost race surfacing as an error
    assert set(refusals) <= {"KMS.1201", "KMS.1301"}
    assert len(successes) + len(refusals) == 120
    final = services.stores.keys.get_key(caller.project_id, record.key_id)
    assert final is not None
    # Every successful operation is one revision; enables and disables alternate from "enabled".
    assert final.revision == record.revision + len(successes)
    toggles = [op for op in successes if op is not Op.UPDATE_DESCRIPTION]
    assert final.key_state == (S.ENABLED if len(toggles) % 2 == 0 else S.DISABLED)
    assert successes.count(Op.DISABLE) - successes.count(Op.ENABLE) in (0, 1)
