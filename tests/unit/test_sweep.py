"""Scheduled deletion really deletes: tombstones, idempotent, safe to run twice at once."""

from __future__ import annotations

import threading

import pytest

from skms import errors
from skms.caller import Caller
from skms.domain import KeyState
from skms.logic.create_key import create_key
from skms.logic.datakeys import create_datakey, decrypt_datakey
from skms.logic.keys import cancel_key_deletion, describe_key, list_keys, schedule_key_deletion
from skms.logic.lifecycle import DAY_MS
from skms.logic.sweep import sweep
from skms.models.datakeys import CreateDatakeyRequestBody, DecryptDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import ListKeysRequestBody, OperateKeyRequestBody, ScheduleKeyDeletionRequestBody
from skms.runtime import Services


def _scheduled_key(services: Services, caller: Caller, alias: str) -> tuple[str, int]:
    key_id = create_key(CreateKeyRequestBody(key_alias=alias), caller, services).key_info.key_id
    schedule_key_deletion(ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7"), caller, services)
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    assert record.scheduled_deletion_date is not None
    return key_id, record.scheduled_deletion_date


@pytest.fixture(params=["memory_services", "services"])
def any_services(request: pytest.FixtureRequest) -> Services:
    services: Services = request.getfixturevalue(request.param)
    return services


def test_a_key_is_deleted_only_once_its_date_has_passed(any_services: Services, caller: Caller) -> None:
    # Given a key with a data key, scheduled for deletion in 7 days
    key_id = create_key(CreateKeyRequestBody(key_alias="doomed"), caller, any_services).key_info.key_id
    dek = create_datakey(CreateDatakeyRequestBody(key_id=key_id), caller, any_services)
    schedule_key_deletion(
        ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7"), caller, any_services
    )
    due = any_services.stores.keys.get_key(caller.project_id, key_id).scheduled_deletion_date  # type: ignore[union-attr]
    assert due is not None
    # When the sweep runs a moment before the date / Then nothing happens
    assert sweep(any_services, now=due - 1).deleted == 0
    assert describe_key(OperateKeyRequestBody(key_id=key_id), caller, any_services).key_info.key_state == "4"
    # When it runs at the date / Then the key becomes a tombstone without material
    assert sweep(any_services, now=due).deleted == 1
    tombstone = any_services.stores.keys.get_key(caller.project_id, key_id)
    assert tombstone is not None
    assert (tombstone.deleted_at, tombstone.materials) == (due, {})
    # And no operation can use it, its ciphertexts fail cleanly, and its alias is not reused
    for attempt in (
        lambda: describe_key(OperateKeyRequestBody(key_id=key_id), caller, any_services),
        lambda: cancel_key_deletion(OperateKeyRequestBody(key_id=key_id), caller, any_services),
        lambda: decrypt_datakey(
            DecryptDatakeyRequestBody(key_id=key_id, cipher_text=dek.cipher_text, datakey_cipher_length="32"),
            caller,
            any_services,
        ),
    ):
        with pytest.raises(errors.KmsError) as caught:
            attempt()
        assert caught.value.code == "KMS.0207"
    with pytest.raises(errors.KmsError) as caught:
        create_key(CreateKeyRequestBody(key_alias="doomed"), caller, any_services)
    assert caught.value.code == "KMS.1104"
    listed = list_keys(ListKeysRequestBody(key_spec="ALL"), caller, any_services)
    assert key_id not in listed.keys
    assert listed.total == 0


def test_the_sweep_is_idempotent_and_spares_cancelled_keys(any_services: Services, caller: Caller) -> None:
    doomed, due = _scheduled_key(any_services, caller, "a")
    saved, _ = _scheduled_key(any_services, caller, "b")
    cancel_key_deletion(OperateKeyRequestBody(key_id=saved), caller, any_services)
    later = due + DAY_MS
    assert sweep(any_services, now=later).deleted == 1
    assert sweep(any_services, now=later).deleted == 0
    kept = any_services.stores.keys.get_key(caller.project_id, saved)
    assert kept is not None
    assert (kept.key_state, kept.deleted_at) == (KeyState.DISABLED, None)
    assert any_services.stores.keys.get_key(caller.project_id, doomed).deleted_at == later  # type: ignore[union-attr]


def test_two_sweeps_at_once_delete_each_key_exactly_once(services: Services, caller: Caller) -> None:
    # Given 30 keys due for deletion (SQLite: real concurrency)
    dues = [_scheduled_key(services, caller, f"k{i}")[1] for i in range(30)]
    now = max(dues) + 1
    results: list[int] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        results.append(sweep(services, now=now).deleted)

    # When three sweeps run at the same moment
    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then together they deleted each key once, and every key is a tombstone
    assert sum(results) == 30
    assert services.stores.keys.count_keys(caller.project_id) == 0
    assert services.stores.keys.due_for_deletion(now, 100) == []


def test_skms_serve_runs_the_templates_scheduled_sweep(memory_services: Services, caller: Caller) -> None:
    # Given a key whose deletion date has already passed
    import time

    from skms.local.scheduler import Scheduler
    from tests.conftest import TEMPLATE

    key_id, _ = _scheduled_key(memory_services, caller, "past")
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    memory_services.stores.keys.update_key(record.replace(scheduled_deletion_date=1), record.revision)
    # When the local scheduler starts the template's scheduled functions
    scheduler = Scheduler(TEMPLATE, max_interval_seconds=0.2)
    assert scheduler.jobs == ["DeleteExpiredKeysFunction", "RotateDueKeysFunction"]
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            current = memory_services.stores.keys.get_key(caller.project_id, key_id)
            if current is not None and current.deleted_at is not None:
                break
            time.sleep(0.05)
    finally:
        scheduler.stop()
    # Then the sweep ran and the key is a tombstone
    current = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert current is not None
    assert current.deleted_at is not None
