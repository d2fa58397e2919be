"""Tags against the in-memory fake store: spec §8 ops 33-38, rules of access-control.md §5, codes of §F2."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.logic.create_key import create_key
from skms.logic.default_keys import resolve_default_key
from skms.logic.keys import disable_key, schedule_key_deletion
from skms.logic.sweep import sweep
from skms.logic.tags import (
    batch_create_kms_tags,
    create_kms_tag,
    delete_tag,
    list_kms_by_tags,
    list_kms_tags,
    show_kms_tags,
)
from skms.models.base import parse_body
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody, ScheduleKeyDeletionRequestBody
from skms.models.tags import (
    BatchCreateKmsTagsRequestBody,
    CreateKmsTagRequestBody,
    DeleteTagRequestBody,
    ListKmsByTagsRequestBody,
    ListKmsTagsRequestBody,
    ShowKmsTagsRequestBody,
)
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID


def _key(services: Services, caller: Caller, alias: str | None = None) -> str:
    body = CreateKeyRequestBody(key_alias=alias or f"k-{uuid.uuid4().hex[:12]}")
    return create_key(body, caller, services).key_info.key_id


def _tag(services: Services, caller: Caller, key_id: str, **tags: str) -> None:
    body = {"key_id": key_id, "action": "create", "tags": [{"key": k, "value": v} for k, v in tags.items()]}
    batch_create_kms_tags(parse_body(BatchCreateKmsTagsRequestBody, body), caller, services)


def _shown(services: Services, caller: Caller, key_id: str) -> dict[str, str]:
    answer = show_kms_tags(parse_body(ShowKmsTagsRequestBody, {"key_id": key_id}), caller, services)
    assert answer.existTagsNum == len(answer.tags)
    return {tag.key: tag.value for tag in answer.tags}


def _by_tags(services: Services, caller: Caller, **body: Any) -> dict[str, Any]:
    answer = list_kms_by_tags(parse_body(ListKmsByTagsRequestBody, body), caller, services)
    return answer.model_dump(mode="json", exclude_none=True)


def _code(call: Any) -> str:
    with pytest.raises(errors.KmsError) as raised:
        call()
    return raised.value.code


# -- a key's tags --------------------------------------------------------------------------------


def test_the_tag_lifecycle_of_one_key(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    assert _shown(memory_services, caller, key_id) == {}
    # create-kms-tag adds, and replaces the value of an existing tag key
    for value in ("prod", "test"):
        body: dict[str, Any] = {"key_id": key_id, "tag": {"key": "env", "value": value}}
        create_kms_tag(parse_body(CreateKmsTagRequestBody, body), caller, memory_services)
    # an absent value is ""
    create_kms_tag(
        parse_body(CreateKmsTagRequestBody, {"key_id": key_id, "tag": {"key": "x"}}), caller, memory_services
    )
    _tag(memory_services, caller, key_id, team="core", 标签="值")
    assert _shown(memory_services, caller, key_id) == {"env": "test", "team": "core", "x": "", "标签": "值"}
    # batch delete removes by tag key; tag keys the key does not carry are ignored
    body = {"key_id": key_id, "action": "delete", "tags": [{"key": "team"}, {"key": "absent"}]}  # 204
    batch_create_kms_tags(parse_body(BatchCreateKmsTagsRequestBody, body), caller, memory_services)
    delete_tag(parse_body(DeleteTagRequestBody, {"key_id": key_id, "key": "x"}), caller, memory_services)
    assert _shown(memory_services, caller, key_id) == {"env": "test", "标签": "值"}
    # delete-tag of a tag key the key does not carry: 404 KMS.0416
    missing = parse_body(DeleteTagRequestBody, {"key_id": key_id, "key": "x"})
    assert _code(lambda: delete_tag(missing, caller, memory_services)) == "KMS.0416"


def test_a_key_carries_at_most_the_configured_number_of_tags(
    memory_services: Services, caller: Caller
) -> None:
    services = dataclasses.replace(
        memory_services, settings=memory_services.settings.model_copy(update={"tags_per_key": 3})
    )
    key_id = _key(services, caller)
    _tag(services, caller, key_id, a="1", b="2", c="3")
    _tag(services, caller, key_id, a="changed")  # a new value is no new tag
    body = parse_body(CreateKmsTagRequestBody, {"key_id": key_id, "tag": {"key": "d", "value": "4"}})
    assert _code(lambda: create_kms_tag(body, caller, services)) == "KMS.0409"
    many = {"key_id": key_id, "action": "create", "tags": [{"key": f"k{i}"} for i in range(4)]}
    assert (
        _code(
            lambda: batch_create_kms_tags(parse_body(BatchCreateKmsTagsRequestBody, many), caller, services)
        )
        == "KMS.0407"
    )
    assert _shown(services, caller, key_id) == {"a": "changed", "b": "2", "c": "3"}


def test_the_default_limit_is_the_api_figure_of_ten(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _tag(memory_services, caller, key_id, **{f"k{i}": "v" for i in range(10)})
    body = parse_body(CreateKmsTagRequestBody, {"key_id": key_id, "tag": {"key": "k10", "value": "v"}})
    assert _code(lambda: create_kms_tag(body, caller, memory_services)) == "KMS.0409"


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ({"key": ""}, "KMS.0406"),
        ({"key": "   "}, "KMS.0406"),
        ({"key": "k" * 37}, "KMS.0411"),
        ({"key": "a=b"}, "KMS.0406"),
        ({"key": "a*b"}, "KMS.0406"),
        ({"key": "a<b"}, "KMS.0406"),
        ({"key": "a>b"}, "KMS.0406"),
        ({"key": "a\\b"}, "KMS.0406"),
        ({"key": "a\nb"}, "KMS.0406"),
        ({"key": "_sys_enterprise_project_id"}, "KMS.0406"),
        ({"key": "env", "value": "v" * 44}, "KMS.0410"),
        ({"key": "env", "value": "a=b"}, "KMS.0405"),
        ({"key": "env", "value": "\x1f"}, "KMS.0405"),
        ({"key": 5}, "KMS.0414"),
        ({"value": "v"}, "KMS.0204"),
    ],
)
def test_bad_tag_keys_and_values_are_refused(
    memory_services: Services, caller: Caller, tag: dict[str, Any], code: str
) -> None:
    key_id = _key(memory_services, caller)
    assert (
        _code(
            lambda: create_kms_tag(
                parse_body(CreateKmsTagRequestBody, {"key_id": key_id, "tag": tag}), caller, memory_services
            )
        )
        == code
    )
    assert _shown(memory_services, caller, key_id) == {}


def test_the_longest_key_and_value_and_empty_value_are_accepted(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _key(memory_services, caller)
    _tag(memory_services, caller, key_id, **{"k" * 36: "v" * 43, "empty": ""})
    assert _shown(memory_services, caller, key_id) == {"empty": "", "k" * 36: "v" * 43}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"action": "remove", "tags": [{"key": "a"}]}, "KMS.0404"),
        ({"action": "create", "tags": []}, "KMS.0401"),
        ({"action": "create", "tags": [{"key": "a"}, {"key": "a", "value": "2"}]}, "KMS.0412"),
        ({"action": "create", "tags": "a"}, "KMS.0412"),
        ({"action": "create"}, "KMS.0204"),
    ],
)
def test_bad_batches_are_refused(
    memory_services: Services, caller: Caller, body: dict[str, Any], code: str
) -> None:
    key_id = _key(memory_services, caller)
    assert (
        _code(
            lambda: batch_create_kms_tags(
                parse_body(BatchCreateKmsTagsRequestBody, {"key_id": key_id, **body}), caller, memory_services
            )
        )
        == code
    )


def test_create_kms_tag_without_a_tag_is_a_missing_parameter(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _key(memory_services, caller)
    body = parse_body(CreateKmsTagRequestBody, {"key_id": key_id})
    assert _code(lambda: create_kms_tag(body, caller, memory_services)) == "KMS.0204"


def test_which_keys_may_be_tagged(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    disabled, pending = _key(services, caller), _key(services, caller)
    disable_key(OperateKeyRequestBody(key_id=disabled), caller, services)
    _tag(services, caller, disabled, env="prod")  # a disabled key may be tagged
    schedule_key_deletion(ScheduleKeyDeletionRequestBody(key_id=pending, pending_days="7"), caller, services)
    assert _code(lambda: _tag(services, caller, pending, env="prod")) == "KMS.0210"
    assert _shown(services, caller, pending) == {}  # but its tags can be read
    default = resolve_default_key(services, caller, "obs/default")
    assert _code(lambda: _tag(services, caller, default, env="prod")) == "KMS.0211"
    assert _code(lambda: _tag(services, caller, str(uuid.uuid4()), env="prod")) == "KMS.0207"
    other = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="r")
    assert _code(lambda: _shown(services, other, disabled)) == "KMS.0207"


def test_a_deleted_key_loses_its_tags_with_the_sweep(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    kept, deleted = _key(services, caller), _key(services, caller)
    _tag(services, caller, kept, env="prod")
    _tag(services, caller, deleted, env="prod", team="core")
    schedule_key_deletion(ScheduleKeyDeletionRequestBody(key_id=deleted, pending_days="7"), caller, services)
    assert sweep(services, now=now_ms() + 8 * 86_400_000).deleted == 1
    assert services.stores.tags.get_tags(caller.project_id, deleted) == {}
    assert _by_tags(services, caller, action="count", tags=[{"key": "env"}]) == {"total_count": 1}
    assert list_kms_tags(ListKmsTagsRequestBody(), caller, services).model_dump()["tags"] == [
        {"key": "env", "values": ["prod"]}
    ]


# -- project tags and lookups by tag ---------------------------------------------------------------


@pytest.fixture
def fleet(memory_services: Services, caller: Caller) -> dict[str, str]:
    """Five keys: orders-a/b/c (env prod, prod, test), billing-a (env prod, team pay), plain (none)."""
    keys = {
        name: _key(memory_services, caller, name)
        for name in ("orders-a", "orders-b", "orders-c", "billing-a", "plain")
    }
    _tag(memory_services, caller, keys["orders-a"], env="prod", team="core")
    _tag(memory_services, caller, keys["orders-b"], env="prod")
    _tag(memory_services, caller, keys["orders-c"], env="test")
    _tag(memory_services, caller, keys["billing-a"], env="prod", team="pay")
    return keys


def test_list_kms_tags_gives_every_tag_key_of_the_project_with_its_values(
    memory_services: Services, caller: Caller, fleet: dict[str, str]
) -> None:
    answer = list_kms_tags(ListKmsTagsRequestBody(), caller, memory_services).model_dump()
    assert answer == {
        "tags": [{"key": "env", "values": ["prod", "test"]}, {"key": "team", "values": ["core", "pay"]}]
    }
    other = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="r")
    assert list_kms_tags(ListKmsTagsRequestBody(), other, memory_services).model_dump() == {"tags": []}


def _ids(answer: dict[str, Any]) -> list[str]:
    return [resource["resource_id"] for resource in answer["resources"]]


def test_filter_ands_tag_keys_ors_values_and_pages_in_key_id_order(
    memory_services: Services, caller: Caller, fleet: dict[str, str]
) -> None:
    prod = sorted(fleet[name] for name in ("orders-a", "orders-b", "billing-a"))
    answer = _by_tags(memory_services, caller, action="filter", tags=[{"key": "env", "values": ["prod"]}])
    assert (_ids(answer), answer["total_count"]) == (prod, 3)
    both = _by_tags(
        memory_services,
        caller,
        action="filter",
        tags=[{"key": "env", "values": ["prod"]}, {"key": "team", "values": []}],
    )
    assert sorted(_ids(both)) == sorted([fleet["orders-a"], fleet["billing-a"]])
    either = _by_tags(
        memory_services, caller, action="count", tags=[{"key": "env", "values": ["prod", "test"]}]
    )
    assert either == {"total_count": 4}
    page = _by_tags(
        memory_services,
        caller,
        action="filter",
        limit="2",
        offset="1",
        tags=[{"key": "env", "values": ["prod"]}],
    )
    assert (_ids(page), page["total_count"]) == (prod[1:3], 3)
    # no tags: every tagged key of the project
    assert _by_tags(memory_services, caller, action="count") == {"total_count": 4}


def test_a_resource_carries_its_details_name_and_tags(
    memory_services: Services, caller: Caller, fleet: dict[str, str]
) -> None:
    answer = _by_tags(memory_services, caller, action="filter", tags=[{"key": "team", "values": ["core"]}])
    [resource] = answer["resources"]
    assert resource["resource_id"] == fleet["orders-a"]
    assert resource["resource_name"] == "orders-a"
    assert resource["resource_detail"]["key_id"] == fleet["orders-a"]
    assert resource["resource_detail"]["key_alias"] == "orders-a"
    assert resource["tags"] == [{"key": "env", "value": "prod"}, {"key": "team", "value": "core"}]


def test_matches_keep_keys_whose_name_contains_the_value(
    memory_services: Services, caller: Caller, fleet: dict[str, str]
) -> None:
    body = {
        "tags": [{"key": "env", "values": ["prod"]}],
        "matches": [{"key": "resource_name", "value": "orders"}],
    }
    answer = _by_tags(memory_services, caller, action="filter", **body)
    assert sorted(_ids(answer)) == sorted([fleet["orders-a"], fleet["orders-b"]])
    assert answer["total_count"] == 2
    assert _by_tags(memory_services, caller, action="count", **body) == {"total_count": 2}
    upper = {**body, "matches": [{"key": "resource_name", "value": "ORDERS"}]}
    assert _by_tags(memory_services, caller, action="count", **upper) == {"total_count": 0}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"action": "list"}, "KMS.0404"),
        ({"action": "count", "limit": "10"}, "KMS.0418"),
        ({"action": "count", "offset": "0"}, "KMS.0418"),
        ({"action": "filter", "limit": "0"}, "KMS.1601"),
        ({"action": "filter", "limit": "1001"}, "KMS.1601"),
        ({"action": "filter", "limit": "ten"}, "KMS.1601"),
        ({"action": "filter", "offset": "-1"}, "KMS.0417"),
        ({"action": "filter", "tags": [{"key": f"k{i}"} for i in range(11)]}, "KMS.0407"),
        ({"action": "filter", "tags": [{"key": "a"}, {"key": "a"}]}, "KMS.0414"),
        ({"action": "filter", "tags": [{"key": "a", "values": ["x", "x"]}]}, "KMS.0414"),
        ({"action": "filter", "tags": [{"key": "a", "values": [f"v{i}" for i in range(11)]}]}, "KMS.0413"),
        ({"action": "filter", "tags": [{"key": "a=b"}]}, "KMS.0406"),
        ({"action": "filter", "tags": [{"key": "a", "values": ["v" * 44]}]}, "KMS.0410"),
        ({"action": "filter", "tags": "env"}, "KMS.0414"),
        ({"action": "filter", "matches": [{"key": "name", "value": "x"}]}, "KMS.0403"),
        ({"action": "filter", "matches": [{"key": "resource_name", "value": ""}]}, "KMS.0402"),
        ({"action": "filter", "matches": [{"key": "resource_name", "value": "x" * 256}]}, "KMS.0402"),
        ({"action": "filter", "matches": {"key": "resource_name"}}, "KMS.0415"),
    ],
)
def test_bad_filters_are_refused(
    memory_services: Services, caller: Caller, body: dict[str, Any], code: str
) -> None:
    assert _code(lambda: _by_tags(memory_services, caller, **body)) == code
