"""Turning API Gateway and direct events into invocations."""

from __future__ import annotations

import base64
import json
from typing import Any

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
    assert invocation.body() == {"a": "b"}


def test_base64_body_is_decoded() -> None:
    event = _api_event(base64.b64encode(b'{"x":"y"}').decode(), isBase64Encoded=True)
    assert parse_invocation(event).body() == {"x": "y"}


def test_domain_comes_only_from_the_authorizer_context() -> None:
    event = _api_event("{}", authorizer={"domain_id": "dom-a"})
    event["headers"] = {"X-Domain-Id": "forged"}
    assert parse_invocation(event).domain_id == "dom-a"


def test_direct_invocation_accepts_an_object_body() -> None:
    invocation = parse_invocation({"project_id": "p2", "body": {"key_alias": "k"}, "domain_id": "d"})
    assert (invocation.via_api, invocation.project_id, invocation.domain_id) == (False, "p2", "d")
    assert invocation.body() == {"key_alias": "k"}


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
        parse_invocation(event).request_fields()
    assert caught.value.code == code


def test_parsing_does_not_decode_the_body() -> None:
    # Given an API event whose body is not JSON
    invocation = parse_invocation(_api_event("{not json"))
    # Then parsing keeps the raw bytes (the signature is checked over them first)
    assert invocation.raw_body == b"{not json"
    # And only decoding refuses it
    with pytest.raises(errors.KmsError) as caught:
        invocation.body()
    assert caught.value.code == "KMS.0202"


def test_query_parameters_single_and_repeated() -> None:
    event = _api_event(
        None,
        queryStringParameters={"key_id": "k", "tag": "b"},
        multiValueQueryStringParameters={"key_id": ["k"], "tag": ["a", "b"]},
    )
    assert parse_invocation(event).query == {"key_id": "k", "tag": ["a", "b"]}


def test_query_parameters_from_the_single_valued_map_alone() -> None:
    event = _api_event(None, queryStringParameters={"limit": "10"})
    assert parse_invocation(event).query == {"limit": "10"}


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("plain", "plain"),
        ("a%20b", "a b"),
        ("a%2Fb", "a/b"),
        ("%E6%A0%87%E7%AD%BE", "\u6807\u7b7e"),
        ("100%2525", "100%25"),  # decoded exactly once
        ("a+b", "a+b"),  # '+' is a space only in a query string
    ],
)
def test_path_parameters_are_percent_decoded_once(raw: str, decoded: str) -> None:
    event = _api_event(None)
    event["pathParameters"] = {"project_id": "p1", "key": raw}
    invocation = parse_invocation(event)
    assert invocation.path_params == {"key": decoded}
    assert invocation.project_id == "p1"


def test_a_path_parameter_that_is_not_utf8_is_an_invalid_url() -> None:
    event = _api_event(None)
    event["pathParameters"] = {"project_id": "p1", "key": "%FF"}
    with pytest.raises(errors.KmsError) as caught:
        parse_invocation(event)
    assert caught.value.code == "KMS.0201"


def test_request_fields_precedence_path_over_query_over_body() -> None:
    # Given the same names in the body, the query and the path
    event = _api_event(
        json.dumps({"key_id": "from-body", "limit": "1", "marker": "m", "only_body": "b"}),
        queryStringParameters={"key_id": "from-query", "limit": "2"},
        multiValueQueryStringParameters={"key_id": ["from-query"], "limit": ["2"]},
    )
    event["pathParameters"] = {"project_id": "p1", "key_id": "from-path"}
    # Then the path wins over the query, which wins over the body
    assert parse_invocation(event).request_fields() == {
        "key_id": "from-path",
        "limit": "2",
        "marker": "m",
        "only_body": "b",
    }


def test_request_fields_of_a_non_object_body_are_left_for_the_model_to_refuse() -> None:
    event = _api_event("[1]", queryStringParameters={"limit": "2"})
    assert parse_invocation(event).request_fields() == [1]


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


JSON_TEXTS = [
    '{"a": "b"}',
    '  \t\n{"a": [1, 2.5, -3e-7, true, false, null]}\r\n ',
    '{"a": "\\u00e9\\ud83d\\ude00", "b": {"c": {}}}',
    '{"dup": 1, "dup": 2}',
    "[1]",
    '"text"',
    "12",
    "NaN",
    "-Infinity",
    "   ",
    "{} x",
    "{}{}",
    '{"a": 1,}',
    "{'a': 1}",
    '{"a": "\x01"}',
    "[" * 5000 + "]" * 5000,
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_the_scanner_reads_what_json_loads_reads(text: str) -> None:
    from skms.api.events import _loads_text

    # Given a text, When json.loads and the direct scanner read it, Then both give the same value
    # or both refuse it (a ValueError, or a RecursionError for a deep nesting)
    try:
        expected: object = json.loads(text)
    except ValueError:
        expected = ValueError
    except RecursionError:
        expected = RecursionError
    try:
        got: object = _loads_text(text)
    except ValueError:
        got = ValueError
    except RecursionError:
        got = RecursionError
    assert repr(got) == repr(expected)  # repr: NaN is not equal to itself


@pytest.mark.parametrize(
    "body",
    [
        '{"a": "b"}',
        '{"a": "é \\ud800"}',
        '{"a": "\ud800"}',  # a lone surrogate itself
        "\ufeff{}",  # a UTF-8 BOM: json.loads reads the bytes, not the text
        "\x00{\x00}",  # NULs among the first bytes: json.loads reads the bytes as UTF-16
        "{\x00",
        "x\x00{}",
        "{not json",
        "[1]",
        " ",
        "",
        '{"k": "' + "v" * MAX_BODY_BYTES + '"}',
        '{"k": "' + "é" * (MAX_BODY_BYTES // 2) + '"}',  # fewer characters than the limit, more bytes
    ],
)
def test_an_api_body_decodes_from_its_text_as_from_its_bytes(body: str) -> None:
    from skms.api.events import _decode_json

    # Given an API event whose body is text
    invocation = parse_invocation(_api_event(body))

    def outcome(decode: Any) -> object:
        try:
            return decode()
        except errors.KmsError as exc:
            return exc.code, exc.message

    # Then its decoded body (or the error) is what decoding its raw bytes gives
    assert invocation.raw_body == body.encode("utf-8", "surrogatepass")
    assert outcome(invocation.body) == outcome(lambda: _decode_json(invocation.raw_body))


def test_the_request_id_given_is_the_invocations() -> None:
    # Given a direct event without a request id, and the one the handler made up for it
    event = {"project_id": "p2", "body": {}}
    # Then the invocation carries that same id, not another one made up
    assert parse_invocation(event, request_id="made-up-once").request_id == "made-up-once"
    assert parse_invocation(_api_event("{}"), request_id="rid-1").request_id == "rid-1"


def test_a_mapping_that_is_not_a_dict_is_an_event_too() -> None:
    from types import MappingProxyType

    event = MappingProxyType(
        {
            "httpMethod": "POST",
            "pathParameters": MappingProxyType({"project_id": "p1", "key": "a%20b"}),
            "requestContext": MappingProxyType({"requestId": "rid-m", "authorizer": {"domain_id": "d"}}),
            "queryStringParameters": MappingProxyType({"limit": "1"}),
            "body": '{"x": 1}',
        }
    )
    invocation = parse_invocation(event)
    assert (invocation.request_id, invocation.domain_id, invocation.query) == ("rid-m", "d", {"limit": "1"})
    assert invocation.request_fields() == {"x": 1, "limit": "1", "key": "a b"}


def test_project_ids_found_valid_are_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from skms.api import events

    monkeypatch.setattr(events, "_VALID_PROJECT_IDS", set())
    monkeypatch.setattr(events, "_VALID_PROJECT_IDS_MAX", 3)
    # Given valid project ids seen, more than the bound
    for project in ("p1", "p2", "p3", "p4"):
        assert parse_invocation(_api_event("{}", project=project)).project_id == project
    # Then the set stays within its bound, and holds no invalid id
    assert {"p4"} == events._VALID_PROJECT_IDS
    for project in ("a/b", "", "x" * 65, "p4 "):
        with pytest.raises(errors.KmsError) as caught:
            parse_invocation(_api_event("{}", project=project))
        assert caught.value.code == "KMS.0201"
    assert parse_invocation(_api_event("{}", project="p4")).project_id == "p4"
