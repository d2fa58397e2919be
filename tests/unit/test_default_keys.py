"""Service default keys: created on first event-driven use, then protected (KMS.0211)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from skms.config import Settings
from skms.runtime import Services, get_services, set_services
from skms.sam_template import load_handler, routes_from_template
from tests.conftest import OTHER_PROJECT_ID, PROJECT_ID, TEMPLATE, make_services


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


def test_default_keys_count_against_the_key_quota(settings: Settings, handlers: dict[str, Any]) -> None:
    # Given a project whose quota is 2 keys
    limited = make_services(settings.model_copy(update={"key_quota": 2}))
    set_services(limited)
    try:
        # When five services ask for data keys under their default keys
        replies = [_direct(handlers, "create_datakey", {"key_id": f"svc{n}/default"}) for n in range(5)]
        # Then two default keys are created, the others refused with KMS.1105 (not a 500)
        assert [("error" in reply) for reply in replies] == [False, False, True, True, True]
        assert {reply["error"]["error_code"] for reply in replies[2:]} == {"KMS.1105"}
        assert limited.stores.keys.count_keys(PROJECT_ID) == 2
        # And an existing default key is still used at the quota
        assert "key_id" in _direct(handlers, "create_datakey", {"key_id": "svc0/default"})
    finally:
        set_services(None)


def test_direct_invocations_are_off_unless_the_project_is_listed(
    tmp_path: Path, handlers: dict[str, Any]
) -> None:
    # Given the default settings (no KMS_DIRECT_INVOCATION_PROJECTS), then one listing another project
    for listed in ("", OTHER_PROJECT_ID):
        settings = Settings(data_dir=tmp_path / f"kms-{listed or 'none'}", direct_invocation_projects=listed)
        settings.data_dir.mkdir(parents=True)
        set_services(make_services(settings))
        try:
            # When another service invokes create-datakey directly for PROJECT_ID
            reply = _direct(handlers, "create_datakey", {"key_id": "obs/default"})
            # Then a clear 403 body, and no default key was created
            assert reply == {
                "error": {
                    "error_code": "KMS.0307",
                    "error_msg": "Direct invocations are not enabled for this project.",
                }
            }
            assert get_services().stores.keys.count_keys(PROJECT_ID) == 0
        finally:
            set_services(None)
