"""The e2e suite's secret scan (tests/support/secret_scan.py) finds what it must, and fails the run.

The last test runs pytest on a tiny suite wired with the very hooks of tests/e2e/conftest.py and a
secret planted in a fake server log: pytest must exit non-zero and name the leak.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from skms.caller import Caller
from skms.keyring import version_context
from skms.logic.create_key import create_key
from skms.models.keys import CreateKeyRequestBody
from skms.runtime import Services
from tests.conftest import REPO_ROOT
from tests.support.secret_scan import (
    RecordingHTTPConnection,
    SecretRegistry,
    encodings,
    recover_at_rest,
    scan,
    verdict,
)

DATA_KEY = bytes.fromhex("8f3a9c1d5e7b2046a1c3e5f7092b4d6f8a1c3e5f7092b4d6e8f0a2c4e6f8a0b2")
LISTENING = '{"level":"INFO","message":"skms listening","log_level":"DEBUG"}\n'


def _log_line(text: str | bytes) -> bytes:
    value = text.encode() if isinstance(text, str) else text
    return b'{"level":"DEBUG","message":"request","note":"' + value + b'"}\n'


def test_a_planted_data_key_is_found_in_every_form() -> None:
    # Given a data key received as hex, as create-datakey returns it
    registry = SecretRegistry()
    registry.add_json("create-datakey", {"key_id": "k", "plain_text": DATA_KEY.hex().upper()})
    secrets, _ = registry.snapshot()
    # When each form of it is planted in a log of its own
    forms = encodings(DATA_KEY)
    logs = {form: _log_line(value) for form, value in forms.items()}
    # Then each is found (the upper-case hex is the very text that was received: its "raw" form)
    found = {hit.where for hit in scan(logs, secrets)}
    assert found == {"raw", "hex", "HEX", "base64", "base64-unpadded", "base64url"}, found


def test_a_planted_text_secret_is_found_raw_and_json_escaped() -> None:
    registry = SecretRegistry()
    password = 'Pw-"quoted"-é-' + uuid.uuid4().hex[:8]
    registry.add_json("token request", {"auth": {"identity": {"password": {"user": {"password": password}}}}})
    secrets, _ = registry.snapshot()
    escaped = json.dumps({"p": password})
    hits = scan({"escaped": escaped.encode(), "clean": _log_line("nothing to see")}, secrets)
    assert {(hit.where, hit.form) for hit in hits} == {("escaped", "json")}


def test_a_clean_log_has_no_hit() -> None:
    registry = SecretRegistry()
    registry.add("data key", DATA_KEY)
    secrets, _ = registry.snapshot()
    assert scan({"log": _log_line(DATA_KEY.hex()[:-2]) + LISTENING.encode()}, secrets) == []


def test_short_or_repetitive_values_are_not_searched() -> None:
    registry = SecretRegistry()
    registry.add_json("encrypt-data", {"plain_text": "p" * 100, "data_key": "AB"})
    assert registry.snapshot()[0] == {}


def test_headers_and_signatures_are_recorded() -> None:
    registry = SecretRegistry()
    signature = uuid.uuid4().hex * 2
    registry.add_headers(
        "request",
        [
            ("Authorization", f"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={signature}"),
            ("X-Subject-Token", "skms1.claims.mac-" + uuid.uuid4().hex),
            ("X-Project-Id", "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"),  # public
        ],
    )
    labels = set(registry.snapshot()[0].values())
    assert labels == {"request: Authorization signature", "request: X-Subject-Token"}
    assert signature.encode() in registry.snapshot()[0]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"key_id": "k", "data_key": self.server.data_key.hex()}).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Subject-Token", self.server.token)  # type: ignore[attr-defined]
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.data_key = os.urandom(32)  # type: ignore[attr-defined]
    server.token = "token-" + uuid.uuid4().hex  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_recording_connection_records_both_directions(http_server: ThreadingHTTPServer) -> None:
    # Given a connection like RawApi.connect's
    registry = SecretRegistry()
    conn = RecordingHTTPConnection("127.0.0.1", http_server.server_address[1], registry)
    plaintext = "attack at dawn " + uuid.uuid4().hex
    auth_token = "auth-" + uuid.uuid4().hex
    # When it sends a plaintext and a token, and reads a data key and a token back
    try:
        conn.request("POST", "/x", json.dumps({"plain_text": plaintext}), {"X-Auth-Token": auth_token})
        response = conn.getresponse()
        assert response.status == 200
        response.read()
    finally:
        conn.close()
    # Then all four are recorded
    secrets = registry.snapshot()[0]
    assert plaintext.encode() in secrets
    assert auth_token.encode() in secrets
    assert http_server.token.encode() in secrets  # type: ignore[attr-defined]
    assert http_server.data_key in secrets  # type: ignore[attr-defined]


def test_key_material_is_recovered_from_a_data_dir(services: Services, caller: Caller) -> None:
    # Given a data dir holding a CMK (SQLite store and root key)
    created = create_key(CreateKeyRequestBody(key_alias=f"scan-{uuid.uuid4().hex[:8]}"), caller, services)
    record = services.stores.keys.get_key(caller.project_id, created.key_info.key_id)
    assert record is not None
    primary = record.versions.primary_version
    assert primary is not None
    material = services.keyring.root.unwrap(primary.wrapped, version_context(record, primary))
    # When the scan recovers what is at rest
    registry = SecretRegistry()
    assert recover_at_rest(registry, services.settings.data_dir) == []
    # Then the material and the root key are among the secrets, so a log holding them is a leak
    secrets = registry.snapshot()[0]
    root_key = (services.settings.data_dir / "root.key").read_bytes()
    assert material in secrets
    assert root_key in secrets
    hits = scan({"log": _log_line(base64.b64encode(material).decode())}, secrets)
    assert "base64" in {hit.form for hit in hits}


def _fake_server(tmp_path: Path, registry: SecretRegistry, *lines: str) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir(parents=True)
    (log_dir / "run-1.stdout.log").write_text("".join(lines))
    registry.add_server(log_dir, tmp_path / "data")


def test_the_verdict_fails_on_a_leak_and_passes_without(tmp_path: Path) -> None:
    registry = SecretRegistry()
    registry.add("data key", DATA_KEY)
    _fake_server(tmp_path / "a", registry, LISTENING, _log_line("ok").decode())
    clean = verdict(registry)
    assert clean is not None
    assert not clean.failed, clean.lines()
    _fake_server(tmp_path / "b", registry, LISTENING, _log_line(DATA_KEY.hex()).decode())
    leaked = verdict(registry)
    assert leaked is not None
    assert leaked.failed
    assert [(hit.secret, hit.form) for hit in leaked.hits] == [("data key", "hex")]
    assert any(line.startswith("LEAK: data key as hex in ") for line in leaked.lines())
    assert DATA_KEY.hex() not in "\n".join(leaked.lines()), "the report must not print the secret"


def test_the_verdict_fails_when_a_server_did_not_log_at_debug(tmp_path: Path) -> None:
    registry = SecretRegistry()
    registry.add("data key", DATA_KEY)
    _fake_server(tmp_path, registry, LISTENING.replace("DEBUG", "INFO"))
    result = verdict(registry)
    assert result is not None
    assert result.failed
    assert "without DEBUG" in result.problems[0]


INNER_CONFTEST = """
from tests.e2e.conftest import pytest_sessionfinish, pytest_terminal_summary  # the wiring under test
"""
INNER_TEST = """
import os
from pathlib import Path
from typing import Any

from tests.support.secret_scan import REGISTRY


def test_a_server_that_logs(tmp_path: Path) -> None:
    secret = os.urandom(32)
    REGISTRY.add("planted data key", secret)
    logs = tmp_path / "logs"
    logs.mkdir()
    leak = secret.hex() if os.environ["PLANT"] == "1" else "nothing"
    (logs / "run-1.stdout.log").write_text(
        '{"message":"skms listening","log_level":"DEBUG"}\\n{"note":"' + leak + '"}\\n'
    )
    REGISTRY.add_server(logs, tmp_path / "data")
"""


@pytest.mark.parametrize(("plant", "exit_code"), [("1", 1), ("0", 0)], ids=["leak", "clean"])
def test_a_leak_makes_the_pytest_run_fail(tmp_path: Path, plant: str, exit_code: int) -> None:
    # Given a suite with the e2e conftest's session hooks, whose one test passes
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PLANT": plant}
    # When pytest runs it
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then a planted leak makes it exit 1 and say where, and a clean log lets it pass
    assert done.returncode == exit_code, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    if exit_code:
        assert "secret scan of the e2e server logs: FAILED" in done.stdout
        assert "LEAK: planted data key as hex in " in done.stdout
    else:
        assert "secret scan of the e2e server logs: passed" in done.stdout


def test_bodies_nested_deeper_than_any_real_one_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = SecretRegistry()
    parsed: list[str] = []
    real_loads = json.loads

    def spy(text: str) -> Any:
        parsed.append(text)
        return real_loads(text)

    monkeypatch.setattr("tests.support.secret_scan.json.loads", spy)
    # When a hostile body nested 5,000 deep is recorded, Then it is not parsed (no deep recursion)
    registry.add_body("hostile", "[" * 5000 + "]" * 5000)
    assert parsed == []
    # And a real body, with brackets inside its strings, still is, and its secret field recorded
    registry.add_body("real", json.dumps({"plain_text": "s3cr3t-value-abcdef", "note": "[[[[[[" * 20}))
    assert len(parsed) == 1
    assert any(b"s3cr3t-value-abcdef" in secret for secret in registry.snapshot()[0])
