"""events/*/api.json: generated from direct.json and template.yaml's routes, committed, kept up to date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from skms.cli import main
from skms.local.sample_events import PLACEHOLDER_TOKEN, SampleEventError, sample_events, stale
from skms.sam_template import routes_from_template
from tests.conftest import REPO_ROOT, TEMPLATE

EVENTS = REPO_ROOT / "events"


def test_committed_api_events_are_up_to_date() -> None:
    # Given the committed api.json files / When the generator runs now / Then it writes the same bytes
    events = sample_events(TEMPLATE, EVENTS)
    assert stale(events) == [], "events/*/api.json are out of date: run `make events`"


def test_every_routed_function_has_a_generated_api_event() -> None:
    routed = {route.code_uri.name for route in routes_from_template(TEMPLATE)}
    assert {event.function for event in sample_events(TEMPLATE, EVENTS)} == routed


@pytest.fixture
def events_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "events"
    shutil.copytree(EVENTS, copy)
    return copy


def test_a_changed_direct_event_makes_its_api_event_stale_and_write_fixes_it(events_copy: Path) -> None:
    # Given a direct.json whose body changed
    direct_path = events_copy / "sign" / "direct.json"
    direct = json.loads(direct_path.read_text(encoding="utf-8"))
    direct["body"]["message_type"] = "DIGEST"
    direct_path.write_text(json.dumps(direct), encoding="utf-8")
    args = ["events", "--template", str(TEMPLATE), "--events-dir", str(events_copy)]
    # When checked, Then only its api.json is stale
    assert stale(sample_events(TEMPLATE, events_copy)) == [events_copy / "sign" / "api.json"]
    assert main([*args, "--check"]) == 1
    # When written, Then the api.json carries the new body and the check passes
    assert main([*args, "--write"]) == 0
    api = json.loads((events_copy / "sign" / "api.json").read_text(encoding="utf-8"))
    assert json.loads(api["body"]) == direct["body"]
    assert main([*args, "--check"]) == 0


def test_the_route_shapes_the_event(events_copy: Path) -> None:
    events = {event.function: json.loads(event.text) for event in sample_events(TEMPLATE, events_copy)}
    # An authenticated POST: the token context of the authorizer, the body as the SDK writes it
    sign = events["sign"]
    assert (sign["httpMethod"], sign["resource"]) == ("POST", "/v1.0/{project_id}/kms/sign")
    assert sign["headers"]["X-Auth-Token"] == PLACEHOLDER_TOKEN
    assert sign["requestContext"]["authorizer"]["project_id"] == sign["pathParameters"]["project_id"]
    assert sign["body"].startswith('{"key_id": ')
    # A public GET with a path parameter taken out of the direct body: no credentials, no body
    version = events["show_version"]
    assert (version["path"], version["pathParameters"], version["body"]) == (
        "/v1.0",
        {"version_id": "v1.0"},
        None,
    )
    assert "authorizer" not in version["requestContext"]
    assert "X-Auth-Token" not in version["headers"]
    # Request ids differ between functions
    assert len({event["requestContext"]["requestId"] for event in events.values()}) == len(events)


def test_a_direct_event_without_a_path_parameter_is_refused(events_copy: Path) -> None:
    (events_copy / "show_version" / "direct.json").write_text('{"body": {}}', encoding="utf-8")
    with pytest.raises(SampleEventError, match="version_id"):
        sample_events(TEMPLATE, events_copy)
    assert main(["events", "--template", str(TEMPLATE), "--events-dir", str(events_copy), "--check"]) == 2
