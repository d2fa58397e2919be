"""Turning API Gateway and direct events into invocations."""

from __future__ import annotations

import base64
import json

import pytest

from skms import errors
from skms.api.events import MAX_BODY_BYTES, parse_invocation


def _api_event(body: str | None, project: str = "p1", **extra: object) -> dict[str, object]:
    return {
        "httpMethod": "POST",
        "pathParameters": {"project_id": project},
        "requestContext": {"requestId": "rid-1", "authorizer": extra.pop("authorizer", None)},
        "body": body,
        **extra,
    }


def test_api_event_carries_project_request_id_and_body() -> None:
    invocation = parse_invocation(_api_event('{"a": "b"}'))
    assert (invocation.via_api, invocation.project_id, invocation.request_id) == (True, "p1", "rid-1")
    assert invocation.body == {"a": "b"}


def test_base64_body_is_decoded() -> None:
    event = _api_event(base64.b64encode(b'{"x":"y"}').decode(), isBase64Encoded=True)
    assert parse_invocation(event).body == {"x": "y"}


def test_domain_comes_only_from_the_authorizer_context() -> None:
    event = _api_event("{}", authorizer={"domain_id": "dom-a"})
    event["headers"] = {"X-Domain-Id": "forged"}
    assert parse_invocation(event).domain_id == "dom-a"


def test_direct_invocation_accepts_an_object_body() -> None:
    invocation = parse_invocation({"project_id": "p2", "body": {"key_alias": "k"}, "domain_id": "d"})
    assert (invocation.via_api, invocation.project_id, invocation.domain_id) == (False, "p2", "d")
    assert invocation.body == {"key_alias": "k"}


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (_api_event("{not json"), "KMS.0202"),
        (_api_event("{}", project="{project_id}"), "KMS.0201"),
        (_api_event("{}", project="a/b"), "KMS.0201"),
        (_api_event(json.dumps({"k": "v" * MAX_BODY_BYTES})), "KMS.0203"),
        (_api_event("[" * 30_000 + "]" * 30_000), "KMS.0202"),
        ({"body": {}}, "KMS.0201"),
        ([], "KMS.0214"),
    ],
)
def test_malformed_events_are_rejected_with_a_kms_error(event: object, code: str) -> None:
    with pytest.raises(errors.KmsError) as caught:
        parse_invocation(event)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": "\\ud800"}',  # the escape of a lone surrogate
        b'{"a": "\\uDC00"}',  # as bytes, upper-case hex
        '{"a": "\ud800"}',  # a lone surrogate itself, in text that is not ASCII
        '{"a": "\\u00e9 \\udbff"}',
    ],
)
def test_bodies_holding_a_lone_surrogate_are_refused(raw: str | bytes) -> None:
    from skms import errors
    from skms.api.events import _decode_json

    with pytest.raises(errors.KmsError) as caught:
        _decode_json(raw)
    assert caught.value.code == "KMS.0202"


@pytest.mark.parametrize("raw", ['{"a": "\\u00e9"}', '{"a": "\\\\ud800"}', b'{"a": "plain"}', '{"a": "é"}'])
def test_bodies_without_a_lone_surrogate_are_decoded(raw: str | bytes) -> None:
    from skms.api.events import _decode_json

    assert set(_decode_json(raw)) == {"a"}
