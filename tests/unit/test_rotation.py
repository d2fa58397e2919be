"""Key rotation (spec §11 ops 46-50; access-control §7): which keys rotate and the codes for the
others, the status on the wire, what a rotation does to ciphertexts, and the automatic rotation."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import blob
from skms.domain import KeyRecord, KeyState, Origin
from skms.logic.auto_rotation import rotate_due_keys
from skms.logic.create_key import create_key
from skms.logic.data import decrypt_data, encrypt_data, re_encrypt
from skms.logic.datakeys import create_datakey, decrypt_datakey
from skms.logic.keypairs import create_ec_datakey_pair
from skms.logic.keys import cancel_key_deletion, disable_key, enable_key, schedule_key_deletion
from skms.logic.rotation import (
    DAY_MS,
    disable_key_rotation,
    enable_key_rotation,
    rotate_on_demand,
    show_key_rotation_status,
    update_key_rotation_interval,
)
from skms.models.base import parse_body
from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody, ReEncryptRequestBody
from skms.models.datakeys import CreateDatakeyRequestBody, DecryptDatakeyRequestBody
from skms.models.keypairs import CreateEcDatakeyPairRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody, ScheduleKeyDeletionRequestBody
from skms.models.rotation import RotateOnDemandRequestBody, UpdateKeyRotationIntervalRequestBody
from skms.runtime import Services
from tests.conftest import make_services


def _key(services: Services, caller: Caller, **fields: Any) -> str:
    body = CreateKeyRequestBody(**fields)
    return create_key(body, caller, services).key_info.key_id


def _okb(key_id: str) -> OperateKeyRequestBody:
    return OperateKeyRequestBody(key_id=key_id)


def _record(services: Services, caller: Caller, key_id: str) -> KeyRecord:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    return record


def _set(services: Services, caller: Caller, key_id: str, **changes: Any) -> KeyRecord:
    record = _record(services, caller, key_id)
    return services.stores.keys.update_key(record.replace(**changes), record.revision)


def _rotate(services: Services, caller: Caller, key_id: str) -> None:
    rotate_on_demand(RotateOnDemandRequestBody(key_id=key_id), caller, services)


def _code(action: Any) -> str:
    with pytest.raises(errors.KmsError) as raised:
        action()
    return raised.value.code


def _version_of(cipher_text_b64: str) -> int:
    return blob.read_header(base64.b64decode(cipher_text_b64)).key_version


RotationOp = Callable[[Services, Caller, str], object]
ROTATION_OPS: dict[str, RotationOp] = {
    "enable": lambda s, c, k: enable_key_rotation(_okb(k), c, s),
    "disable": lambda s, c, k: disable_key_rotation(_okb(k), c, s),
    "interval": lambda s, c, k: update_key_rotation_interval(
        UpdateKeyRotationIntervalRequestBody(key_id=k, rotation_interval=90), c, s
    ),
    "on-demand": lambda s, c, k: rotate_on_demand(RotateOnDemandRequestBody(key_id=k), c, s),
}


# -- which keys rotate ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_symmetric_kms_keys_rotate_on_demand_and_by_schedule(
    memory_services: Services, caller: Caller, spec: str
) -> None:
    # Given an enabled symmetric key made by KMS
    key_id = _key(memory_services, caller, key_alias="k", key_spec=spec)
    # When rotation is enabled and the key is rotated on demand, Then both succeed
    enable_key_rotation(_okb(key_id), caller, memory_services)
    _rotate(memory_services, caller, key_id)
    status = show_key_rotation_status(_okb(key_id), caller, memory_services)
    assert (status.key_rotation_enabled, status.number_of_rotations) == (True, 1)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"key_spec": "RSA_2048"}, "KMS.0324"),
        ({"key_spec": "EC_P256", "key_usage": "SIGN_VERIFY"}, "KMS.0324"),
        ({"key_spec": "SM2", "key_usage": "SIGN_VERIFY"}, "KMS.0324"),
        ({"key_spec": "HMAC_256", "key_usage": "GENERATE_VERIFY_MAC"}, "KMS.0341"),
        ({"origin": "external"}, "KMS.1301"),  # pending import: not enabled (the state comes first)
    ],
)
@pytest.mark.parametrize("operation", sorted(ROTATION_OPS))
def test_keys_that_cannot_rotate_are_refused_with_their_code(
    memory_services: Services, caller: Caller, fields: dict[str, str], code: str, operation: str
) -> None:
    key_id = _key(memory_services, caller, key_alias="k", **fields)
    assert _code(lambda: ROTATION_OPS[operation](memory_services, caller, key_id)) == code


@pytest.mark.parametrize("operation", sorted(ROTATION_OPS))
def test_external_keys_with_material_and_default_keys_cannot_rotate(
    memory_services: Services, caller: Caller, operation: str
) -> None:
    # Given a key whose material was imported (origin external, enabled) and a service default key
    external = _key(memory_services, caller, key_alias="ext")
    _set(memory_services, caller, external, origin=Origin.EXTERNAL)
    default = _key(memory_services, caller, key_alias="def")
    _set(memory_services, caller, default, key_alias="obs/default", default_key_flag="1")
    # Then external keys get KMS.0312 and default keys KMS.0211
    assert _code(lambda: ROTATION_OPS[operation](memory_services, caller, external)) == "KMS.0312"
    assert _code(lambda: ROTATION_OPS[operation](memory_services, caller, default)) == "KMS.0211"


@pytest.mark.parametrize("operation", sorted(ROTATION_OPS))
def test_rotation_operations_need_an_enabled_key(
    memory_services: Services, caller: Caller, operation: str
) -> None:
    # Given a disabled key and a key pending deletion
    disabled = _key(memory_services, caller, key_alias="off")
    disable_key(_okb(disabled), caller, memory_services)
    doomed = _key(memory_services, caller, key_alias="doomed")
    schedule_key_deletion(
        ScheduleKeyDeletionRequestBody(key_id=doomed, pending_days="7"), caller, memory_services
    )
    # Then every rotation operation refuses them (§F1), and changes nothing
    assert _code(lambda: ROTATION_OPS[operation](memory_services, caller, disabled)) == "KMS.0209"
    assert _code(lambda: ROTATION_OPS[operation](memory_services, caller, doomed)) == "KMS.0210"
    assert _record(memory_services, caller, disabled).versions.next_number == 1
    # And an unknown key is KMS.0207
    unknown = "00000000-0000-0000-0000-000000000000"
    assert _code(lambda: ROTATION_OPS[operation](memory_services, caller, unknown)) == "KMS.0207"


# -- enable, disable, interval -------------------------------------------------------------------


def test_enable_twice_is_kms_2901_and_disable_or_interval_without_rotation_is_kms_0313(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _key(memory_services, caller, key_alias="k")
    # Rotation not enabled: disable and interval updates are KMS.0313
    assert _code(lambda: ROTATION_OPS["disable"](memory_services, caller, key_id)) == "KMS.0313"
    assert _code(lambda: ROTATION_OPS["interval"](memory_services, caller, key_id)) == "KMS.0313"
    # Enabled: enabling again is KMS.2901
    enable_key_rotation(_okb(key_id), caller, memory_services)
    assert _code(lambda: ROTATION_OPS["enable"](memory_services, caller, key_id)) == "KMS.2901"
    # Disabled again: the flag is off, describe-key's string says so
    disable_key_rotation(_okb(key_id), caller, memory_services)
    record = _record(memory_services, caller, key_id)
    assert (record.key_rotation_enabled, record.next_rotation_time) == (False, None)


@pytest.mark.parametrize("value", [29, 366, 0, -30, "90", 90.0, True, None])
def test_a_rotation_interval_outside_30_to_365_days_or_not_an_integer_is_kms_3001(value: Any) -> None:
    body = {"key_id": "bb6a3d22-dc93-47ac-b5bd-88df7ad35f1e", "rotation_interval": value}
    with pytest.raises(errors.KmsError) as raised:
        parse_body(UpdateKeyRotationIntervalRequestBody, body)
    assert raised.value.code == "KMS.3001"


@pytest.mark.parametrize("value", [30, 365])
def test_the_interval_bounds_are_inclusive(value: int) -> None:
    body = {"key_id": "bb6a3d22-dc93-47ac-b5bd-88df7ad35f1e", "rotation_interval": value}
    assert parse_body(UpdateKeyRotationIntervalRequestBody, body).rotation_interval == value


def test_enabling_schedules_the_first_rotation_one_interval_later_and_the_interval_moves_it(
    memory_services: Services, caller: Caller
) -> None:
    # Given a key, When rotation is enabled, Then the default interval is 365 days from now
    key_id = _key(memory_services, caller, key_alias="k")
    enable_key_rotation(_okb(key_id), caller, memory_services)
    record = _record(memory_services, caller, key_id)
    assert record.rotation_interval == 365
    assert record.next_rotation_time is not None
    started = record.next_rotation_time - 365 * DAY_MS
    # When the interval becomes 30 days, Then the next rotation is 30 days after the same start
    update_key_rotation_interval(
        UpdateKeyRotationIntervalRequestBody(key_id=key_id, rotation_interval=30), caller, memory_services
    )
    record = _record(memory_services, caller, key_id)
    assert (record.rotation_interval, record.next_rotation_time) == (30, started + 30 * DAY_MS)
    # And a rotation restarts the period from the rotation
    _rotate(memory_services, caller, key_id)
    record = _record(memory_services, caller, key_id)
    assert record.next_rotation_time == record.versions.versions[-1].created_at + 30 * DAY_MS
    # And disabling then enabling again keeps the interval chosen
    disable_key_rotation(_okb(key_id), caller, memory_services)
    enable_key_rotation(_okb(key_id), caller, memory_services)
    assert show_key_rotation_status(_okb(key_id), caller, memory_services).rotation_interval == 30


# -- the status on the wire ----------------------------------------------------------------------


def test_the_status_has_the_sdk_types_and_lists_every_live_version(
    memory_services: Services, caller: Caller
) -> None:
    # Given a new key, Then its status is: not enabled, 365 days, never rotated, one material
    key_id = _key(memory_services, caller, key_alias="k")
    wire = show_key_rotation_status(_okb(key_id), caller, memory_services).model_dump(mode="json")
    assert wire["key_rotation_enabled"] is False
    assert (wire["rotation_interval"], wire["last_rotation_time"], wire["number_of_rotations"]) == (
        365,
        "",
        0,
    )
    assert [m["state"] for m in wire["key_materials"]] == [2]
    # When it is rotated twice
    enable_key_rotation(_okb(key_id), caller, memory_services)
    _rotate(memory_services, caller, key_id)
    _rotate(memory_services, caller, key_id)
    wire = show_key_rotation_status(_okb(key_id), caller, memory_services).model_dump(mode="json")
    record = _record(memory_services, caller, key_id)
    # Then a JSON boolean, numbers, an epoch-ms string, and three materials with stable uuids
    assert wire["key_rotation_enabled"] is True
    assert wire["number_of_rotations"] == 2
    assert wire["last_rotation_time"] == str(record.versions.versions[-1].created_at)
    materials = wire["key_materials"]
    assert [m["create_time"] for m in materials] == [str(v.created_at) for v in record.versions.versions]
    assert len({m["material_id"] for m in materials}) == 3
    assert all(isinstance(m["state"], int) and m["state"] == 2 for m in materials)
    again = show_key_rotation_status(_okb(key_id), caller, memory_services).model_dump(mode="json")
    assert again["key_materials"] == materials
    # And the status stays readable on a disabled key and on a key that cannot rotate
    disable_key(_okb(key_id), caller, memory_services)
    assert show_key_rotation_status(_okb(key_id), caller, memory_services).number_of_rotations == 2
    rsa = _key(memory_services, caller, key_alias="rsa", key_spec="RSA_2048")
    assert show_key_rotation_status(_okb(rsa), caller, memory_services).key_rotation_enabled is False


# -- what a rotation does to ciphertexts ---------------------------------------------------------


def test_ciphertexts_of_every_version_decrypt_after_rotations_and_re_encrypt_moves_them_to_the_newest(
    services: Services, caller: Caller
) -> None:
    # Given a key, a ciphertext, a data key and a key pair's private-key ciphertext per version,
    # made before each of two rotations (and after both)
    key_id = _key(services, caller, key_alias="k")
    made: list[tuple[int, str, str, str, str]] = []
    for version in range(3):
        if version:
            _rotate(services, caller, key_id)
        data = encrypt_data(
            EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr(f"text {version}")), caller, services
        ).cipher_text
        dek = create_datakey(CreateDatakeyRequestBody(key_id=key_id), caller, services)
        pair = create_ec_datakey_pair(
            CreateEcDatakeyPairRequestBody(key_id=key_id, key_spec="ECC_NIST_P256"), caller, services
        )
        assert _version_of(data) == version
        assert pair.private_key_cipher_text is not None
        made.append(
            (version, data, dek.cipher_text, dek.plain_text.get_secret_value(), pair.private_key_cipher_text)
        )
    # When every one is opened, by a warm process and by a cold one (nothing cached)
    cold = make_services(services.settings, services.stores)
    for version, data, dek_cipher, dek_plain, pair_cipher in made:
        for svc in (services, cold):
            opened = decrypt_data(DecryptDataRequestBody(cipher_text=data), caller, svc)
            assert opened.plain_text.get_secret_value() == f"text {version}"
            key = decrypt_datakey(
                DecryptDatakeyRequestBody(key_id=key_id, cipher_text=dek_cipher, datakey_cipher_length="32"),
                caller,
                svc,
            )
            assert key.data_key.get_secret_value() == dek_plain
            assert decrypt_data(
                DecryptDataRequestBody(cipher_text=pair_cipher), caller, svc
            ).plain_text_base64
        # And re-encrypt onto the same key moves each to the newest version
        moved = re_encrypt(
            ReEncryptRequestBody(cipher_text=data, destination_key_id=key_id), caller, services
        )
        assert _version_of(moved.cipher_text) == 2
        again = decrypt_data(DecryptDataRequestBody(cipher_text=moved.cipher_text), caller, cold)
        assert again.plain_text.get_secret_value() == f"text {version}"


def test_concurrent_rotations_on_demand_each_add_a_version_and_every_version_opens_cold(
    services: Services, caller: Caller
) -> None:
    # Given a key and two processes' worth of services on the same store
    key_id = _key(services, caller, key_alias="k")
    other = make_services(services.settings, services.stores)
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def run(svc: Services) -> None:
        try:
            barrier.wait()
            _rotate(svc, caller, key_id)
        except BaseException as error:  # reported below
            failures.append(error)

    # When four rotations race (two per process, sharing each process's material cache)
    threads = [threading.Thread(target=run, args=(svc,)) for svc in (services, services, other, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each made a version, and what each process encrypts now opens in a cold one: no process
    # cached material of a version number whose write it lost
    assert failures == []
    assert _record(services, caller, key_id).versions.next_number == 5
    cold = make_services(services.settings, services.stores)
    for svc in (services, other):
        cipher = encrypt_data(
            EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr("x")), caller, svc
        ).cipher_text
        assert _version_of(cipher) == 4
        assert (
            decrypt_data(
                DecryptDataRequestBody(cipher_text=cipher), caller, cold
            ).plain_text.get_secret_value()
            == "x"
        )


# -- automatic rotation --------------------------------------------------------------------------


@pytest.fixture(params=["memory_services", "services"])
def any_services(request: pytest.FixtureRequest) -> Services:
    services: Services = request.getfixturevalue(request.param)
    return services


def test_a_key_is_rotated_automatically_once_per_period(any_services: Services, caller: Caller) -> None:
    # Given a key with rotation enabled and interval 30 days, and a ciphertext under version 0
    key_id = _key(any_services, caller, key_alias="k")
    enable_key_rotation(_okb(key_id), caller, any_services)
    update_key_rotation_interval(
        UpdateKeyRotationIntervalRequestBody(key_id=key_id, rotation_interval=30), caller, any_services
    )
    due = _record(any_services, caller, key_id).next_rotation_time
    assert due is not None
    old = encrypt_data(
        EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr("old")), caller, any_services
    ).cipher_text
    # When the schedule runs a moment before the period ends, Then nothing happens
    assert rotate_due_keys(any_services, now=due - 1).rotated == 0
    # When it runs at the end, Then the key is rotated once, even if it runs again then
    assert rotate_due_keys(any_services, now=due).rotated == 1
    assert rotate_due_keys(any_services, now=due).rotated == 0
    record = _record(any_services, caller, key_id)
    assert (record.versions.primary, record.next_rotation_time) == (1, due + 30 * DAY_MS)
    # And the next period rotates it again; the old ciphertext still opens
    assert rotate_due_keys(any_services, now=due + 30 * DAY_MS).rotated == 1
    assert _record(any_services, caller, key_id).versions.primary == 2
    opened = decrypt_data(DecryptDataRequestBody(cipher_text=old), caller, any_services)
    assert opened.plain_text.get_secret_value() == "old"


def test_disabled_and_pending_deletion_keys_are_not_rotated_until_enabled_again(
    any_services: Services, caller: Caller
) -> None:
    # Given two keys with rotation enabled, then one disabled and one scheduled for deletion
    off = _key(any_services, caller, key_alias="off")
    doomed = _key(any_services, caller, key_alias="doomed")
    for key_id in (off, doomed):
        enable_key_rotation(_okb(key_id), caller, any_services)
    disable_key(_okb(off), caller, any_services)
    schedule_key_deletion(
        ScheduleKeyDeletionRequestBody(key_id=doomed, pending_days="7"), caller, any_services
    )
    later = _record(any_services, caller, off).next_rotation_time + 1  # type: ignore[operator]
    # When their periods have passed, Then neither is rotated
    assert rotate_due_keys(any_services, now=later + DAY_MS).rotated == 0
    # When the deletion is cancelled (disabled, §F1) and both are enabled again, Then both are
    # overdue and rotated by the next run, their rotation status restored
    cancel_key_deletion(_okb(doomed), caller, any_services)
    for key_id in (off, doomed):
        enable_key(_okb(key_id), caller, any_services)
    assert rotate_due_keys(any_services, now=later + DAY_MS).rotated == 2
    for key_id in (off, doomed):
        status = show_key_rotation_status(_okb(key_id), caller, any_services)
        assert (status.key_rotation_enabled, status.number_of_rotations) == (True, 1)


def test_keys_without_rotation_enabled_are_never_rotated_automatically(
    any_services: Services, caller: Caller
) -> None:
    key_id = _key(any_services, caller, key_alias="k")
    enable_key_rotation(_okb(key_id), caller, any_services)
    disable_key_rotation(_okb(key_id), caller, any_services)
    assert rotate_due_keys(any_services, now=2**42).rotated == 0
    assert _record(any_services, caller, key_id).versions.primary == 0


def test_two_runs_at_once_rotate_each_due_key_once(services: Services, caller: Caller) -> None:
    # Given five due keys on SQLite, and two processes' services
    keys = [_key(services, caller, key_alias=f"k{i}") for i in range(5)]
    for key_id in keys:
        enable_key_rotation(_okb(key_id), caller, services)
    now = max(_record(services, caller, k).next_rotation_time or 0 for k in keys)
    other = make_services(services.settings, services.stores)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def run(svc: Services) -> None:
        barrier.wait()
        results.append(rotate_due_keys(svc, now=now).rotated)

    # When both run the schedule at the same moment
    threads = [threading.Thread(target=run, args=(svc,)) for svc in (services, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every key was rotated exactly once between them
    assert sum(results) == 5
    assert [_record(services, caller, k).versions.primary for k in keys] == [1] * 5


def test_state_of_a_key_is_unchanged_by_rotation(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller, key_alias="k")
    _rotate(memory_services, caller, key_id)
    record = _record(memory_services, caller, key_id)
    assert record.key_state is KeyState.ENABLED
    assert record.key_rotation_enabled is False  # on demand does not enable the schedule
    assert record.next_rotation_time is None


def test_skms_serve_runs_the_templates_scheduled_rotation(memory_services: Services, caller: Caller) -> None:
    # Given a key with rotation enabled whose period has passed
    import time

    from skms.local.scheduler import Scheduler
    from tests.conftest import TEMPLATE

    key_id = _key(memory_services, caller, key_alias="overdue")
    enable_key_rotation(_okb(key_id), caller, memory_services)
    _set(memory_services, caller, key_id, next_rotation_time=1)
    # When the local scheduler starts the template's scheduled functions
    scheduler = Scheduler(TEMPLATE, max_interval_seconds=0.2)
    assert "RotateDueKeysFunction" in scheduler.jobs
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _record(memory_services, caller, key_id).versions.primary == 0:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    # Then the key was rotated once, and its next rotation is a period later
    record = _record(memory_services, caller, key_id)
    assert record.versions.primary == 1
    assert record.next_rotation_time == record.versions.versions[-1].created_at + 365 * DAY_MS
