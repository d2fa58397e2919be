"""Idempotent retries by ``sequence``: the same request again gets the first answer; the same
sequence with another body is refused (KMS.0206); failures are not remembered."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from skms.runtime import Services
from skms.sam_template import load_handler, routes_from_template
from tests.conftest import OTHER_PROJECT_ID, PROJECT_ID, TEMPLATE

SEQ = "919c82d4-8046-4722-9094-35c3c6524cff"


@pytest.fixture(scope="module")
def handlers() -> dict[str, Any]:
    return {route.code_uri.name: load_handler(route) for route in routes_from_template(TEMPLATE)}


def _invoke(handlers: dict[str, Any], function: str, body: dict[str, Any], project: str = PROJECT_ID) -> Any:
    return handlers[function]({"project_id": project, "body": body}, None)


def test_a_retried_create_returns_the_first_answer_and_creates_one_key(
    services: Services, handlers: dict[str, Any]
) -> None:
    first = _invoke(handlers, "create_key", {"key_alias": "orders", "sequence": SEQ})
    again = _invoke(handlers, "create_key", {"key_alias": "orders", "sequence": SEQ})
    assert again == first
    assert services.stores.keys.count_keys(PROJECT_ID) == 1
    # Without a sequence the same body is a new request (and here a duplicate alias)
    assert _invoke(handlers, "create_key", {"key_alias": "orders"})["error"]["error_code"] == "KMS.1104"


def test_the_same_sequence_with_another_body_is_refused(services: Services, handlers: dict[str, Any]) -> None:
    _invoke(handlers, "create_key", {"key_alias": "a", "sequence": SEQ})
    reply = _invoke(handlers, "create_key", {"key_alias": "b", "sequence": SEQ})
    assert reply["error"]["error_code"] == "KMS.0206"
    assert services.stores.keys.get_key_by_alias(PROJECT_ID, "b") is None


def test_sequences_are_scoped_to_project_and_operation(services: Services, handlers: dict[str, Any]) -> None:
    key_id = _invoke(handlers, "create_key", {"key_alias": "a", "sequence": SEQ})["key_info"]["key_id"]
    other = _invoke(handlers, "create_key", {"key_alias": "a", "sequence": SEQ}, project=OTHER_PROJECT_ID)
    assert other["key_info"]["key_id"] != key_id
    disabled = _invoke(handlers, "disable_key", {"key_id": key_id, "sequence": SEQ})
    assert disabled["key_info"]["key_state"] == "3"


def test_a_retried_state_change_is_not_an_error(services: Services, handlers: dict[str, Any]) -> None:
    key_id = _invoke(handlers, "create_key", {"key_alias": "k"})["key_info"]["key_id"]
    first = _invoke(handlers, "disable_key", {"key_id": key_id, "sequence": SEQ})
    # A plain retry of a disable would be KMS.1301; with the same sequence it is the first answer
    assert _invoke(handlers, "disable_key", {"key_id": key_id, "sequence": SEQ}) == first
    assert _invoke(handlers, "disable_key", {"key_id": key_id})["error"]["error_code"] == "KMS.1301"
    record = services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    assert record.revision == 2  # created, disabled once


def test_failures_are_not_remembered(services: Services, handlers: dict[str, Any]) -> None:
    key_id = _invoke(handlers, "create_key", {"key_alias": "k"})["key_info"]["key_id"]
    refused = _invoke(handlers, "enable_key", {"key_id": key_id, "sequence": SEQ})
    assert refused["error"]["error_code"] == "KMS.1201"  # it is enabled already
    _invoke(handlers, "disable_key", {"key_id": key_id})
    assert (
        _invoke(handlers, "enable_key", {"key_id": key_id, "sequence": SEQ})["key_info"]["key_state"] == "2"
    )


def test_concurrent_retries_create_exactly_one_key(services: Services, handlers: dict[str, Any]) -> None:
    replies: list[Any] = []
    barrier = threading.Barrier(8)

    def retry() -> None:
        barrier.wait()
        replies.append(_invoke(handlers, "create_key", {"key_alias": "raced", "sequence": SEQ}))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [r for r in replies if "key_info" in r]
    refused = [r for r in replies if "error" in r]
    # Every answer is the one key, or "still in progress" for a retry that overlapped it
    assert created
    assert {r["key_info"]["key_id"] for r in created} == {created[0]["key_info"]["key_id"]}
    assert {r["error"]["error_code"] for r in refused} <= {"KMS.0206"}
    assert services.stores.keys.count_keys(PROJECT_ID) == 1
