"""Replayed requests under ``KMS_REPLAY_PROTECTION=all`` against a real ``skms serve`` (README,
Replayed requests): the very same signed request sent again is refused (403 KMS.0307), also by the
next run of the server on the same data directory; a request signed anew runs."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping

import pytest

from tests.e2e.conftest import RawApi, RawApiFactory, Reply, SkmsServer

pytestmark = pytest.mark.e2e

SERVER_ENV = {"KMS_REPLAY_PROTECTION": "all"}
# skms.idempotency.REPLAY_GRACE_SECONDS: a repeat within it is the client's own, run again.
GRACE_SECONDS = 2


def _send(api: RawApi, path: str, body: bytes, headers: Mapping[str, str]) -> Reply:
    """Send exactly these bytes (signature included), as a captured request is replayed."""
    conn = api.connect()
    try:
        conn.request("POST", path, body=body, headers=dict(headers))
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def _after_the_grace(first_sent: float) -> None:
    time.sleep(max(0.0, first_sent + GRACE_SECONDS + 0.5 - time.monotonic()))


def test_a_replayed_create_datakey_is_refused_also_after_a_restart(
    module_server: SkmsServer, raw_api_factory: RawApiFactory
) -> None:
    # Given a create-datakey request, signed once and answered
    api = raw_api_factory(module_server.base_url)
    key_id = api.post_ok("create-key", {"key_alias": f"replay-{uuid.uuid4().hex[:12]}"})["key_info"]["key_id"]
    path = api.path("create-datakey")
    body = json.dumps({"key_id": key_id, "datakey_length": "256"}).encode()
    captured = api.signed_headers("POST", path, body)
    first = _send(api, path, body, captured)
    first_sent = time.monotonic()
    assert first.status == 200, first.body

    # When it is sent again / Then it is refused
    _after_the_grace(first_sent)
    replay = _send(api, path, body, captured)
    assert (replay.status, replay.error_code()) == (403, "KMS.0307")

    # And after a restart of the server on the same data directory (SIGTERM), still refused
    module_server.restart()
    api = raw_api_factory(module_server.base_url)
    replay = _send(api, path, body, captured)
    assert (replay.status, replay.error_code()) == (403, "KMS.0307")

    # While the same operation signed anew runs
    again = api.post("create-datakey", {"key_id": key_id, "datakey_length": "256"})
    assert again.status == 200, again.body
