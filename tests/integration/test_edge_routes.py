"""The API edge for the operations still to come (issue 10 item 6): query parameters, DELETE with a
JSON body, percent-encoded path parameters, 201 and 204 without a body.

A test-only template and function (tests/support/edge_app.py), served by ``skms serve``'s emulator
on a loopback port, the handlers built by ``endpoint()``; the requests signed as the SDK signs them
(and, where the SDK has the operation, sent by the official SDK itself).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from huaweicloudsdkkms.v2 import (
    DeleteAliasRequest,
    DeleteAliasRequestBody,
    DeleteTagRequest,
)

from tests.conftest import PROJECT_ID
from tests.support.edge_app import ACCESS_KEY, DOMAIN_ID, KEY_ID, SECRET_KEY, EdgeServer, serve_edge_app
from tests.support.signer import sign_headers


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeServer]:
    with serve_edge_app(tmp_path) as server:
        yield server


def aliases_path() -> str:
    return f"/v1.0/{PROJECT_ID}/kms/aliases"


def tag_path(key: str, key_id: str = KEY_ID) -> str:
    """The path the SDK sends: each path parameter quoted with nothing safe."""
    return f"/v1.0/{PROJECT_ID}/kms/{quote(key_id, safe='')}/tags/{quote(key, safe='')}"


# -- query parameters ----------------------------------------------------------------------------


def test_query_parameters_become_fields_of_the_request_model(edge: EdgeServer) -> None:
    # Given list-aliases as the SDK sends it: GET with key_id, limit and marker in the query
    query = [("key_id", KEY_ID), ("limit", "10"), ("marker", "alias/a b&c")]
    # When it is served
    answer = edge.request("GET", aliases_path(), query=query)
    # Then the logic got them (decoded) as fields of its model, from an authenticated caller
    assert answer.status == 200, answer.body
    echo = answer.json()
    assert (echo["key_id"], echo["limit"], echo["marker"]) == (KEY_ID, "10", "alias/a b&c")
    assert (echo["principal_id"], echo["principal_kind"], echo["auth_method"]) == (
        ACCESS_KEY,
        "account",
        "aksk",
    )
    assert echo["domain_id"] == DOMAIN_ID


def test_a_query_parameter_given_twice_is_refused_for_a_single_valued_field(edge: EdgeServer) -> None:
    answer = edge.request("GET", aliases_path(), query=[("limit", "1"), ("limit", "2")])
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["error_code"] == "KMS.0308"
    assert edge.received("TestListAliases") == []


def test_the_query_is_covered_by_the_signature(edge: EdgeServer) -> None:
    # Given a request signed without a query, sent with one
    headers = sign_headers(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        method="GET",
        path=aliases_path(),
        body=b"",
        project_id=PROJECT_ID,
        host=edge.host,
    )
    conn = edge.connect()
    try:
        conn.request("GET", aliases_path() + "?limit=5", headers=headers)
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()
    # Then 401, and the logic never ran
    assert status == 401, body
    assert edge.received("TestListAliases") == []


# -- DELETE with a JSON body ---------------------------------------------------------------------


def test_delete_with_a_json_body(edge: EdgeServer) -> None:
    body = json.dumps({"key_id": KEY_ID, "aliases": ["alias/one", "alias/two"]}).encode()
    answer = edge.request("DELETE", aliases_path(), body=body)
    assert answer.status == 200, answer.body
    assert answer.json()["aliases"] == ["alias/one", "alias/two"]
    assert answer.json()["key_id"] == KEY_ID


def test_delete_with_a_malformed_body_is_400_and_with_a_wrong_secret_401(edge: EdgeServer) -> None:
    authenticated = edge.request("DELETE", aliases_path(), body=b'{"aliases": [')
    impostor = edge.request("DELETE", aliases_path(), body=b'{"aliases": [', secret_key="not-the-secret")
    assert authenticated.status == 400, authenticated.body
    assert authenticated.json()["error"]["error_code"] == "KMS.0202"
    assert impostor.status == 401, impostor.body
    assert edge.received("TestDeleteAlias") == []


def test_sdk_delete_alias_sends_a_json_body_that_reaches_the_model(edge: EdgeServer) -> None:
    request = DeleteAliasRequest(body=DeleteAliasRequestBody(key_id=KEY_ID, aliases=["alias/sdk"]))
    response = edge.sdk().delete_alias(request)
    assert response.status_code == 200
    [(model, caller)] = edge.received("TestDeleteAlias")
    assert (model.key_id, model.aliases) == (KEY_ID, ["alias/sdk"])
    assert caller.principal.id == ACCESS_KEY


# -- path parameters -----------------------------------------------------------------------------


def test_the_emulator_passes_path_parameters_percent_encoded_as_api_gateway_rest_does(
    edge: EdgeServer,
) -> None:
    route, params, _ = edge.emulator.resolve("DELETE", tag_path("a/b c%"))
    assert route is not None
    assert route.route.function == "TestDeleteTag"
    assert params == {"project_id": PROJECT_ID, "key_id": KEY_ID, "key": "a%2Fb%20c%25"}


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("plain", id="plain"),
        pytest.param("a/b", id="slash"),
        pytest.param("with space", id="space"),
        pytest.param("100%25", id="looks-encoded"),
        pytest.param("标签=值?#", id="non-ascii-and-delimiters"),
    ],
)
def test_a_percent_encoded_tag_key_reaches_the_model_decoded_exactly_once(edge: EdgeServer, key: str) -> None:
    # When delete-tag is sent with the key percent-encoded in the path (as the SDK sends it)
    answer = edge.request("DELETE", tag_path(key))
    # Then 204 without a body, and the logic got the key exactly as the caller named it
    assert answer.status == 204, answer.body
    assert answer.body == b""
    [(model, _caller)] = edge.received("TestDeleteTag")
    assert (model.key_id, model.key) == (KEY_ID, key)


def test_a_path_parameter_that_is_not_utf8_is_400(edge: EdgeServer) -> None:
    answer = edge.request("DELETE", f"/v1.0/{PROJECT_ID}/kms/{KEY_ID}/tags/%FF")
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["error_code"] == "KMS.0201"


def test_path_parameters_win_over_the_query_which_wins_over_the_body(edge: EdgeServer) -> None:
    # Given key_id in the path, the query and the body, and limit in the query and the body
    body = json.dumps({"key_id": "from-body", "key": "from-body", "limit": "1", "marker": "m"}).encode()
    query = [("key_id", "from-query"), ("limit", "2")]
    answer = edge.request("DELETE", tag_path("from-path"), query=query, body=body)
    assert answer.status == 204, answer.body
    [(model, _caller)] = edge.received("TestDeleteTag")
    # Then path > query > body
    assert (model.key_id, model.key, model.limit, model.marker) == (KEY_ID, "from-path", "2", "m")


def test_sdk_delete_tag_with_an_awkward_key(edge: EdgeServer) -> None:
    # The official SDK quotes the key itself and reads a 204 without a body as success
    response = edge.sdk().delete_tag(DeleteTagRequest(key_id=KEY_ID, key="env/prod 100%"))
    assert response.status_code == 204
    [(model, caller)] = edge.received("TestDeleteTag")
    assert model.key == "env/prod 100%"
    assert caller.principal.auth_method == "aksk"


# -- answers without a body ----------------------------------------------------------------------


def test_201_and_204_answers_have_no_body_and_keep_the_connection_usable(edge: EdgeServer) -> None:
    conn = edge.connect()
    try:
        created = edge.request(
            "POST", f"/v1.0/{PROJECT_ID}/kms/{KEY_ID}/tags", body=b'{"key": "k"}', conn=conn
        )
        deleted = edge.request("DELETE", tag_path("k"), conn=conn)
        listed = edge.request("GET", aliases_path(), query=[("limit", "3")], conn=conn)
    finally:
        conn.close()
    # 201: an empty body with its length; 204: no body and no Content-Length (RFC 9110)
    assert (created.status, created.body, created.headers.get("Content-Length")) == (201, b"", "0")
    assert (deleted.status, deleted.body, deleted.headers.get("Content-Length")) == (204, b"", None)
    assert created.headers.get("Content-Type") is None
    assert deleted.headers.get("X-Request-Id")
    # And the next request on the same connection is answered normally
    assert listed.status == 200, listed.body
    assert listed.json()["limit"] == "3"
