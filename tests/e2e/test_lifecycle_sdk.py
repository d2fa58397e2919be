"""The official Huawei Cloud SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: the key
lifecycle, spec §3 ops 2-9 (describe, list, enable, disable, schedule and cancel deletion, update
alias and description), §2 KeyDetails, §F1 states, §F2 errors, §F8 pagination.

Only the SDK's KmsClient, its request/body models and its exceptions drive the server. The raw
bytes of a reply (``response.raw_content``) are read as well where the SDK's parsing would hide a
wrong wire type (it passes every ``str`` field through ``str()``, §F7).

The module runs its own server (``module_server``), so that listing sees only this module's keys.
"""

from __future__ import annotations

import functools
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CancelKeyDeletionRequest,
    CreateDatakeyRequest,
    CreateDatakeyRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DecryptDatakeyRequest,
    DecryptDatakeyRequestBody,
    DeleteKeyRequest,
    DisableKeyRequest,
    EnableKeyRequest,
    KmsClient,
    ListKeyDetailRequest,
    ListKeysRequest,
    ListKeysRequestBody,
    OperateKeyRequestBody,
    ScheduleKeyDeletionRequestBody,
    UpdateKeyAliasRequest,
    UpdateKeyAliasRequestBody,
    UpdateKeyDescriptionRequest,
    UpdateKeyDescriptionRequestBody,
)

pytestmark = pytest.mark.e2e

KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
EPOCH_MS_RE = re.compile(r"^[0-9]{13}$")
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"  # as in conftest
UNKNOWN_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"  # the seed's example key id
LIST_PROJECT_ID = "3c4d5e6f708192a3b4c5d6e7f8091a2b"  # a project only the listing test uses
DAY_MS = 86_400_000
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


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(sdk_client_factory: Callable[..., KmsClient], module_server: Any) -> KmsClient:
    """The default project's client (project A)."""
    return sdk_client_factory(module_server.base_url)


@pytest.fixture(scope="module")
def other_client(
    sdk_client_factory: Callable[..., KmsClient], module_server: Any, skms_cli: Any
) -> KmsClient:
    """Credentials of another project (B), created with the CLI."""
    creds = skms_cli.create_access_key(module_server, OTHER_PROJECT_ID)
    return sdk_client_factory(module_server.base_url, creds)


@pytest.fixture(scope="module")
def list_client(sdk_client_factory: Callable[..., KmsClient], module_server: Any, skms_cli: Any) -> KmsClient:
    """Credentials of a project no other test creates keys in."""
    creds = skms_cli.create_access_key(module_server, LIST_PROJECT_ID)
    return sdk_client_factory(module_server.base_url, creds)


def new_alias(prefix: str = "sdk-lc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_key(client: KmsClient, alias: str | None = None, spec: str | None = None, **fields: Any) -> str:
    body = CreateKeyRequestBody(key_alias=alias or new_alias(), key_spec=spec, **fields)
    key_id = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    assert isinstance(key_id, str)
    assert KEY_ID_RE.fullmatch(key_id)
    return key_id


def describe(client: KmsClient, key_id: str) -> Any:
    return client.list_key_detail(ListKeyDetailRequest(body=OperateKeyRequestBody(key_id=key_id)))


def fresh() -> str:
    """A new ``sequence`` for a request that repeats an earlier one of the test on purpose: the same
    signed request again within its X-Sdk-Date second would be a replay, answered with the first
    answer (README, Replayed requests); its own sequence makes it a new request."""
    return str(uuid.uuid4())


def enable(client: KmsClient, key_id: str, sequence: str | None = None) -> Any:
    return client.enable_key(EnableKeyRequest(body=OperateKeyRequestBody(key_id=key_id, sequence=sequence)))


def disable(client: KmsClient, key_id: str, sequence: str | None = None) -> Any:
    return client.disable_key(DisableKeyRequest(body=OperateKeyRequestBody(key_id=key_id, sequence=sequence)))


def schedule(client: KmsClient, key_id: str, pending_days: str = "7", sequence: str | None = None) -> Any:
    body = ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days=pending_days, sequence=sequence)
    return client.delete_key(DeleteKeyRequest(body=body))


def cancel(client: KmsClient, key_id: str, sequence: str | None = None) -> Any:
    body = OperateKeyRequestBody(key_id=key_id, sequence=sequence)
    return client.cancel_key_deletion(CancelKeyDeletionRequest(body=body))


def update_alias(client: KmsClient, key_id: str, alias: str) -> Any:
    body = UpdateKeyAliasRequestBody(key_id=key_id, key_alias=alias)
    return client.update_key_alias(UpdateKeyAliasRequest(body=body))


def update_description(client: KmsClient, key_id: str, description: str) -> Any:
    body = UpdateKeyDescriptionRequestBody(key_id=key_id, key_description=description)
    return client.update_key_description(UpdateKeyDescriptionRequest(body=body))


def list_page(client: KmsClient, **fields: Any) -> Any:
    return client.list_keys(ListKeysRequest(body=ListKeysRequestBody(**fields)))


def create_datakey(client: KmsClient, key_id: str) -> Any:
    body = CreateDatakeyRequestBody(key_id=key_id, datakey_length="512")
    return client.create_datakey(CreateDatakeyRequest(body=body))


def decrypt_datakey(client: KmsClient, key_id: str, cipher_text: str) -> Any:
    body = DecryptDatakeyRequestBody(key_id=key_id, cipher_text=cipher_text, datakey_cipher_length="64")
    return client.decrypt_datakey(DecryptDatakeyRequest(body=body))


def state_of(client: KmsClient, key_id: str) -> str:
    state = describe(client, key_id).key_info.key_state
    assert isinstance(state, str)
    return state


def expect_client_error(call: Callable[[], Any], status: int, code: str) -> ClientRequestException:
    """Run ``call``; it must raise the SDK's ClientRequestException with this status and code."""
    with pytest.raises(ClientRequestException) as caught:
        call()
    exc = caught.value
    assert (exc.status_code, exc.error_code) == (status, code), exc
    assert exc.error_msg
    assert exc.request_id, "the SDK takes request_id from the X-Request-Id response header"
    return exc


def wire(response: Any) -> dict[str, Any]:
    """The JSON body the server sent, before the SDK's type coercion."""
    body = json.loads(response.raw_content)
    assert isinstance(body, dict)
    return body


def list_everything(client: KmsClient, **fields: Any) -> tuple[list[str], list[Any]]:
    """Page from the first page to the last, passing each next_marker on. (key ids, responses)."""
    key_ids: list[str] = []
    pages: list[Any] = []
    marker: str | None = None
    while True:
        page = list_page(client, marker=marker, **fields)
        assert page.status_code == 200
        pages.append(page)
        key_ids.extend(page.keys)
        assert page.truncated in ("true", "false"), page.truncated
        if page.truncated == "false":
            assert page.next_marker == ""
            return key_ids, pages
        assert page.next_marker
        marker = page.next_marker
        assert len(pages) < 50, "list_keys does not end"


# -- list_key_detail (describe-key) ---------------------------------------------------------------


def test_list_key_detail(client: KmsClient) -> None:
    # Given a key created through the SDK
    alias = new_alias()
    before = time.time_ns() // 1_000_000
    key_id = create_key(client, alias, key_description="described through the SDK")
    after = time.time_ns() // 1_000_000

    # When it is described
    response = describe(client, key_id)

    # Then the SDK parsed a single KeyDetails object with the key's values
    assert response.status_code == 200
    info = response.key_info
    assert (info.key_id, info.key_alias, info.key_description) == (key_id, alias, "described through the SDK")
    assert (info.key_spec, info.key_usage, info.key_state, info.origin) == (
        "AES_256",
        "ENCRYPT_DECRYPT",
        "2",
        "kms",
    )
    assert (info.default_key_flag, info.key_rotation_enabled, info.sys_enterprise_project_id) == (
        "0",
        "false",
        "0",
    )
    assert info.scheduled_deletion_date == ""
    assert re.fullmatch(r"[0-9a-f]{32}", info.domain_id)
    assert isinstance(info.realm, str)
    assert info.realm
    assert before <= int(info.creation_date) <= after
    # And on the wire every KeyDetails field is a JSON string (§2)
    sent = wire(response)
    assert set(sent) == {"key_info"}
    assert set(sent["key_info"]) == KEY_DETAILS_FIELDS
    assert all(isinstance(value, str) for value in sent["key_info"].values()), sent
    assert EPOCH_MS_RE.fullmatch(sent["key_info"]["creation_date"])


def test_list_key_detail_errors(client: KmsClient) -> None:
    expect_client_error(lambda: describe(client, UNKNOWN_KEY_ID), 404, "KMS.0207")
    expect_client_error(lambda: describe(client, "not-a-key-id"), 400, "KMS.0205")


# -- list_keys ------------------------------------------------------------------------------------


def test_list_keys_pages_to_the_end(list_client: KmsClient) -> None:
    # Given keys of mixed specs in a project of their own, one of them disabled
    specs = ["AES_256", "SM4", "AES_256", "EC_P256", "AES_256", "SM2", "AES_256"]
    created = []
    for spec in specs:
        created.append(create_key(list_client, spec=spec))
        time.sleep(0.002)  # each in its own millisecond: creation order is unambiguous
    disable(list_client, created[2])

    # When every spec is listed two at a time, following next_marker
    key_ids, pages = list_everything(list_client, limit="2", key_spec="ALL")

    # Then every key comes once, in creation order, on pages of 2, 2, 2, 1
    assert key_ids == created
    assert [len(page.keys) for page in pages] == [2, 2, 2, 1]
    # truncated is the string "true"/"false" and total an int: the number of matching keys
    assert [page.truncated for page in pages] == ["true", "true", "true", "false"]
    assert all(type(page.total) is int and page.total == len(specs) for page in pages)
    assert [d.key_id for page in pages for d in page.key_details] == created
    assert [d.key_spec for page in pages for d in page.key_details] == specs
    # And on the wire too: truncated a JSON string, total a JSON number, next_marker "" at the end
    last = wire(pages[-1])
    assert (last["truncated"], last["next_marker"], last["total"]) == ("false", "", len(specs))
    assert type(last["total"]) is int
    assert type(wire(pages[0])["truncated"]) is str
    assert all(isinstance(v, str) for d in wire(pages[0])["key_details"] for v in d.values())

    # And the default filter is AES_256
    aes = [key_id for key_id, spec in zip(created, specs, strict=True) if spec == "AES_256"]
    key_ids, pages = list_everything(list_client, limit="2")
    assert key_ids == aes
    assert {page.total for page in pages} == {len(aes)}
    # And enterprise project "all" is every project's keys
    assert list_everything(list_client, limit="3", key_spec="ALL", enterprise_project_id="all")[0] == created
    # And key_state filters
    assert list_everything(list_client, limit="2", key_state="3")[0] == [created[2]]
    assert list_everything(list_client, limit="2", key_state="2", key_spec="SM4")[0] == [created[1]]


def test_list_keys_errors(list_client: KmsClient) -> None:
    for limit in ("0", "1001"):
        expect_client_error(functools.partial(list_page, list_client, limit=limit), 400, "KMS.1601")
    expect_client_error(lambda: list_page(list_client, limit="2", marker="not-a-marker!"), 400, "KMS.1602")
    expect_client_error(lambda: list_page(list_client, limit="2", marker="-1"), 400, "KMS.1602")


def test_list_keys_marker_beyond_a_64_bit_integer(list_client: KmsClient) -> None:
    expect_client_error(
        lambda: list_page(list_client, limit="2", marker="9223372036854775808"), 400, "KMS.1602"
    )


# -- enable_key / disable_key ---------------------------------------------------------------------


def test_enable_and_disable_key(client: KmsClient) -> None:
    # Given an enabled key
    key_id = create_key(client)

    # Enabling it: 400 KMS.1201
    expect_client_error(lambda: enable(client, key_id), 400, "KMS.1201")

    # Disabling it: key_info {key_id, key_state "3"}
    response = disable(client, key_id)
    assert response.status_code == 200
    assert (response.key_info.key_id, response.key_info.key_state) == (key_id, "3")
    assert wire(response) == {"key_info": {"key_id": key_id, "key_state": "3"}}
    assert state_of(client, key_id) == "3"
    # twice: KMS.1301; and a disabled key makes no data keys: KMS.0209
    expect_client_error(lambda: disable(client, key_id, fresh()), 400, "KMS.1301")
    expect_client_error(lambda: create_datakey(client, key_id), 400, "KMS.0209")

    # Enabling it again: key_state "2", and data keys work
    response = enable(client, key_id, fresh())
    assert (response.key_info.key_id, response.key_info.key_state) == (key_id, "2")
    assert wire(response) == {"key_info": {"key_id": key_id, "key_state": "2"}}
    created = create_datakey(client, key_id)
    assert decrypt_datakey(client, key_id, created.cipher_text).data_key == created.plain_text


# -- delete_key (schedule) / cancel_key_deletion --------------------------------------------------


def test_schedule_and_cancel_key_deletion(client: KmsClient) -> None:
    # Given an enabled key and a data key of it
    key_id = create_key(client)
    datakey = create_datakey(client, key_id)

    # pending_days outside 7-1096: KMS.1401; cancelling a key not pending: KMS.1501
    expect_client_error(lambda: schedule(client, key_id, "3"), 400, "KMS.1401")
    expect_client_error(lambda: schedule(client, key_id, "1097"), 400, "KMS.1401")
    expect_client_error(lambda: cancel(client, key_id), 400, "KMS.1501")
    assert state_of(client, key_id) == "2"

    # Scheduling: top-level key_id and key_state "4"
    before = time.time_ns() // 1_000_000
    response = schedule(client, key_id, "7")
    after = time.time_ns() // 1_000_000
    assert response.status_code == 200
    assert (response.key_id, response.key_state) == (key_id, "4")
    assert wire(response) == {"key_id": key_id, "key_state": "4"}
    info = describe(client, key_id).key_info
    assert info.key_state == "4"
    assert before + 7 * DAY_MS <= int(info.scheduled_deletion_date) <= after + 7 * DAY_MS

    # Pending deletion: scheduling again KMS.1402; the key is unusable and frozen in place: KMS.0210
    expect_client_error(lambda: schedule(client, key_id, "7", fresh()), 400, "KMS.1402")
    expect_client_error(lambda: create_datakey(client, key_id), 400, "KMS.0210")
    expect_client_error(lambda: decrypt_datakey(client, key_id, datakey.cipher_text), 400, "KMS.0210")
    expect_client_error(lambda: enable(client, key_id), 400, "KMS.0210")
    expect_client_error(lambda: disable(client, key_id), 400, "KMS.0210")
    expect_client_error(lambda: update_alias(client, key_id, new_alias()), 400, "KMS.0210")
    expect_client_error(lambda: update_description(client, key_id, "x"), 400, "KMS.0210")

    # Cancelling: top-level key_id and key_state "3" (disabled, §F1), the date cleared
    response = cancel(client, key_id, fresh())
    assert (response.key_id, response.key_state) == (key_id, "3")
    assert wire(response) == {"key_id": key_id, "key_state": "3"}
    info = describe(client, key_id).key_info
    assert (info.key_state, info.scheduled_deletion_date) == ("3", "")
    expect_client_error(lambda: cancel(client, key_id, fresh()), 400, "KMS.1501")

    # And once enabled the old data key opens again
    enable(client, key_id, fresh())
    assert decrypt_datakey(client, key_id, datakey.cipher_text).data_key == datakey.plain_text


# -- update_key_alias / update_key_description ----------------------------------------------------


def test_update_key_alias(client: KmsClient) -> None:
    # Given two keys
    old, new = new_alias("old"), new_alias("new")
    key_id = create_key(client, old)
    taken = new_alias("taken")
    create_key(client, taken)

    # Renaming: key_info {key_id, key_alias}
    response = update_alias(client, key_id, new)
    assert response.status_code == 200
    assert (response.key_info.key_id, response.key_info.key_alias) == (key_id, new)
    assert wire(response) == {"key_info": {"key_id": key_id, "key_alias": new}}
    assert describe(client, key_id).key_info.key_alias == new

    # Onto an alias in use: KMS.1104; onto a /default alias: KMS.1101
    expect_client_error(lambda: update_alias(client, key_id, taken), 400, "KMS.1104")
    expect_client_error(lambda: update_alias(client, key_id, "kms/default"), 400, "KMS.1101")
    assert describe(client, key_id).key_info.key_alias == new

    # And the old alias is free again
    assert describe(client, create_key(client, old, sequence=fresh())).key_info.key_alias == old


def test_update_key_description(client: KmsClient) -> None:
    key_id = create_key(client, key_description="before")

    response = update_description(client, key_id, "after")
    assert response.status_code == 200
    assert (response.key_info.key_id, response.key_info.key_description) == (key_id, "after")
    assert wire(response) == {"key_info": {"key_id": key_id, "key_description": "after"}}
    assert describe(client, key_id).key_info.key_description == "after"

    expect_client_error(lambda: update_description(client, key_id, "d" * 256), 400, "KMS.1103")
    expect_client_error(lambda: update_description(client, UNKNOWN_KEY_ID, "x"), 404, "KMS.0207")
    assert describe(client, key_id).key_info.key_description == "after"


# -- another project ------------------------------------------------------------------------------


def test_another_project_cannot_see_or_change_the_keys(client: KmsClient, other_client: KmsClient) -> None:
    # Given a key of project A, and a disabled one
    key_id = create_key(client)
    disabled = create_key(client)
    disable(client, disabled)
    before = [describe(client, k).key_info.to_dict() for k in (key_id, disabled)]

    # Then project B's credentials can neither describe nor change them: 404 KMS.0207
    expect_client_error(lambda: describe(other_client, key_id), 404, "KMS.0207")
    expect_client_error(lambda: enable(other_client, disabled), 404, "KMS.0207")
    expect_client_error(lambda: disable(other_client, key_id), 404, "KMS.0207")
    expect_client_error(lambda: schedule(other_client, key_id), 404, "KMS.0207")
    expect_client_error(lambda: update_alias(other_client, key_id, new_alias()), 404, "KMS.0207")
    expect_client_error(lambda: update_description(other_client, key_id, "x"), 404, "KMS.0207")

    # And B's listing shows none of A's keys, while A's shows them
    theirs, _ = list_everything(other_client, limit="50", key_spec="ALL")
    assert not {key_id, disabled} & set(theirs)
    mine, _ = list_everything(client, limit="50", key_spec="ALL")
    assert {key_id, disabled} <= set(mine)
    assert [describe(client, k).key_info.to_dict() for k in (key_id, disabled)] == before

    # And a key B creates is B's alone
    own = create_key(other_client)
    assert own in list_everything(other_client, limit="50", key_spec="ALL")[0]
    assert own not in list_everything(client, limit="50", key_spec="ALL")[0]
    expect_client_error(lambda: describe(client, own), 404, "KMS.0207")
