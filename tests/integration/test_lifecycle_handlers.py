"""The eight key-lifecycle Lambda handlers (spec §3 ops 2-9) on DynamoDB + AWS KMS (moto).

Each handler is imported from its CodeUri (template.yaml) and fed the sample events of ``events/``
(API Gateway proxy events after the authorizer allowed a token request, and direct invocations).
Wire contract: §2 KeyDetails, §F1 states and transitions, §F2 errors, §F8 pagination. ``kms``
(conftest) fails any call that answers 500.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from skms.domain import KeyState
from skms.runtime import Services

EVENTS = Path(__file__).resolve().parents[2] / "events"
PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
PLACEHOLDER_KEY_ID = "00000000-0000-0000-0000-000000000000"
UNKNOWN_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
EVENT_DOMAIN_ID = "5d8c2a4f9e1b47c3a6d0f2e8b4c1a937"  # the authorizer context of the api.json events
REGION = "us-east-1"  # aws_settings' region_id
DAY_MS = 86_400_000
FUNCTIONS = (
    "describe_key",
    "list_keys",
    "enable_key",
    "disable_key",
    "schedule_key_deletion",
    "cancel_key_deletion",
    "update_key_alias",
    "update_key_description",
)
KEY_FUNCTIONS = tuple(f for f in FUNCTIONS if f != "list_keys")
KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
EPOCH_MS_RE = re.compile(r"^[0-9]{13}$")
KEY_DETAILS_FIELDS = {
    "key_id",
    "domain_id",
    "key_alias",
    "realm",
    "key_spec",
    "key_usage",
    "key_description",
    "creation_date",
    "scheduled_deletion_date",
    "key_state",
    "default_key_flag",
    "key_type",
    "expiration_time",
    "origin",
    "key_rotation_enabled",
    "sys_enterprise_project_id",
    "keystore_id",
}
LIST_FIELDS = {"keys", "key_details", "next_marker", "truncated", "total"}


# -- helpers ----------------------------------------------------------------------------------


def alias(prefix: str = "lc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ok(reply: Any) -> dict[str, Any]:
    assert reply.status == 200, reply.raw_body
    body: dict[str, Any] = reply.body
    return body


def call_key(kms: Any, function: str, key_id: str, *, project_id: str = PROJECT_ID, **fields: Any) -> Any:
    return kms.call(function, {"key_id": key_id, **fields}, project_id=project_id)


def expect_key_error(kms: Any, function: str, key_id: str, status: int, code: str, **fields: Any) -> None:
    kms.expect_error(function, {"key_id": key_id, **fields}, status, code)


def describe(kms: Any, key_id: str, *, project_id: str = PROJECT_ID) -> dict[str, Any]:
    body = ok(call_key(kms, "describe_key", key_id, project_id=project_id))
    assert set(body) == {"key_info"}, body
    info: dict[str, Any] = body["key_info"]
    assert_key_details(info)
    return info


def state_of(kms: Any, key_id: str) -> str:
    state: str = describe(kms, key_id)["key_state"]
    return state


def list_keys(kms: Any, *, project_id: str = PROJECT_ID, **fields: Any) -> dict[str, Any]:
    body = ok(kms.call("list_keys", fields, project_id=project_id))
    assert_list_body(body)
    return body


def list_all(kms: Any, **fields: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of list-keys from the first, following next_marker. Returns (key ids, pages)."""
    key_ids: list[str] = []
    pages: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        request = dict(fields) if marker is None else {**fields, "marker": marker}
        page = list_keys(kms, **request)
        pages.append(page)
        key_ids.extend(page["keys"])
        if page["truncated"] == "false":
            return key_ids, pages
        marker = page["next_marker"]
        assert len(pages) < 100, "list-keys does not end"


def assert_key_details(info: Any) -> None:
    """§2: exactly the KeyDetails fields, every value a string."""
    assert isinstance(info, dict)
    assert set(info) == KEY_DETAILS_FIELDS, set(info) ^ KEY_DETAILS_FIELDS
    assert all(isinstance(value, str) for value in info.values()), info
    assert KEY_ID_RE.fullmatch(info["key_id"]), info
    assert EPOCH_MS_RE.fullmatch(info["creation_date"]), info
    assert re.fullmatch(r"^[1-5]$", info["key_state"]), info
    assert info["scheduled_deletion_date"] == "" or EPOCH_MS_RE.fullmatch(info["scheduled_deletion_date"])
    assert info["default_key_flag"] in ("0", "1"), info
    assert info["key_rotation_enabled"] in ("true", "false"), info
    assert info["origin"] in ("kms", "external"), info


def assert_list_body(body: Any) -> None:
    """§F8: keys, key_details, next_marker str ("" at the end), truncated "true"/"false", total int."""
    assert isinstance(body, dict)
    assert set(body) == LIST_FIELDS, body.keys()
    assert isinstance(body["keys"], list)
    assert all(isinstance(key_id, str) for key_id in body["keys"])
    assert isinstance(body["key_details"], list)
    for details in body["key_details"]:
        assert_key_details(details)
    assert body["keys"] == [details["key_id"] for details in body["key_details"]]
    assert isinstance(body["next_marker"], str)
    assert body["truncated"] in ("true", "false")
    assert (body["truncated"] == "true") == (body["next_marker"] != "")
    assert type(body["total"]) is int
    assert body["total"] >= len(body["keys"])


def with_key_id(event: dict[str, Any], key_id: str) -> dict[str, Any]:
    """Put a real key id in place of the sample's placeholder (events/README.md)."""
    if isinstance(event["body"], str):
        body = json.loads(event["body"])
        body["key_id"] = key_id
        event["body"] = json.dumps(body)
    else:
        event["body"]["key_id"] = key_id
    return event


def make_default_key(kms: Any, services: Services) -> str:
    """A service default key (alias ``.../default``, default_key_flag "1"). The API cannot create
    one (the suffix is reserved), so a created key is turned into one in the store."""
    key_id: str = kms.create_key()
    record = services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    services.stores.keys.update_key(
        record.replace(key_alias="obs/default", default_key_flag="1"), record.revision
    )
    return key_id


# -- the sample events ------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_sample_events_have_the_shape_of_the_others(function: str) -> None:
    # Given the API Gateway and direct sample events of a lifecycle function
    api = json.loads((EVENTS / function / "api.json").read_text(encoding="utf-8"))
    direct = json.loads((EVENTS / function / "direct.json").read_text(encoding="utf-8"))
    reference = json.loads((EVENTS / "create_key" / "api.json").read_text(encoding="utf-8"))
    operation = function.replace("_", "-")

    # Then the API event is a REST proxy event for the function's route on stage v1
    assert api["resource"] == f"/v1.0/{{project_id}}/kms/{operation}"
    assert api["path"] == f"/v1.0/{PROJECT_ID}/kms/{operation}"
    assert api["requestContext"]["resourcePath"] == api["resource"]
    assert api["requestContext"]["path"] == f"/v1{api['path']}"
    # And apart from route, request id and body it is the create-key event: token-authenticated
    # (placeholder X-Auth-Token, no Authorization) with the authorizer's token context
    assert api["headers"] == reference["headers"]
    assert api["multiValueHeaders"] == reference["multiValueHeaders"]
    assert "Authorization" not in api["headers"]
    assert api["requestContext"]["authorizer"] == reference["requestContext"]["authorizer"]
    assert api["requestContext"]["requestId"] != reference["requestContext"]["requestId"]
    same = {"resource", "path", "requestContext", "body"}
    assert {k: v for k, v in api.items() if k not in same} == {
        k: v for k, v in reference.items() if k not in same
    }
    # And the body is a JSON string (as the SDK serialises it) of the direct event's body
    assert isinstance(api["body"], str)
    assert api["body"] == json.dumps(direct["body"])
    assert set(direct) == {"project_id", "body"}
    assert direct["project_id"] == PROJECT_ID
    assert len(direct["body"]["sequence"]) == 36
    if function != "list_keys":
        assert direct["body"]["key_id"] == PLACEHOLDER_KEY_ID


def test_sample_request_ids_are_distinct() -> None:
    functions = (*FUNCTIONS, "create_key", "create_datakey", "decrypt_datakey")
    events = [json.loads((EVENTS / f / "api.json").read_text(encoding="utf-8")) for f in functions]
    ids = [event["requestContext"]["requestId"] for event in events]
    assert len(set(ids)) == len(ids)


def _prepare(kms: Any, function: str) -> str:
    """A key in the state the sample event's operation needs; returns its id."""
    key_id: str = kms.create_key()
    if function == "enable_key":
        ok(call_key(kms, "disable_key", key_id))
    elif function == "cancel_key_deletion":
        ok(call_key(kms, "schedule_key_deletion", key_id, pending_days="7"))
    return key_id


def _assert_sample_reply(function: str, body: Any, key_id: str, sample: dict[str, Any]) -> None:
    if function == "describe_key":
        assert set(body) == {"key_info"}
        assert_key_details(body["key_info"])
        assert body["key_info"]["key_id"] == key_id
    elif function == "list_keys":
        assert_list_body(body)
        page = (body["keys"], body["total"], body["truncated"], body["next_marker"])
        assert page == ([key_id], 1, "false", "")
    elif function in ("enable_key", "disable_key"):
        state = "2" if function == "enable_key" else "3"
        assert body == {"key_info": {"key_id": key_id, "key_state": state}}
    elif function in ("schedule_key_deletion", "cancel_key_deletion"):
        state = "4" if function == "schedule_key_deletion" else "3"
        assert body == {"key_id": key_id, "key_state": state}
    elif function == "update_key_alias":
        assert body == {"key_info": {"key_id": key_id, "key_alias": sample["key_alias"]}}
    else:
        assert body == {"key_info": {"key_id": key_id, "key_description": sample["key_description"]}}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_sample_api_event(kms, function: str) -> None:
    # Given a key in the right state, and the sample API event with its key id substituted
    key_id = _prepare(kms, function)
    event = kms.api_event(function)
    if function != "list_keys":
        with_key_id(event, key_id)

    # When the function handles it
    reply = kms.api(function, event)

    # Then it answers 200 with the documented shape and API Gateway's request id
    body = ok(reply)
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert reply.headers["Content-Type"].lower().startswith("application/json")
    _assert_sample_reply(function, body, key_id, kms.sample_body(function))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_sample_direct_event(kms, function: str) -> None:
    # Given a key in the right state, and the sample direct invocation with its key id substituted
    key_id = _prepare(kms, function)
    event = kms.direct_event(function)
    if function != "list_keys":
        with_key_id(event, key_id)

    # When the function handles it; Then it returns the same body, as a dict
    body = kms.invoke(function, event)
    assert isinstance(body, dict)
    assert "error" not in body, body
    _assert_sample_reply(function, body, key_id, kms.sample_body(function))


@pytest.mark.parametrize("function", KEY_FUNCTIONS)
def test_unsubstituted_placeholder_names_a_missing_key(kms, function: str) -> None:
    reply = kms.api(function, kms.api_event(function))
    assert (reply.status, reply.body["error"]["error_code"]) == (404, "KMS.0207")


@pytest.mark.parametrize("function", KEY_FUNCTIONS)
def test_direct_invocation_errors_are_error_bodies(kms, function: str) -> None:
    body = kms.direct(function, kms.sample_body(function, key_id=UNKNOWN_KEY_ID))
    assert body["error"]["error_code"] == "KMS.0207"


# -- describe-key: KeyDetails ---------------------------------------------------------------------


def test_describe_key_details(kms) -> None:
    # Given a key created through API Gateway at a known time
    before = time.time_ns() // 1_000_000
    name = alias("details")
    key_id = kms.create_key(name, key_description="described", enterprise_project_id="0")
    after = time.time_ns() // 1_000_000

    # When it is described
    info = describe(kms, key_id)

    # Then every KeyDetails field is a string with the key's values (§2)
    assert info == {
        "key_id": key_id,
        "domain_id": EVENT_DOMAIN_ID,
        "key_alias": name,
        "realm": REGION,
        "key_spec": "AES_256",
        "key_usage": "ENCRYPT_DECRYPT",
        "key_description": "described",
        "creation_date": info["creation_date"],
        "scheduled_deletion_date": "",
        "key_state": "2",
        "default_key_flag": "0",
        "key_type": info["key_type"],
        "expiration_time": info["expiration_time"],
        "origin": "kms",
        "key_rotation_enabled": "false",
        "sys_enterprise_project_id": "0",
        "keystore_id": "0",
    }
    # creation_date: epoch milliseconds
    assert before <= int(info["creation_date"]) <= after


def test_describe_key_of_every_kind(kms) -> None:
    # An asymmetric key, an external key, a key of an enterprise project
    enterprise = str(uuid.uuid4())
    ec = describe(kms, kms.create_key(key_spec="EC_P256"))
    external = describe(kms, kms.create_key(origin="external"))
    in_project = describe(kms, kms.create_key(enterprise_project_id=enterprise))

    assert (ec["key_spec"], ec["key_usage"], ec["key_state"]) == ("EC_P256", "SIGN_VERIFY", "2")
    assert (external["origin"], external["key_state"]) == ("external", "5")
    assert in_project["sys_enterprise_project_id"] == enterprise


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"key_id": UNKNOWN_KEY_ID}, 404, "KMS.0207"),
        ({"key_id": "not-a-key-id"}, 400, "KMS.0205"),
        ({"key_id": UNKNOWN_KEY_ID.upper()}, 400, "KMS.0205"),
        ({}, 400, "KMS.0204"),
    ],
)
def test_describe_key_errors(kms, body: dict[str, Any], status: int, code: str) -> None:
    kms.expect_error("describe_key", body, status, code)


# -- the lifecycle through the handlers -----------------------------------------------------------


def test_lifecycle_walk(kms) -> None:
    # Given an enabled key and a data key made with it
    key_id = kms.create_key()
    datakey = kms.create_datakey(key_id, datakey_length="512")

    # Enabling an enabled key: KMS.1201
    expect_key_error(kms, "enable_key", key_id, 400, "KMS.1201")

    # disable: 2 -> 3, wrapped in key_info; twice: KMS.1301
    assert ok(call_key(kms, "disable_key", key_id)) == {"key_info": {"key_id": key_id, "key_state": "3"}}
    assert state_of(kms, key_id) == "3"
    expect_key_error(kms, "disable_key", key_id, 400, "KMS.1301")
    # A disabled key makes and opens no data keys: KMS.0209
    expect_key_error(kms, "create_datakey", key_id, 400, "KMS.0209")
    kms.expect_error(
        "decrypt_datakey",
        {"key_id": key_id, "cipher_text": datakey["cipher_text"], "datakey_cipher_length": "64"},
        400,
        "KMS.0209",
    )

    # enable: 3 -> 2
    assert ok(call_key(kms, "enable_key", key_id)) == {"key_info": {"key_id": key_id, "key_state": "2"}}
    assert kms.decrypt_datakey(key_id, datakey["cipher_text"], 64)["data_key"] == datakey["plain_text"]

    # schedule deletion: pending_days outside 7-1096 is KMS.1401; then -> 4, top-level fields
    for days in ("6", "0", "1097", "9999"):
        expect_key_error(kms, "schedule_key_deletion", key_id, 400, "KMS.1401", pending_days=days)
    assert state_of(kms, key_id) == "2"
    before = time.time_ns() // 1_000_000
    scheduled = ok(call_key(kms, "schedule_key_deletion", key_id, pending_days="7"))
    after = time.time_ns() // 1_000_000
    assert scheduled == {"key_id": key_id, "key_state": "4"}
    info = describe(kms, key_id)
    assert info["key_state"] == "4"
    assert before + 7 * DAY_MS <= int(info["scheduled_deletion_date"]) <= after + 7 * DAY_MS

    # Pending deletion: scheduling again KMS.1402; enable, disable, updates, data keys KMS.0210
    expect_key_error(kms, "schedule_key_deletion", key_id, 400, "KMS.1402", pending_days="7")
    expect_key_error(kms, "enable_key", key_id, 400, "KMS.0210")
    expect_key_error(kms, "disable_key", key_id, 400, "KMS.0210")
    expect_key_error(kms, "update_key_alias", key_id, 400, "KMS.0210", key_alias=alias())
    expect_key_error(kms, "update_key_description", key_id, 400, "KMS.0210", key_description="x")
    expect_key_error(kms, "create_datakey", key_id, 400, "KMS.0210")
    kms.expect_error(
        "decrypt_datakey",
        {"key_id": key_id, "cipher_text": datakey["cipher_text"], "datakey_cipher_length": "64"},
        400,
        "KMS.0210",
    )
    assert state_of(kms, key_id) == "4"

    # cancel: 4 -> 3 (§F1), top-level; the scheduled date is cleared; twice: KMS.1501
    assert ok(call_key(kms, "cancel_key_deletion", key_id)) == {"key_id": key_id, "key_state": "3"}
    info = describe(kms, key_id)
    assert (info["key_state"], info["scheduled_deletion_date"]) == ("3", "")
    expect_key_error(kms, "cancel_key_deletion", key_id, 400, "KMS.1501")

    # A disabled key can be scheduled too (maximum pending days), and cancelled again
    assert ok(call_key(kms, "schedule_key_deletion", key_id, pending_days="1096"))["key_state"] == "4"
    assert ok(call_key(kms, "cancel_key_deletion", key_id))["key_state"] == "3"

    # And once enabled again the key works as before
    assert ok(call_key(kms, "enable_key", key_id))["key_info"]["key_state"] == "2"
    expect_key_error(kms, "cancel_key_deletion", key_id, 400, "KMS.1501")
    assert kms.decrypt_datakey(key_id, datakey["cipher_text"], 64)["data_key"] == datakey["plain_text"]
    kms.create_datakey(key_id)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"pending_days": "abc"}, "KMS.1401"),
        ({"pending_days": "-7"}, "KMS.1401"),
        ({"pending_days": ""}, "KMS.1401"),
        ({}, "KMS.0204"),
    ],
)
def test_schedule_rejects_invalid_pending_days(kms, fields: dict[str, Any], code: str) -> None:
    key_id = kms.create_key()
    expect_key_error(kms, "schedule_key_deletion", key_id, 400, code, **fields)
    assert state_of(kms, key_id) == "2"


def test_external_key_without_material(kms) -> None:
    # Given an external key that never had material (state 5)
    key_id = kms.create_key(origin="external")
    assert state_of(kms, key_id) == "5"

    # Then it can be neither enabled nor disabled
    expect_key_error(kms, "enable_key", key_id, 400, "KMS.1201")
    expect_key_error(kms, "disable_key", key_id, 400, "KMS.1301")
    expect_key_error(kms, "cancel_key_deletion", key_id, 400, "KMS.1501")

    # And when its deletion is cancelled it goes back to waiting for material, not to disabled
    assert ok(call_key(kms, "schedule_key_deletion", key_id, pending_days="30")) == {
        "key_id": key_id,
        "key_state": "4",
    }
    assert ok(call_key(kms, "cancel_key_deletion", key_id)) == {"key_id": key_id, "key_state": "5"}
    assert state_of(kms, key_id) == "5"
    expect_key_error(kms, "enable_key", key_id, 400, "KMS.1201")


def test_default_keys_refuse_changes(kms, aws_services: Services) -> None:
    # Given a service default key
    key_id = make_default_key(kms, aws_services)
    info = describe(kms, key_id)
    assert (info["key_alias"], info["default_key_flag"]) == ("obs/default", "1")

    # Then it cannot be disabled, scheduled for deletion, renamed or re-described: KMS.0211
    expect_key_error(kms, "disable_key", key_id, 400, "KMS.0211")
    expect_key_error(kms, "schedule_key_deletion", key_id, 400, "KMS.0211", pending_days="7")
    expect_key_error(kms, "update_key_alias", key_id, 400, "KMS.0211", key_alias=alias())
    expect_key_error(kms, "update_key_description", key_id, 400, "KMS.0211", key_description="x")
    # And enabling it follows the ordinary rule (it is enabled)
    expect_key_error(kms, "enable_key", key_id, 400, "KMS.1201")
    assert describe(kms, key_id) == info


def test_update_key_alias_frees_the_old_alias(kms) -> None:
    # Given a key with an alias
    old, new = alias("old"), alias("new")
    key_id = kms.create_key(old)

    # When it is renamed
    body = ok(call_key(kms, "update_key_alias", key_id, key_alias=new))

    # Then the reply names the new alias, and so does describe-key
    assert body == {"key_info": {"key_id": key_id, "key_alias": new}}
    assert describe(kms, key_id)["key_alias"] == new
    # And the old alias is free (a new key takes it) while the new one is taken (KMS.1104)
    other = kms.create_key(old)
    assert describe(kms, other)["key_alias"] == old
    kms.expect_error("create_key", {"key_alias": new}, 400, "KMS.1104")
    # And renaming onto an alias in use is KMS.1104, the key keeping its alias
    expect_key_error(kms, "update_key_alias", key_id, 400, "KMS.1104", key_alias=old)
    assert describe(kms, key_id)["key_alias"] == new


def test_update_key_alias_to_its_own_alias_and_back(kms) -> None:
    # Given a key renamed a -> b
    a, b = alias("a"), alias("b")
    key_id = kms.create_key(a)
    ok(call_key(kms, "update_key_alias", key_id, key_alias=b))

    # Renaming it to the alias it has changes nothing (the alias stays taken)
    assert ok(call_key(kms, "update_key_alias", key_id, key_alias=b)) == {
        "key_info": {"key_id": key_id, "key_alias": b}
    }
    kms.expect_error("create_key", {"key_alias": b}, 400, "KMS.1104")

    # Renaming it back b -> a frees b and takes a again
    ok(call_key(kms, "update_key_alias", key_id, key_alias=a))
    kms.expect_error("create_key", {"key_alias": a}, 400, "KMS.1104")
    other = kms.create_key(b)
    # And list-keys shows the current aliases
    listed = {d["key_id"]: d["key_alias"] for d in list_keys(kms)["key_details"]}
    assert listed == {key_id: a, other: b}


def test_update_key_alias_works_in_any_live_state(kms) -> None:
    key_id = kms.create_key()
    ok(call_key(kms, "disable_key", key_id))
    renamed = alias("disabled")
    body = ok(call_key(kms, "update_key_alias", key_id, key_alias=renamed))
    assert body == {"key_info": {"key_id": key_id, "key_alias": renamed}}
    assert describe(kms, key_id)["key_state"] == "3"

    external = kms.create_key(origin="external")
    renamed = alias("external")
    body = ok(call_key(kms, "update_key_alias", external, key_alias=renamed))
    assert body == {"key_info": {"key_id": external, "key_alias": renamed}}
    assert describe(kms, external)["key_state"] == "5"


@pytest.mark.parametrize(
    ("key_alias", "code"),
    [
        ("obs/default", "KMS.1101"),
        ("my/default", "KMS.1101"),
        ("bad alias!", "KMS.1101"),
        ("", "KMS.1101"),
        ("a" * 256, "KMS.1101"),
    ],
)
def test_update_key_alias_rejects_invalid_aliases(kms, key_alias: str, code: str) -> None:
    name = alias()
    key_id = kms.create_key(name)
    expect_key_error(kms, "update_key_alias", key_id, 400, code, key_alias=key_alias)
    assert describe(kms, key_id)["key_alias"] == name


def test_update_key_alias_missing_alias(kms) -> None:
    key_id = kms.create_key()
    expect_key_error(kms, "update_key_alias", key_id, 400, "KMS.0204")


def test_update_key_description(kms) -> None:
    key_id = kms.create_key(key_description="before")
    for description in ("after", "", "d" * 255, "中文说明"):
        body = ok(call_key(kms, "update_key_description", key_id, key_description=description))
        assert body == {"key_info": {"key_id": key_id, "key_description": description}}
        assert describe(kms, key_id)["key_description"] == description
    expect_key_error(kms, "update_key_description", key_id, 400, "KMS.1103", key_description="d" * 256)
    expect_key_error(kms, "update_key_description", key_id, 400, "KMS.0204")
    assert describe(kms, key_id)["key_description"] == "中文说明"


@pytest.mark.parametrize("function", KEY_FUNCTIONS)
def test_keys_of_another_project_are_invisible(kms, function: str) -> None:
    # Given a key of project A, in a state the operation would accept
    key_id = _prepare(kms, function)
    body = kms.sample_body(function, key_id=key_id)

    # When project B's caller names it; Then 404 KMS.0207, and the key is unchanged
    before = describe(kms, key_id)
    kms.expect_error(function, body, 404, "KMS.0207", project_id=OTHER_PROJECT_ID)
    assert describe(kms, key_id) == before


# -- list-keys ------------------------------------------------------------------------------------

# 25 keys: two of three AES_256, the rest of other specs.
MIXED_SPECS = [
    "AES_256" if i % 3 != 2 else ("SM4", "EC_P256", "SM2", "RSA_2048")[(i // 3) % 4] for i in range(25)
]


def create_mixed_keys(kms: Any) -> list[tuple[str, str]]:
    """Create the MIXED_SPECS keys in order, each in its own millisecond; [(key_id, spec)]."""
    created = []
    for spec in MIXED_SPECS:
        created.append((kms.create_key(alias("mixed"), key_spec=spec), spec))
        time.sleep(0.002)  # creation order is the creation timestamp's order
    return created


def test_list_keys_pages_through_the_default_filter_and_all(kms) -> None:
    # Given 25 keys of mixed specs
    created = create_mixed_keys(kms)
    aes = [key_id for key_id, spec in created if spec == "AES_256"]
    assert len(aes) == 17

    # When AES_256 keys (the default filter) are listed 4 at a time
    key_ids, pages = list_all(kms, limit="4")

    # Then the pages hold every AES_256 key once, in creation order: 4, 4, 4, 4, 1
    assert key_ids == aes
    assert [len(page["keys"]) for page in pages] == [4, 4, 4, 4, 1]
    assert [page["truncated"] for page in pages] == ["true"] * 4 + ["false"]
    assert pages[-1]["next_marker"] == ""
    # total is the number of matching keys, not the page size
    assert {page["total"] for page in pages} == {17}
    assert all(d["key_spec"] == "AES_256" for page in pages for d in page["key_details"])

    # And with key_spec "ALL" every key is listed, in creation order
    key_ids, pages = list_all(kms, limit="4", key_spec="ALL")
    assert key_ids == [key_id for key_id, _ in created]
    assert [len(page["keys"]) for page in pages] == [4] * 6 + [1]
    assert {page["total"] for page in pages} == {25}

    # And a spec filter lists that spec only
    for spec in ("SM4", "EC_P256", "RSA_2048"):
        key_ids, pages = list_all(kms, limit="4", key_spec=spec)
        assert key_ids == [key_id for key_id, s in created if s == spec]
        assert {page["total"] for page in pages} == {len(key_ids)}

    # And without a limit one page holds them all
    page = list_keys(kms, key_spec="ALL")
    assert (len(page["keys"]), page["truncated"], page["next_marker"], page["total"]) == (25, "false", "", 25)
    # And a limit of exactly the count ends on the first page
    page = list_keys(kms, limit="17")
    assert (len(page["keys"]), page["truncated"], page["next_marker"]) == (17, "false", "")
    page = list_keys(kms, limit="1000", key_spec="ALL", marker="")
    assert (len(page["keys"]), page["truncated"]) == (25, "false")


def test_list_keys_key_state_filter(kms) -> None:
    # Given keys in states 2, 3, 4 and 5
    enabled = [kms.create_key() for _ in range(3)]
    disabled = [kms.create_key() for _ in range(3)]
    for key_id in disabled:
        ok(call_key(kms, "disable_key", key_id))
    pending = kms.create_key()
    ok(call_key(kms, "schedule_key_deletion", pending, pending_days="7"))
    external = kms.create_key(origin="external")
    rsa_disabled = kms.create_key(key_spec="RSA_2048")
    ok(call_key(kms, "disable_key", rsa_disabled))

    # Then each state filter lists exactly the keys in that state (AES_256 unless ALL)
    expected = {
        "2": enabled,
        "3": disabled,
        "4": [pending],
        "5": [external],
        "1": [],
    }
    for state, keys in expected.items():
        key_ids, pages = list_all(kms, limit="2", key_state=state)
        assert key_ids == keys, state
        assert {page["total"] for page in pages} == {len(keys)}, state
        assert all(d["key_state"] == state for page in pages for d in page["key_details"])
    key_ids, _ = list_all(kms, limit="2", key_state="3", key_spec="ALL")
    assert key_ids == [*disabled, rsa_disabled]
    # And a pending-deletion key is listed with its scheduled date
    (details,) = list_keys(kms, key_state="4")["key_details"]
    assert EPOCH_MS_RE.fullmatch(details["scheduled_deletion_date"])


def test_list_keys_enterprise_project_filter(kms) -> None:
    enterprise = str(uuid.uuid4())
    default = [kms.create_key() for _ in range(2)]
    in_project = [kms.create_key(enterprise_project_id=enterprise) for _ in range(3)]

    key_ids, _ = list_all(kms, limit="2", enterprise_project_id=enterprise)
    assert key_ids == in_project
    assert list_keys(kms, enterprise_project_id=enterprise)["total"] == 3
    assert list_all(kms, limit="2", enterprise_project_id="0")[0] == default
    assert list_all(kms, limit="2", enterprise_project_id="all")[0] == [*default, *in_project]
    assert list_all(kms, limit="2")[0] == [*default, *in_project]


def test_list_keys_of_an_empty_project(kms) -> None:
    page = list_keys(kms, limit="10", key_spec="ALL")
    assert page == {"keys": [], "key_details": [], "next_marker": "", "truncated": "false", "total": 0}


def test_list_keys_is_per_project(kms) -> None:
    mine = [kms.create_key() for _ in range(3)]
    theirs = kms.call("create_key", {"key_alias": alias("theirs")}, project_id=OTHER_PROJECT_ID)
    other_key = ok(theirs)["key_info"]["key_id"]

    assert list_all(kms, limit="2", key_spec="ALL")[0] == mine
    other = list_keys(kms, project_id=OTHER_PROJECT_ID, key_spec="ALL")
    assert (other["keys"], other["total"]) == ([other_key], 1)


@pytest.mark.parametrize("limit", ["0", "1001", "abc", "-1", "", "4.5", "99999999"])
def test_list_keys_invalid_limit(kms, limit: str) -> None:
    kms.create_key()
    kms.expect_error("list_keys", {"limit": limit}, 400, "KMS.1601")


@pytest.mark.parametrize(
    "marker",
    ["garbage", "!!!", "10", "-1", "eyJmb28iOiJiYXIifQ", "e30", "9223372036854775808", "x" * 512],
)
def test_list_keys_invalid_marker(kms, marker: str) -> None:
    for _ in range(3):
        kms.create_key()
    kms.expect_error("list_keys", {"limit": "2", "marker": marker}, 400, "KMS.1602")


def test_list_keys_marker_of_another_project(kms) -> None:
    # Given a next_marker that project B's listing returned
    for _ in range(3):
        kms.create_key()
        ok(kms.call("create_key", {"key_alias": alias("b")}, project_id=OTHER_PROJECT_ID))
    marker = list_keys(kms, project_id=OTHER_PROJECT_ID, limit="1")["next_marker"]
    assert marker
    # When project A presents it; Then KMS.1602
    kms.expect_error("list_keys", {"limit": "1", "marker": marker}, 400, "KMS.1602")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"key_spec": "AES_128"}, "KMS.1110"),
        ({"key_spec": "all"}, "KMS.1110"),
        ({"key_state": "6"}, "KMS.0308"),
        ({"key_state": "22"}, "KMS.0308"),
    ],
)
def test_list_keys_invalid_filters(kms, fields: dict[str, Any], code: str) -> None:
    kms.expect_error("list_keys", fields, 400, code)


def test_a_deleted_key_leaves_describe_lifecycle_and_listing(kms, aws_services: Services) -> None:
    # Given four keys, listed two a page, and then the deletion of the second one runs (a tombstone)
    keys = [kms.create_key() for _ in range(4)]
    first = list_keys(kms, limit="2")
    assert (first["keys"], first["total"]) == (keys[:2], 4)
    record = aws_services.stores.keys.get_key(PROJECT_ID, keys[1])
    assert record is not None
    deleted = record.replace(key_state=KeyState.PENDING_DELETION, deleted_at=int(time.time() * 1000))
    aws_services.stores.keys.update_key(deleted, record.revision)

    # Then it is gone for describe and every lifecycle operation: 404 KMS.0207
    kms.expect_error("describe_key", {"key_id": keys[1]}, 404, "KMS.0207")
    for function in KEY_FUNCTIONS:
        kms.expect_error(function, kms.sample_body(function, key_id=keys[1]), 404, "KMS.0207")
    # And from list-keys and its totals, while the marker of the page it ended stays valid
    rest = list_keys(kms, limit="2", marker=first["next_marker"])
    assert (rest["keys"], rest["total"], rest["truncated"]) == (keys[2:], 3, "false")
    assert list_all(kms, limit="2")[0] == [keys[0], *keys[2:]]
    assert list_keys(kms, key_spec="ALL", key_state="4")["total"] == 0
