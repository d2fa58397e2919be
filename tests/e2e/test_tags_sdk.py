"""The official Huawei Cloud SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: tags, spec §8
ops 33-38 (create, batch create/delete, delete, show, project tags, keys by tags), with the rules
of access-control.md §5 and the KMS.04xx codes of §F2.

Only the SDK's KmsClient, its request/body models and its exceptions drive the server; raw bytes
(``response.raw_content``) are read where the SDK's parsing would hide a wrong wire type. The module
runs its own server, so project-wide listings see only this module's keys.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    BatchCreateKmsTagsRequest,
    BatchCreateKmsTagsRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    CreateKmsTagRequest,
    CreateKmsTagRequestBody,
    DeleteKeyRequest,
    DeleteTagRequest,
    KmsClient,
    ListKmsByTagsRequest,
    ListKmsByTagsRequestBody,
    ListKmsTagsRequest,
    ScheduleKeyDeletionRequestBody,
    ShowKmsTagsRequest,
    Tag,
    TagItem,
)

pytestmark = pytest.mark.e2e

OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"  # as in conftest


@pytest.fixture(scope="module")
def client(sdk_client_factory: Callable[..., KmsClient], module_server: Any) -> KmsClient:
    return sdk_client_factory(module_server.base_url)


@pytest.fixture(scope="module")
def other_client(
    sdk_client_factory: Callable[..., KmsClient], module_server: Any, skms_cli: Any
) -> KmsClient:
    creds = skms_cli.create_access_key(module_server, OTHER_PROJECT_ID)
    return sdk_client_factory(module_server.base_url, creds)


def create_key(client: KmsClient, alias: str | None = None) -> str:
    body = CreateKeyRequestBody(key_alias=alias or f"sdk-tag-{uuid.uuid4().hex[:12]}")
    key_id = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    assert isinstance(key_id, str)
    return key_id


def add_tag(client: KmsClient, key_id: str, key: str, value: str | None = None) -> Any:
    body = CreateKmsTagRequestBody(tag=TagItem(key=key, value=value))
    return client.create_kms_tag(CreateKmsTagRequest(key_id=key_id, body=body))


def batch(client: KmsClient, key_id: str, action: str, tags: dict[str, str | None]) -> Any:
    items = [TagItem(key=key, value=value) for key, value in tags.items()]
    body = BatchCreateKmsTagsRequestBody(tags=items, action=action)
    return client.batch_create_kms_tags(BatchCreateKmsTagsRequest(key_id=key_id, body=body))


def shown(client: KmsClient, key_id: str) -> dict[str, str]:
    response = client.show_kms_tags(ShowKmsTagsRequest(key_id=key_id))
    raw = json.loads(response.raw_content)
    assert raw["existTagsNum"] == len(raw["tags"]) == response.exist_tags_num  # an int on the wire
    return {tag.key: tag.value for tag in response.tags}


def by_tags(client: KmsClient, action: str = "filter", **fields: Any) -> Any:
    body = ListKmsByTagsRequestBody(action=action, **fields)
    return client.list_kms_by_tags(ListKmsByTagsRequest(resource_instances="resource_instances", body=body))


def refused(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientRequestException) as raised:
        call()
    return raised.value.status_code, raised.value.error_code


# -- the lifecycle of a key's tags ------------------------------------------------------------------


def test_the_whole_tag_lifecycle_of_a_key(client: KmsClient) -> None:
    key_id = create_key(client)
    assert shown(client, key_id) == {}
    # create-kms-tag: 204 without a body; a second value replaces the first
    created = add_tag(client, key_id, "env", "prod")
    assert created.status_code == 204
    assert created.raw_content in (b"", "", None)
    add_tag(client, key_id, "env", "staging")
    # batch create: several at once, 204
    assert (
        batch(client, key_id, "create", {"team": "payments", "cost center": "42", "标签": "值"}).status_code
        == 204
    )
    assert shown(client, key_id) == {"cost center": "42", "env": "staging", "team": "payments", "标签": "值"}
    # delete-tag: the tag key percent-encoded in the path, no body, 204
    deleted = client.delete_tag(DeleteTagRequest(key_id=key_id, key="cost center"))
    assert deleted.status_code == 204
    assert client.delete_tag(DeleteTagRequest(key_id=key_id, key="标签")).status_code == 204
    # batch delete: by tag key, 204
    assert batch(client, key_id, "delete", {"team": None}).status_code == 204
    assert shown(client, key_id) == {"env": "staging"}
    # deleting a tag the key does not carry: 404 KMS.0416
    assert refused(lambda: client.delete_tag(DeleteTagRequest(key_id=key_id, key="team"))) == (
        404,
        "KMS.0416",
    )


def test_a_tag_key_with_a_slash_and_reserved_characters_round_trips(client: KmsClient) -> None:
    key_id = create_key(client)
    for key in ("a/b", "100%", "x?y#z&w"):
        add_tag(client, key_id, key, "v")
    assert set(shown(client, key_id)) == {"a/b", "100%", "x?y#z&w"}
    for key in ("a/b", "100%", "x?y#z&w"):
        assert client.delete_tag(DeleteTagRequest(key_id=key_id, key=key)).status_code == 204
    assert shown(client, key_id) == {}


def test_tags_of_another_projects_key_are_invisible(client: KmsClient, other_client: KmsClient) -> None:
    key_id = create_key(client)
    add_tag(client, key_id, "env", "prod")
    assert refused(lambda: other_client.show_kms_tags(ShowKmsTagsRequest(key_id=key_id))) == (404, "KMS.0207")
    assert refused(lambda: add_tag(other_client, key_id, "env", "x")) == (404, "KMS.0207")
    assert other_client.list_kms_tags(ListKmsTagsRequest()).tags == []
    assert by_tags(other_client, "count", tags=[Tag(key="env", values=["prod"])]).total_count == 0


def test_a_key_pending_deletion_cannot_be_tagged(client: KmsClient) -> None:
    key_id = create_key(client)
    add_tag(client, key_id, "env", "prod")
    client.delete_key(DeleteKeyRequest(body=ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    assert refused(lambda: add_tag(client, key_id, "env", "test")) == (400, "KMS.0210")
    assert shown(client, key_id) == {"env": "prod"}


# -- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("k" * 37, "v", "KMS.0411"),
        ("a=b", "v", "KMS.0406"),
        ("a<b>", "v", "KMS.0406"),
        ("_sys_enterprise_project_id", "v", "KMS.0406"),
        ("", "v", "KMS.0406"),
        ("env", "v" * 44, "KMS.0410"),
        ("env", "a*b", "KMS.0405"),
        ("env", "tab\there", "KMS.0405"),
    ],
)
def test_bad_tag_keys_and_values_are_refused(client: KmsClient, key: str, value: str, code: str) -> None:
    key_id = create_key(client)
    assert refused(lambda: add_tag(client, key_id, key, value)) == (400, code)
    assert refused(lambda: batch(client, key_id, "create", {"ok": "v", key: value})) == (400, code)
    assert shown(client, key_id) == {}


def test_too_many_tags_are_refused_and_nothing_changes(client: KmsClient) -> None:
    key_id = create_key(client)
    batch(client, key_id, "create", {f"k{i}": "v" for i in range(10)})  # the limit: 10 (API docs)
    assert refused(lambda: add_tag(client, key_id, "k10", "v")) == (400, "KMS.0409")
    assert refused(lambda: batch(client, key_id, "create", {f"n{i}": "v" for i in range(11)})) == (
        400,
        "KMS.0407",
    )
    batch(client, key_id, "delete", {"k0": None})
    assert refused(lambda: batch(client, key_id, "create", {"n0": "v", "n1": "v"})) == (400, "KMS.0409")
    assert len(shown(client, key_id)) == 9


def test_bad_batches_are_refused(client: KmsClient) -> None:
    key_id = create_key(client)
    assert refused(lambda: batch(client, key_id, "update", {"a": "v"})) == (400, "KMS.0404")
    assert refused(lambda: batch(client, key_id, "create", {})) == (400, "KMS.0401")


# -- keys by tags -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(client: KmsClient) -> dict[str, str]:
    """Six keys of a tag key only this fixture uses ("fleet"), with names to match."""
    run = uuid.uuid4().hex[:6]
    layout = {
        f"orders-{run}-1": {"fleet": "blue", "tier": "gold"},
        f"orders-{run}-2": {"fleet": "blue"},
        f"orders-{run}-3": {"fleet": "green", "tier": "gold"},
        f"billing-{run}-1": {"fleet": "blue", "tier": "gold"},
        f"billing-{run}-2": {"fleet": "green"},
        f"plain-{run}": {},
    }
    keys = {}
    for alias, tags in layout.items():
        keys[alias] = create_key(client, alias)
        if tags:
            batch(client, keys[alias], "create", dict(tags))
    return keys


def ids(response: Any) -> list[str]:
    return [resource.resource_id for resource in response.resources]


def test_filter_and_count_by_tags_across_several_keys(client: KmsClient, fleet: dict[str, str]) -> None:
    alias_of = {key_id: alias for alias, key_id in fleet.items()}
    run = next(iter(fleet)).split("-")[1]

    def aliases(response: Any) -> set[str]:
        return {alias_of[key_id] for key_id in ids(response)}

    # one tag key, one value
    blue = by_tags(client, tags=[Tag(key="fleet", values=["blue"])])
    assert aliases(blue) == {f"orders-{run}-1", f"orders-{run}-2", f"billing-{run}-1"}
    assert blue.total_count == 3
    assert ids(blue) == sorted(ids(blue))  # key id order
    # several values of one tag key: either (OR)
    assert by_tags(client, "count", tags=[Tag(key="fleet", values=["blue", "green"])]).total_count == 5
    # several tag keys: all (AND); no values: any value
    gold_blue = by_tags(client, tags=[Tag(key="fleet", values=["blue"]), Tag(key="tier", values=[])])
    assert aliases(gold_blue) == {f"orders-{run}-1", f"billing-{run}-1"}
    # matches: the key's name contains the value
    orders = by_tags(
        client,
        tags=[Tag(key="tier", values=["gold"])],
        matches=[TagItem(key="resource_name", value=f"orders-{run}")],
    )
    assert aliases(orders) == {f"orders-{run}-1", f"orders-{run}-3"}
    assert orders.total_count == 2
    # paging: limit and offset over the same order, total_count the whole
    first = by_tags(client, limit="2", offset="0", tags=[Tag(key="fleet", values=["blue", "green"])])
    rest = by_tags(client, limit="2", offset="2", tags=[Tag(key="fleet", values=["blue", "green"])])
    last = by_tags(client, limit="2", offset="4", tags=[Tag(key="fleet", values=["blue", "green"])])
    assert [len(ids(page)) for page in (first, rest, last)] == [2, 2, 1]
    assert {first.total_count, rest.total_count, last.total_count} == {5}
    assert ids(first) + ids(rest) + ids(last) == sorted(fleet[a] for a in fleet if not a.startswith("plain"))


def test_a_resource_carries_key_details_name_and_tags_with_wire_types(
    client: KmsClient, fleet: dict[str, str]
) -> None:
    run = next(iter(fleet)).split("-")[1]
    response = by_tags(client, tags=[Tag(key="fleet", values=["green"]), Tag(key="tier", values=["gold"])])
    raw = json.loads(response.raw_content)
    assert isinstance(raw["total_count"], int)
    [resource] = raw["resources"]
    assert resource["resource_id"] == fleet[f"orders-{run}-3"]
    assert resource["resource_name"] == f"orders-{run}-3"
    assert resource["tags"] == [{"key": "fleet", "value": "green"}, {"key": "tier", "value": "gold"}]
    detail = resource["resource_detail"]
    assert detail["key_id"] == fleet[f"orders-{run}-3"]
    assert detail["key_state"] == "2"
    assert all(isinstance(value, str) for value in detail.values())
    # count answers total_count only
    counted = by_tags(client, "count", tags=[Tag(key="fleet", values=["green"])])
    assert json.loads(counted.raw_content) == {"total_count": 2}


def test_list_kms_tags_gives_every_tag_key_with_its_values(client: KmsClient, fleet: dict[str, str]) -> None:
    tags = {tag.key: tag.values for tag in client.list_kms_tags(ListKmsTagsRequest()).tags}
    assert tags["fleet"] == ["blue", "green"]
    assert tags["tier"] == ["gold"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"action": "list"}, "KMS.0404"),
        ({"action": "count", "limit": "10"}, "KMS.0418"),
        ({"action": "filter", "limit": "1001"}, "KMS.1601"),
        ({"action": "filter", "offset": "-1"}, "KMS.0417"),
        ({"action": "filter", "tags": [Tag(key=f"k{i}", values=[]) for i in range(11)]}, "KMS.0407"),
        ({"action": "filter", "tags": [Tag(key="a=b", values=[])]}, "KMS.0406"),
        ({"action": "filter", "matches": [TagItem(key="alias", value="x")]}, "KMS.0403"),
        ({"action": "filter", "matches": [TagItem(key="resource_name", value="x" * 256)]}, "KMS.0402"),
    ],
)
def test_bad_filters_are_refused(client: KmsClient, fields: dict[str, Any], code: str) -> None:
    action = fields.pop("action")
    assert refused(lambda: by_tags(client, action, **fields)) == (400, code)
