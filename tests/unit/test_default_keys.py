"""Service default keys: created on first event-driven use, then protected (KMS.0211)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from skms.runtime import Services
from skms.sam_template import load_handler, routes_from_template
from tests.conftest import PROJECT_ID, TEMPLATE


@pytest.fixture(scope="module")
def handlers() -> dict[str, Any]:
    return {route.code_uri.name: load_handler(route) for route in routes_from_template(TEMPLATE)}


def _direct(handlers: dict[str, Any], function: str, body: dict[str, Any]) -> Any:
    return handlers[function]({"project_id": PROJECT_ID, "body": body}, None)


def test_first_use_creates_the_default_key_and_later_uses_reuse_it(
    services: Services, handlers: dict[str, Any]
) -> None:
    # Given no key at all / When another service asks for a data key under obs/default
    first = _direct(handlers, "create_datakey", {"key_id": "obs/default"})
    second = _direct(handlers, "create_datakey", {"key_id": "obs/default"})
    # Then one default key exists and both data keys are under it
    assert first["key_id"] == second["key_id"]
    assert services.stores.keys.count_keys(PROJECT_ID) == 1
    details = _direct(handlers, "describe_key", {"key_id": first["key_id"]})["key_info"]
    assert (details["key_alias"], details["default_key_flag"], details["key_state"]) == (
        "obs/default",
        "1",
        "2",
    )
    # And the data key decrypts through the alias as well
    plain = _direct(
        handlers,
        "decrypt_datakey",
        {"key_id": "obs/default", "cipher_text": first["cipher_text"], "datakey_cipher_length": "32"},
    )
    assert plain["data_key"] == first["plain_text"]


@pytest.mark.parametrize(
    ("function", "extra"),
    [
        ("disable_key", {}),
        ("schedule_key_deletion", {"pending_days": "7"}),
        ("update_key_alias", {"key_alias": "renamed"}),
        ("update_key_description", {"key_description": "x"}),
    ],
)
def test_default_keys_refuse_changes(
    services: Services, handlers: dict[str, Any], function: str, extra: dict[str, str]
) -> None:
    key_id = _direct(handlers, "create_datakey", {"key_id": "evs/default"})["key_id"]
    assert _direct(handlers, function, {"key_id": key_id, **extra})["error"]["error_code"] == "KMS.0211"


def test_nobody_creates_a_default_alias_and_api_callers_cannot_name_one(
    services: Services, handlers: dict[str, Any]
) -> None:
    assert _direct(handlers, "create_key", {"key_alias": "obs/default"})["error"]["error_code"] == "KMS.1101"
    bad = _direct(handlers, "create_datakey", {"key_id": "not a service/default"})
    assert bad["error"]["error_code"] == "KMS.0205"
    assert services.stores.keys.count_keys(PROJECT_ID) == 0


def test_concurrent_first_uses_make_one_default_key(services: Services, handlers: dict[str, Any]) -> None:
    barrier = threading.Barrier(8)
    key_ids: list[str] = []

    def use() -> None:
        barrier.wait()
        key_ids.append(_direct(handlers, "create_datakey", {"key_id": "rds/default"})["key_id"])

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(key_ids) == 8
    assert len(set(key_ids)) == 1
    assert services.stores.keys.count_keys(PROJECT_ID) == 1


def test_user_instances_counts_customer_keys_only(services: Services, handlers: dict[str, Any]) -> None:
    # Given two service default keys and one customer key in the project
    _direct(handlers, "create_datakey", {"key_id": "obs/default"})
    _direct(handlers, "create_datakey", {"key_id": "evs/default"})
    _direct(handlers, "create_key", {"key_alias": "customer-key"})
    # When the quotas and the instances are asked for
    quotas = _direct(handlers, "show_user_quotas", {})["quotas"]["resources"]
    instances = _direct(handlers, "show_user_instances", {})
    # Then the quota counts every key, and user-instances the customer key alone (§15)
    assert {r["type"]: r["used"] for r in quotas}["CMK"] == 3
    assert instances == {"instance_num": 1}
