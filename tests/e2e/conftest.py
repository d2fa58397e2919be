"""End-to-end fixtures: ``skms serve`` as a real subprocess, the official Huawei SDK as the client,
and a raw HTTP client (``http.client``) that signs its requests the way the SDK does (spec §F6).

Credentials: every client signs with the AK/SK/project of the :func:`credentials` fixture, and the
server subprocess gets the same values as ``HUAWEICLOUD_SDK_AK`` / ``HUAWEICLOUD_SDK_SK`` /
``HUAWEICLOUD_SDK_PROJECT_ID``, so its bootstrap makes that access key exist (allowed that project
only). Further principals (an access key of another project, token users) are created with the
``skms access-key create`` / ``skms user create`` CLI on the server's data dir while it runs.

Servers: one session-wide server for the read-mostly tests (``skms_server``), and a factory for
tests that need their own data dir or restart the process (``start_server``). Every server logs at
DEBUG.

Backends: ``skms serve`` runs on SQLite (its data dir) unless ``SKMS_E2E_BACKEND=dynamodb``, which
runs every server on a DynamoDB table of its own over HTTP with its root key in AWS KMS, both
served by one ``moto_server`` (tests/support/aws_backend.py; ``make test`` runs a part of the suite
that way). Tests of what only the SQLite backend has (its file, its local root key, ``skms check``)
skip themselves there, each saying why.

Secret hygiene (issue 6, item 4; tests/support/secret_scan.py): every secret the suite sends or
receives is recorded in ``secret_scan.REGISTRY`` - by ``RawApi``'s connections, by a session-wide
hook in the Huawei SDK's ``HttpHandler`` (every SDK client, however built), by the fixtures below
(the SK, CLI output, passwords) - and after the last test :func:`pytest_sessionfinish` scans every
log file of every ``SkmsServer`` the session created for all of them. A hit (or a scan that cannot
be trusted: a server not at DEBUG, nothing recorded) makes pytest exit non-zero; the findings are
printed as the "secret scan" section of the summary.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkkms.v2 import KmsClient

from tests.support import secret_scan
from tests.support.aws_backend import MotoBackend, on_dynamodb
from tests.support.secret_scan import REGISTRY, RecordingHTTPConnection

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
HOST = "127.0.0.1"

# Defaults when the environment of the test run does not name credentials (32-hex project ids, §F9).
DEFAULT_AK = "SKMSE2ETESTACCESSKEY"
DEFAULT_SK = "skms-e2e-test-secret-key-0123456789abcdef"
DEFAULT_PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"

KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
ERROR_CODE_RE = re.compile(r"^KMS\.\d{4}$")
ALL_KEY_SPECS = (
    "AES_256",
    "SM4",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_P256",
    "EC_P384",
    "SECP256K1",
    "SM2",
    "ED25519",
)


# -- credentials ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    ak: str
    sk: str = field(repr=False)
    project_id: str


@pytest.fixture(scope="session")
def credentials() -> Credentials:
    """The AK/SK/project the clients sign with and the server is started with."""
    creds = Credentials(
        ak=os.environ.get("HUAWEICLOUD_SDK_AK") or DEFAULT_AK,
        sk=os.environ.get("HUAWEICLOUD_SDK_SK") or DEFAULT_SK,
        project_id=os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID") or DEFAULT_PROJECT_ID,
    )
    REGISTRY.add("the suite's SK", creds.sk)
    return creds


@pytest.fixture(scope="session")
def other_credentials(credentials: Credentials, skms_server: SkmsServer) -> Credentials:
    """A second access key, allowed only another project, created with the CLI on the session server."""
    assert credentials.project_id != OTHER_PROJECT_ID
    return create_access_key(skms_server, OTHER_PROJECT_ID)


# -- the AWS backend (SKMS_E2E_BACKEND=dynamodb) -------------------------------------------------

_moto: MotoBackend | None = None


def requires_sqlite(reason: str) -> pytest.MarkDecorator:
    """Skip on the DynamoDB backend a test of what only the SQLite backend has; ``reason`` says what."""
    return pytest.mark.skipif(on_dynamodb(), reason=f"SQLite backend only: {reason}")


def moto_backend() -> MotoBackend:
    """The one moto_server of the process, started on first use and stopped at exit (after the
    session's secret scan, which reads the tables)."""
    global _moto  # noqa: PLW0603 - one per test process
    if _moto is None:
        backend = MotoBackend(Path(tempfile.mkdtemp(prefix="skms-moto-")) / "moto_server.log")
        backend.start()
        atexit.register(backend.stop)
        _moto = backend
    return _moto


# -- the server subprocess -----------------------------------------------------------------------


def _skms_executable() -> str:
    beside = Path(sys.executable).parent / "skms"
    if beside.is_file():
        return str(beside)
    found = shutil.which("skms")
    if found is None:
        pytest.fail("the skms console script is not installed (pip install -e .)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _server_env(credentials: Credentials, extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KMS_", "HUAWEICLOUD_SDK_")) and name not in ("HOST", "PORT")
    }
    env.update(
        HUAWEICLOUD_SDK_AK=credentials.ak,
        HUAWEICLOUD_SDK_SK=credentials.sk,
        HUAWEICLOUD_SDK_PROJECT_ID=credentials.project_id,
        PYTHONUNBUFFERED="1",
        POWERTOOLS_LOG_LEVEL="DEBUG",  # the strictest level, so the secret scan reads debug lines too
    )
    env.update(extra)
    return env


class SkmsServer:
    """One ``skms serve`` process at a time on a fixed data dir; restartable.

    Each run writes ``<log_dir>/run-<n>.stdout.log`` and ``.stderr.log``; :meth:`logs` reads them all.
    """

    def __init__(self, data_dir: Path, log_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.table_name: str | None = None
        if on_dynamodb():  # a table of its own, as a data dir of its own is on SQLite
            backend = moto_backend()
            self.table_name = backend.new_table(REPO_ROOT)
            env = {
                **{name: value for name, value in env.items() if not name.startswith("AWS_")},
                **backend.store_env(self.table_name),
            }
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.runs = 0
        log_dir.mkdir(parents=True, exist_ok=True)
        # Its logs are scanned for secrets after the session, for those at rest in its store too.
        recover = None
        if self.table_name is not None:
            recover = functools.partial(moto_backend().recover_at_rest, self.table_name)
        REGISTRY.add_server(log_dir, data_dir, recover)

    @property
    def base_url(self) -> str:
        assert self.process is not None, "the server is not running"
        return f"http://{HOST}:{self.port}"

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"run-{self.runs}.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"run-{self.runs}.stderr.log"

    def start(self) -> str:
        """Start on a free port, wait until it accepts TCP connections, return the base URL."""
        assert self.process is None, "already running"
        for _attempt in range(3):  # the probed port may be taken before the server binds it
            self.runs += 1
            self.port = _free_port()
            command = [
                _skms_executable(),
                "serve",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ]
            with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
                self.process = subprocess.Popen(
                    command, cwd=REPO_ROOT, env=self.env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
                )
            if self._wait_ready():
                return self.base_url
            exit_code = self.process.poll()
            self._reap()
            stderr = self.stderr_path.read_text(errors="replace")
            if "Address already in use" not in stderr:
                break
        outcome = (
            f"exited with code {exit_code}"
            if exit_code is not None
            else f"accepted no connection within {START_TIMEOUT_S}s"
        )
        pytest.fail(f"skms serve {outcome}; stderr:\n{stderr}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def _reap(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)
        self.process = None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> tuple[int, bool]:
        """SIGTERM, then SIGKILL after ``timeout``. Returns (exit code, whether SIGKILL was needed)."""
        process = self.process
        assert process is not None, "the server is not running"
        killed = False
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                killed = True
                process.kill()
                process.wait(timeout)
        self.process = None
        assert process.returncode is not None
        return process.returncode, killed

    def kill(self) -> int:
        """SIGKILL at once (a crash): no shutdown code runs."""
        process = self.process
        assert process is not None, "the server is not running"
        process.kill()
        process.wait(STOP_TIMEOUT_S)
        self.process = None
        return process.returncode

    def restart(self, *, kill: bool = False) -> str:
        """Stop (SIGTERM, or SIGKILL with ``kill``) and start again on the same data dir."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_files(self) -> list[Path]:
        return sorted(self.log_dir.glob("run-*.log"))

    def log_bytes(self) -> bytes:
        return b"\n".join(path.read_bytes() for path in self.log_files())

    def logs(self) -> str:
        return self.log_bytes().decode("utf-8", errors="replace")

    def close(self) -> None:
        if self.process is not None:
            self.stop()


ServerFactory = Callable[..., SkmsServer]
CLI_TIMEOUT_S = 30.0


def run_cli(server: SkmsServer, *args: str, stdin: str | None = None) -> dict[str, Any]:
    """Run ``skms <args> --data-dir <server's data dir>`` with the server's environment; its JSON.

    The server may be running: the CLI writes the same SQLite store (WAL) the server reads.
    """
    env = {name: value for name, value in server.env.items() if not name.startswith("HUAWEICLOUD_SDK_")}
    done = subprocess.run(
        [_skms_executable(), *args, "--data-dir", str(server.data_dir)],
        cwd=REPO_ROOT,
        env=env,
        input=(stdin or "").encode(),
        capture_output=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (args, done.returncode, done.stderr.decode(errors="replace"))
    result = json.loads(done.stdout)
    assert isinstance(result, dict), result
    REGISTRY.add_json(f"skms {' '.join(args[:2])}", result)  # e.g. the new secret key
    return result


def create_access_key(server: SkmsServer, project_id: str, domain_id: str | None = None) -> Credentials:
    """A new access key allowed only ``project_id``, via ``skms access-key create``."""
    args = ["access-key", "create", "--project-id", project_id]
    if domain_id:
        args += ["--domain-id", domain_id]
    created = run_cli(server, *args)
    assert created["project_id"] == project_id, created
    assert created["project_ids"] == [project_id], created
    assert created["access"], "the CLI prints the new access key"
    assert created["secret"], "the CLI prints the new secret key"
    return Credentials(ak=created["access"], sk=created["secret"], project_id=project_id)


def create_user(
    server: SkmsServer,
    name: str,
    password: str,
    project_ids: tuple[str, ...],
    domain_name: str,
    policies: tuple[str, ...] = ("KMS Administrator",),
) -> dict[str, Any]:
    """An IAM user via ``skms user create`` (the password goes through stdin, never argv), with
    ``policies`` attached (an IAM user has no permission without one)."""
    REGISTRY.add("a user's password", password)
    args = ["user", "create", "--name", name, "--domain-name", domain_name]
    for project_id in project_ids:
        args += ["--project-id", project_id]
    for policy in policies:
        args += ["--policy", policy]
    created = run_cli(server, *args, stdin=password + "\n")
    assert created["name"] == name, created
    assert created["domain_name"] == domain_name, created
    assert created["project_ids"] == list(project_ids), created
    assert created["policies"] == list(policies), created
    return created


class SkmsCli:
    """The management CLI, for tests (fixture :func:`skms_cli`): ``run``, ``create_access_key``,
    ``create_user``, each taking the :class:`SkmsServer` whose data dir it works on."""

    run = staticmethod(run_cli)
    create_access_key = staticmethod(create_access_key)
    create_user = staticmethod(create_user)


@pytest.fixture(scope="session")
def skms_cli() -> SkmsCli:
    return SkmsCli()


@pytest.fixture(scope="session")
def skms_server(tmp_path_factory: pytest.TempPathFactory, credentials: Credentials) -> Iterator[SkmsServer]:
    """One server for the whole session, on a fresh data dir. Tests must not stop it."""
    root = tmp_path_factory.mktemp("skms-session")
    server = SkmsServer(root / "data", root / "logs", _server_env(credentials, {}))
    server.start()
    yield server
    server.close()


@pytest.fixture
def base_url(skms_server: SkmsServer) -> str:
    return skms_server.base_url


@pytest.fixture
def start_server(tmp_path: Path, credentials: Credentials) -> Iterator[ServerFactory]:
    """Factory of servers private to one test: ``start_server(name="a", env={...})``, started.

    Data and logs live under ``tmp_path/<name>/``; every server is stopped on teardown. With
    ``sdk_credentials=False`` the server gets no ``HUAWEICLOUD_SDK_*`` variables (so its first
    start writes ``<data dir>/credentials.json``).
    """
    servers: list[SkmsServer] = []

    def factory(
        name: str = "skms", env: Mapping[str, str] | None = None, *, sdk_credentials: bool = True
    ) -> SkmsServer:
        server_env = _server_env(credentials, env or {})
        if not sdk_credentials:
            server_env = {k: v for k, v in server_env.items() if not k.startswith("HUAWEICLOUD_SDK_")}
        server = SkmsServer(tmp_path / name / "data", tmp_path / name / "logs", server_env)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def module_server(
    tmp_path_factory: pytest.TempPathFactory, credentials: Credentials, request: pytest.FixtureRequest
) -> Iterator[SkmsServer]:
    """A server private to one test module (which may stop it), on its own data dir.

    Extra environment for it comes from the module's ``SERVER_ENV`` dict, if it defines one.
    """
    root = tmp_path_factory.mktemp("skms-module")
    extra = getattr(request.module, "SERVER_ENV", {})
    server = SkmsServer(root / "data", root / "logs", _server_env(credentials, extra))
    server.start()
    yield server
    server.close()


# -- the official SDK ----------------------------------------------------------------------------

SdkFactory = Callable[..., KmsClient]


@pytest.fixture(scope="session")
def sdk_client_factory(credentials: Credentials) -> SdkFactory:
    """``sdk_client_factory(base_url, creds=None)``: a KmsClient built exactly as spec §F7 shows."""

    def build(base_url: str, creds: Credentials | None = None) -> KmsClient:
        creds = creds or credentials
        cfg = HttpConfig.get_default_config()
        cfg.ignore_ssl_verification = True  # only matters for https; the local server is http
        cfg.timeout = (5, 60)
        return (
            KmsClient.new_builder()
            .with_http_config(cfg)
            .with_credentials(BasicCredentials(creds.ak, creds.sk, creds.project_id))
            .with_endpoint(base_url)
            .build()
        )

    return build


@pytest.fixture
def sdk_client(sdk_client_factory: SdkFactory, skms_server: SkmsServer) -> KmsClient:
    """An SDK client of the default project against the session server."""
    return sdk_client_factory(skms_server.base_url)


# -- raw, signed HTTP ----------------------------------------------------------------------------

EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
SIGNING_ALGORITHM = "SDK-HMAC-SHA256"


def canonical_uri(path: str) -> str:
    """§F6 step 2: decode all, re-encode each segment RFC 3986-style, always end with '/'."""
    encoded = "/".join(quote(segment, safe="~") for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(query: str) -> str:
    pairs = [part.partition("=") for part in query.split("&") if part]
    items = sorted((unquote(k), unquote(v)) for k, _, v in pairs)
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in items)


def sign_request(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, ak: str, sk: str
) -> str:
    """The ``Authorization`` value the SDK would send for these exact headers and body (§F6)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    signed = sorted(name for name in lowered if "_" not in name)
    canonical_headers = "".join(f"{name}:{lowered[name].strip()}\n" for name in signed)
    signed_headers = ";".join(signed)
    payload_hash = lowered.get("x-sdk-content-sha256") or (
        hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
    )
    canonical_request = "\n".join(
        [method, canonical_uri(path), canonical_query(query), canonical_headers, signed_headers, payload_hash]
    )
    string_to_sign = "\n".join(
        [SIGNING_ALGORITHM, lowered["x-sdk-date"], hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signature = hmac.new(sk.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{SIGNING_ALGORITHM} Access={ak}, SignedHeaders={signed_headers}, Signature={signature}"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-Id")

    def json(self) -> Any:
        return json.loads(self.body)

    def error_code(self) -> str:
        """The §F2 error code; asserts the body has exactly the Huawei error shape."""
        payload = self.json()
        assert isinstance(payload, dict), payload
        assert set(payload) == {"error"}, payload
        error = payload["error"]
        assert isinstance(error, dict), payload
        assert isinstance(error.get("error_msg"), str), payload
        code = error.get("error_code")
        assert isinstance(code, str), payload
        assert ERROR_CODE_RE.fullmatch(code), payload
        return code


class RawApi:
    """Signed HTTP/1.1 requests over real sockets with ``http.client``."""

    user_agent = "skms-e2e/1.0"
    content_type = "application/json;charset=utf-8"

    def __init__(self, base_url: str, creds: Credentials) -> None:
        split = urlsplit(base_url)
        assert split.scheme == "http"
        assert split.hostname
        assert split.port
        self.base_url = base_url
        self.host, self.port = split.hostname, split.port
        self.credentials = creds

    def path(self, operation: str, project_id: str | None = None) -> str:
        return f"/v1.0/{project_id or self.credentials.project_id}/kms/{operation}"

    def connect(self) -> http.client.HTTPConnection:
        """A connection that records the secrets it sends and receives (for the secret scan)."""
        return RecordingHTTPConnection(self.host, self.port, REGISTRY, timeout=60)

    sign = staticmethod(sign_request)

    def signed_headers(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The headers the SDK would send for this request, ``Authorization`` included (§F6)."""
        split = urlsplit(path)
        all_headers = {
            "Content-Type": self.content_type,
            "Host": f"{self.host}:{self.port}",
            "User-Agent": self.user_agent,
            "X-Project-Id": self.credentials.project_id,
            "X-Sdk-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            **(headers or {}),
        }
        all_headers["Authorization"] = sign_request(
            method, split.path, split.query, all_headers, body, self.credentials.ak, self.credentials.sk
        )
        return all_headers

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        headers: Mapping[str, str] | None = None,
        connection: http.client.HTTPConnection | None = None,
    ) -> Reply:
        """Send one signed request. With ``connection`` the socket is reused (keep-alive)."""
        all_headers = self.signed_headers(method, path, body, headers)
        conn = connection or self.connect()
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            if connection is None:
                conn.close()

    def post(self, operation: str, payload: Any, **kwargs: Any) -> Reply:
        """POST a JSON payload (serialised like the SDK: default separators) to ``/kms/<operation>``."""
        return self.request("POST", self.path(operation), json.dumps(payload).encode(), **kwargs)

    def post_ok(self, operation: str, payload: Any) -> dict[str, Any]:
        reply = self.post(operation, payload)
        assert reply.status == 200, (reply.status, reply.body)
        result = reply.json()
        assert isinstance(result, dict)
        return result


RawApiFactory = Callable[..., RawApi]


@pytest.fixture(scope="session")
def raw_api_factory(credentials: Credentials) -> RawApiFactory:
    """``raw_api_factory(base_url, creds=None)``: a :class:`RawApi` signing with ``creds``."""

    def build(base_url: str, creds: Credentials | None = None) -> RawApi:
        return RawApi(base_url, creds or credentials)

    return build


@pytest.fixture
def raw_api(raw_api_factory: RawApiFactory, skms_server: SkmsServer) -> RawApi:
    return raw_api_factory(skms_server.base_url)


# -- small helpers -------------------------------------------------------------------------------


@pytest.fixture
def new_alias() -> Callable[[str], str]:
    """``new_alias("prefix")``: an alias no other test uses, so tests can share a server."""

    def make(prefix: str = "e2e") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


# -- secret hygiene --------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _record_sdk_secrets() -> Iterator[None]:
    """Every SDK client of the session records what it sends and receives (see the module doc)."""
    process_request, process_response = HttpHandler.process_request, HttpHandler.process_response

    def recording_request(self: HttpHandler, **kwargs: Any) -> None:
        secret_scan.record_sdk_request(REGISTRY, kwargs.get("request"))
        process_request(self, **kwargs)

    def recording_response(self: HttpHandler, **kwargs: Any) -> None:
        secret_scan.record_sdk_response(REGISTRY, kwargs.get("response"))
        process_response(self, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HttpHandler, "process_request", recording_request)
        patch.setattr(HttpHandler, "process_response", recording_response)
        yield


_VERDICT = pytest.StashKey[secret_scan.Verdict]()


@pytest.hookimpl(trylast=True)  # after the runner's own sessionfinish has torn every fixture down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    """Scan every server's logs for every recorded secret; any hit fails the run (exit status 1)."""
    verdict = secret_scan.verdict(REGISTRY)
    if verdict is None:  # no server ran (e.g. only unit tests were selected)
        return
    session.config.stash[_VERDICT] = verdict
    if verdict.failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    verdict = terminalreporter.config.stash.get(_VERDICT, None)
    if verdict is None:
        return
    outcome = "FAILED" if verdict.failed else "passed"
    terminalreporter.section(
        f"secret scan of the e2e server logs: {outcome}", red=verdict.failed, green=not verdict.failed
    )
    for line in verdict.lines():
        terminalreporter.line(line)
