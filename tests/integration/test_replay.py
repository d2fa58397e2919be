"""Replay protection (README, Safe retries): a signed (AK/SK) request is executed at most once within
its X-Sdk-Date window. A state-changing request's second arrival gets the first answer and changes
nothing; with KMS_REPLAY_PROTECTION=all, a replay of an operation whose answer holds a secret is
refused (403 KMS.0307); token requests carry no per-request signature and are not deduplicated."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from skms import idempotency
from skms.config import Settings
from skms.runtime import Services, build_services, set_services
from skms.storage.idempotency import PARTITION_PREFIX
from tests.conftest import PROJECT_ID


def _state(services: Services, key_id: str) -> str:
    record = services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    return str(record.key_state.value)


def _records(services: Services) -> list[dict[str, Any]]:
    table = services.settings.table_name
    assert table is not None
    items: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return [item for item in items if item["PK"]["S"].startswith(PARTITION_PREFIX)]


@pytest.fixture
def replay_mode(request: pytest.FixtureRequest, aws_settings: Settings) -> Iterator[Services]:
    """The handlers' services with KMS_REPLAY_PROTECTION set to the test's parameter."""
    services = build_services(aws_settings.model_copy(update={"replay_protection": request.param}))
    set_services(services)
    yield services
    set_services(None)


@pytest.fixture(autouse=True)
def replays_come_later(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay arrives after the same-second grace (skms.idempotency.REPLAY_GRACE_SECONDS) unless a
    test is marked to keep it: these tests run faster than a second."""
    if "keeps_grace" not in request.keywords:
        monkeypatch.setattr(idempotency, "REPLAY_GRACE_SECONDS", 0)


@pytest.mark.keeps_grace
def test_a_clients_identical_repeat_within_the_signing_second_is_a_new_request(
    kms, aws_services: Services, principals
) -> None:
    # Given an enabled key, disabled by a signed request
    key_id = kms.create_key()
    disable = kms.signed_api_event("disable_key", principals, {"key_id": key_id})
    assert kms.api("disable_key", copy.deepcopy(disable)).status == 200
    # When the byte-identical request arrives again within the grace (the SDK's date has one-second
    # resolution: a client disabling twice in one second sends exactly this)
    again = kms.api("disable_key", copy.deepcopy(disable))
    # Then it runs as a new request: disabling a disabled key is KMS.1301, as without protection
    assert again.status == 400
    assert again.body["error"]["error_code"] == "KMS.1301"
    assert _state(aws_services, key_id) == "3"


@pytest.mark.keeps_grace
def test_a_repeat_after_the_grace_is_a_replay(
    kms, aws_services: Services, principals, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = kms.create_key()
    disable = kms.signed_api_event("disable_key", principals, {"key_id": key_id})
    first = kms.api("disable_key", copy.deepcopy(disable))
    assert first.status == 200
    assert kms.call("enable_key", {"key_id": key_id}).status == 200
    # When the same request arrives a few seconds later (still inside its date window)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + idempotency.REPLAY_GRACE_SECONDS + 1)
    replay = kms.api("disable_key", copy.deepcopy(disable))
    # Then it gets the first answer and the key stays enabled
    assert (replay.status, replay.body) == (200, first.body)
    assert _state(aws_services, key_id) == "2"


def test_a_replayed_enable_key_leaves_the_key_disabled(kms, aws_services: Services, principals) -> None:
    # Given a disabled key, enabled by a signed request that an attacker captured
    key_id = kms.create_key()
    assert kms.call("disable_key", {"key_id": key_id}).status == 200
    captured = kms.signed_api_event("enable_key", principals, {"key_id": key_id})
    first = kms.api("enable_key", copy.deepcopy(captured))
    assert (first.status, _state(aws_services, key_id)) == (200, "2")
    # And the owner disables the key again
    assert kms.call("disable_key", {"key_id": key_id}).status == 200

    # When the captured request is sent again, within its date window
    replay = kms.api("enable_key", copy.deepcopy(captured))

    # Then it gets the first answer (an SDK retry stays safe) and the key stays disabled
    assert (replay.status, replay.body) == (200, first.body)
    assert _state(aws_services, key_id) == "3"


def test_a_replayed_cancel_key_deletion_leaves_the_deletion_scheduled(
    kms, aws_services: Services, principals
) -> None:
    # Given a key whose deletion was scheduled, cancelled by a captured signed request, and scheduled again
    key_id = kms.create_key()
    schedule = {"key_id": key_id, "pending_days": "7"}
    assert kms.call("schedule_key_deletion", schedule).status == 200
    captured = kms.signed_api_event("cancel_key_deletion", principals, {"key_id": key_id})
    assert kms.api("cancel_key_deletion", copy.deepcopy(captured)).status == 200
    assert kms.call("schedule_key_deletion", schedule).status == 200

    # When the cancellation is replayed
    replay = kms.api("cancel_key_deletion", copy.deepcopy(captured))

    # Then the key is still pending deletion
    assert replay.status == 200
    assert _state(aws_services, key_id) == "4"


def test_a_replayed_refusal_is_refused_again_without_running(kms, aws_services: Services, principals) -> None:
    # Given a signed enable-key of an enabled key, refused (KMS.1201)
    key_id = kms.create_key()
    captured = kms.signed_api_event("enable_key", principals, {"key_id": key_id})
    first = kms.api("enable_key", copy.deepcopy(captured))
    assert (first.status, first.body["error"]["error_code"]) == (400, "KMS.1201")
    # When the key is disabled and the request replayed
    assert kms.call("disable_key", {"key_id": key_id}).status == 200
    replay = kms.api("enable_key", copy.deepcopy(captured))
    # Then the replay gets the same refusal and the key stays disabled
    assert (replay.status, replay.body) == (first.status, first.body)
    assert _state(aws_services, key_id) == "3"


def test_a_replayed_create_key_creates_one_key(kms, aws_services: Services, principals) -> None:
    captured = kms.signed_api_event("create_key", principals, {"key_alias": "replayed"})
    first = kms.api("create_key", copy.deepcopy(captured))
    again = kms.api("create_key", copy.deepcopy(captured))
    assert (first.status, again.status, again.body) == (200, 200, first.body)
    assert aws_services.stores.keys.count_keys(PROJECT_ID) == 1


def test_the_record_is_keyed_by_a_hash_expires_with_the_window_and_holds_no_signature(
    kms, aws_services: Services, principals
) -> None:
    key_id = kms.create_key()
    captured = kms.signed_api_event("disable_key", principals, {"key_id": key_id})
    assert kms.api("disable_key", copy.deepcopy(captured)).status == 200
    signature = kms.header(captured, "Authorization").rsplit("Signature=", 1)[1]
    (record,) = _records(aws_services)
    assert signature not in str(record)
    assert principals.access_key not in str(record)
    # The window: X-Sdk-Date ± 15 minutes, remembered for 30 minutes from the first arrival
    assert 25 * 60 < int(record["expiration"]["N"]) - time.time() <= 30 * 60


def test_a_new_signature_of_the_same_request_runs_again(kms, aws_services: Services, principals) -> None:
    # Signed again at another X-Sdk-Date, the same request is a new request: it runs
    key_id = kms.create_key()
    first = kms.signed_api_event("disable_key", principals, {"key_id": key_id})
    assert kms.api("disable_key", first).status == 200
    earlier = datetime.now(UTC) - timedelta(seconds=5)
    again = kms.sign(kms.api_event("disable_key", {"key_id": key_id}), principals, when=earlier)
    assert kms.header(again, "Authorization") != kms.header(first, "Authorization")
    assert kms.api("disable_key", again).body["error"]["error_code"] == "KMS.1301"


def test_token_requests_are_not_deduplicated(kms, aws_services: Services) -> None:
    # A token authenticates the bearer, not a request: the same request again runs again
    key_id = kms.create_key()
    assert kms.call("disable_key", {"key_id": key_id}).status == 200
    assert kms.call("disable_key", {"key_id": key_id}).body["error"]["error_code"] == "KMS.1301"
    assert _records(aws_services) == []


def test_data_keys_are_not_guarded_by_default(kms, aws_services: Services, principals) -> None:
    key_id = kms.create_key()
    captured = kms.signed_api_event("create_datakey", principals, {"key_id": key_id, "datakey_length": "256"})
    first = kms.api("create_datakey", copy.deepcopy(captured))
    again = kms.api("create_datakey", copy.deepcopy(captured))
    assert (first.status, again.status) == (200, 200)
    assert again.body["plain_text"] != first.body["plain_text"]
    assert _records(aws_services) == []


@pytest.mark.parametrize("replay_mode", ["all"], indirect=True)
def test_with_all_a_replayed_create_datakey_is_refused_and_its_key_never_stored(
    kms, replay_mode: Services, principals
) -> None:
    # Given create-datakey under KMS_REPLAY_PROTECTION=all
    key_id = kms.create_key()
    captured = kms.signed_api_event("create_datakey", principals, {"key_id": key_id, "datakey_length": "256"})
    first = kms.api("create_datakey", copy.deepcopy(captured))
    assert first.status == 200
    # When it is replayed / Then it is refused: its answer held a data key, which is never stored
    replay = kms.api("create_datakey", copy.deepcopy(captured))
    assert (replay.status, replay.body["error"]["error_code"]) == (403, "KMS.0307")
    records = _records(replay_mode)
    assert len(records) == 1
    for secret in (first.body["plain_text"], first.body["cipher_text"]):
        assert secret not in str(records)
    # And read-only operations are guarded alike
    described = kms.signed_api_event("describe_key", principals, {"key_id": key_id})
    assert kms.api("describe_key", copy.deepcopy(described)).status == 200
    assert kms.api("describe_key", copy.deepcopy(described)).status == 403


@pytest.mark.parametrize("replay_mode", ["off"], indirect=True)
def test_with_off_a_replay_runs_again(kms, replay_mode: Services, principals) -> None:
    key_id = kms.create_key()
    assert kms.call("disable_key", {"key_id": key_id}).status == 200
    captured = kms.signed_api_event("enable_key", principals, {"key_id": key_id})
    assert kms.api("enable_key", copy.deepcopy(captured)).status == 200
    assert kms.call("disable_key", {"key_id": key_id}).status == 200
    assert kms.api("enable_key", copy.deepcopy(captured)).status == 200
    assert _state(replay_mode, key_id) == "2"
