"""Secret hygiene of the end-to-end suite: record every secret the suite sends or receives, then scan
every log the servers wrote for any of them (issue 6, item 4).

Recording is automatic, so new test modules are covered without edits:

- :class:`RecordingHTTPConnection` (what ``RawApi.connect`` returns in tests/e2e/conftest.py) records
  the JSON bodies it sends and reads, and the secret headers it sends and receives;
- :func:`record_sdk_request` / :func:`record_sdk_response` are patched into the Huawei SDK's
  ``HttpHandler`` for the whole session, so every SDK client is covered, however it is built;
- the conftest records what no HTTP exchange carries (the SK of the credentials, CLI output,
  passwords given on stdin), and :func:`recover_at_rest` adds, at the end, what only the data dirs
  hold: the root key, every CMK's material, every access key's SK and the token-signing key.

A JSON field is a secret when its name is in :data:`SECRET_FIELDS` (at any depth), a header when it
is in :data:`SECRET_HEADERS`; the signature of an ``Authorization`` header is one too. Each secret is
searched for as raw bytes, lower/upper hex, base64 (padded, unpadded, url-safe) and JSON-escaped
text; a string that is itself hex or base64 is also searched as the bytes it encodes.

Limits (to keep the scan free of false hits): a form shorter than :data:`MIN_NEEDLE` bytes is not
searched, nor a value with fewer than :data:`MIN_DISTINCT` distinct bytes (``"p" * 100``).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_FIELDS = frozenset(
    {
        "plain_text",  # encrypt-data / encrypt-datakey input; create-datakey / decrypt-data output
        "plain_text_base64",
        "data_key",  # decrypt-datakey
        "private_key_plain_text",  # create-datakey-pair
        "private_key",
        "shared_secret",  # key agreement
        "random_data",  # gen-random: may become key material
        "key_material",
        "password",  # POST /v3/auth/tokens, at any depth
        "secret",  # skms access-key create, credentials.json
        "secret_key",
        "sk",
    }
)
SECRET_HEADERS = frozenset({"x-subject-token", "x-auth-token"})
SIGNATURE_RE = re.compile(r"Signature=([0-9a-fA-F]+)")
HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})+")
BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+")
MIN_NEEDLE = 12
MIN_DISTINCT = 5
LOG_GLOB = "*.log"


@dataclass(frozen=True)
class Hit:
    secret: str  # the registry's label, never the value
    form: str
    where: str
    offset: int

    def __str__(self) -> str:
        return f"{self.secret} as {self.form} in {self.where} at byte {self.offset}"


@dataclass(frozen=True)
class Server:
    """Where one server logs (every file under ``log_dir``) and keeps its store (``data_dir``;
    ``recover`` reads a store kept elsewhere, e.g. a DynamoDB table, as :func:`recover_at_rest`
    reads a data dir)."""

    log_dir: Path
    data_dir: Path
    recover: Callable[[SecretRegistry], list[str]] | None = None


@dataclass
class SecretRegistry:
    """Secrets by value (the label says where the first sighting came from); thread-safe."""

    secrets: dict[bytes, str] = field(default_factory=dict)
    servers: dict[Path, Server] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __repr__(self) -> str:  # never print the values
        return f"SecretRegistry({len(self.secrets)} secrets, {len(self.servers)} servers)"

    def add_server(
        self, log_dir: Path, data_dir: Path, recover: Callable[[SecretRegistry], list[str]] | None = None
    ) -> None:
        with self._lock:
            self.servers.setdefault(log_dir.resolve(), Server(log_dir, data_dir, recover))

    def add(self, label: str, value: str | bytes) -> None:
        """Record a secret, and the bytes it encodes if it is hex or base64 text."""
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        candidates = [raw]
        if isinstance(value, str):
            candidates += decoded_forms(value)
        with self._lock:
            for candidate in candidates:
                if len(set(candidate)) >= MIN_DISTINCT:
                    self.secrets.setdefault(candidate, label)

    def add_json(self, label: str, document: Any) -> None:
        """Record every string under a key of :data:`SECRET_FIELDS`, at any depth."""
        for name, value in secret_fields(document):
            self.add(f"{label}: {name}", value)

    def add_body(self, label: str, body: object) -> None:
        """A request or response body: JSON text or bytes (anything else is ignored)."""
        if isinstance(body, bytes | bytearray | memoryview):
            body = bytes(body).decode("utf-8", errors="replace")
        if not isinstance(body, str) or not body.strip():
            return
        if _nesting(body) > MAX_PARSED_NESTING:
            # Not parsed at all: a parse that recurses near the interpreter's limit can run a
            # garbage collection there, whose finalizers then overflow the stack ("unraisable").
            # Such bodies are the suite's own hostile inputs, and hold no secret field.
            return
        try:
            document = json.loads(body)
        except ValueError:  # not JSON: no fields
            return
        self.add_json(label, document)

    def add_headers(self, label: str, headers: Iterable[tuple[str, str]]) -> None:
        for name, value in headers:
            lowered = name.lower()
            if lowered in SECRET_HEADERS:
                self.add(f"{label}: {name}", value)
            elif lowered == "authorization":
                found = SIGNATURE_RE.search(value)
                if found:
                    self.add(f"{label}: Authorization signature", found.group(1))

    def snapshot(self) -> tuple[dict[bytes, str], list[Server]]:
        with self._lock:
            return dict(self.secrets), list(self.servers.values())


MAX_PARSED_NESTING = 64  # real request and answer bodies nest 4 levels at most


def _nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings ignored."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def secret_fields(document: Any) -> Iterator[tuple[str, str]]:
    """(name, value) of every string under a key of :data:`SECRET_FIELDS`, at any depth (iterative:
    the suite sends bodies nested deeper than Python's recursion limit on purpose)."""
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for name, value in node.items():
                if isinstance(name, str) and name.lower() in SECRET_FIELDS and isinstance(value, str):
                    yield name, value
                else:
                    pending.append(value)
        elif isinstance(node, list):
            pending.extend(node)


def decoded_forms(text: str) -> list[bytes]:
    """The bytes a hex or base64 string stands for (a hex string is valid base64 too: both kept)."""
    forms = []
    if HEX_RE.fullmatch(text):
        forms.append(bytes.fromhex(text))
    if BASE64_RE.fullmatch(text):
        padded = text + "=" * (-len(text) % 4)
        with contextlib.suppress(ValueError):  # binascii.Error: not base64 after all
            forms.append(base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True))
    return forms


def encodings(secret: bytes) -> dict[str, bytes]:
    """The forms a leaked secret would most likely take in a log."""
    b64 = base64.b64encode(secret)
    forms = {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": b64,
        "base64-unpadded": b64.rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
    }
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        forms["json"] = json.dumps(text)[1:-1].encode()
        forms["json-unicode"] = json.dumps(text, ensure_ascii=False)[1:-1].encode()
    distinct: dict[bytes, str] = {}
    for form, needle in forms.items():  # one name per needle: the first form that yields it
        distinct.setdefault(needle, form)
    return {form: needle for needle, form in distinct.items()}


def scan(haystacks: Mapping[str, bytes], secrets: Mapping[bytes, str]) -> list[Hit]:
    """Every place any form of any secret occurs (the first hit of each needle in each haystack).

    One pass per haystack: each position's first MIN_NEEDLE bytes are looked up among the needles'
    prefixes, so the cost grows with the log size, not with logs x secrets.
    """
    by_prefix: dict[bytes, list[tuple[bytes, str, str]]] = {}
    for value, label in secrets.items():
        for form, needle in encodings(value).items():
            if len(needle) >= MIN_NEEDLE:
                by_prefix.setdefault(needle[:MIN_NEEDLE], []).append((needle, label, form))
    hits: dict[tuple[bytes, str], Hit] = {}
    for where, hay in haystacks.items():
        for offset in range(len(hay) - MIN_NEEDLE + 1):
            candidates = by_prefix.get(hay[offset : offset + MIN_NEEDLE])
            if candidates is None:
                continue
            for needle, label, form in candidates:
                if hay.startswith(needle, offset):
                    hits.setdefault((needle, where), Hit(label, form, where, offset))
    return list(hits.values())


# -- recording hooks -------------------------------------------------------------------------------


class RecordingHTTPResponse(http.client.HTTPResponse):
    """Records the secret headers of the response and the secret fields of its JSON body."""

    registry: SecretRegistry

    def begin(self) -> None:
        super().begin()
        self._recorded = bytearray()
        self.registry.add_headers("response header", self.headers.items())

    def read(self, amt: int | None = None) -> bytes:
        data = super().read(amt)
        self._recorded += data
        if amt is None or not data:
            self.registry.add_body("response", bytes(self._recorded))
        return data


class RecordingHTTPConnection(http.client.HTTPConnection):
    """An ``http.client`` connection that records what it sends and receives into ``registry``."""

    def __init__(self, host: str, port: int, registry: SecretRegistry, timeout: float = 60) -> None:
        super().__init__(host, port, timeout=timeout)
        self.response_class = type("Response", (RecordingHTTPResponse,), {"registry": registry})
        self.registry = registry

    def putheader(self, header: str | bytes, *values: Any) -> None:
        name = header.decode("latin-1") if isinstance(header, bytes) else header
        for value in values:
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            self.registry.add_headers("request header", [(name, text)])
        super().putheader(header, *values)

    def request(  # type: ignore[override]
        self, method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        self.registry.add_body("request", body)
        super().request(method, url, body=body, headers=dict(headers or {}), **kwargs)


def record_sdk_request(registry: SecretRegistry, request: Any) -> None:
    """From the SDK's ``HttpHandler.process_request``: an ``SdkRequest`` (signed by then)."""
    registry.add_headers("SDK request header", (getattr(request, "header_params", None) or {}).items())
    registry.add_body("SDK request", getattr(request, "body", None))


def record_sdk_response(registry: SecretRegistry, response: Any) -> None:
    """From the SDK's ``HttpHandler.process_response``: a ``requests.Response`` and its request."""
    sent = getattr(response, "request", None)
    if sent is not None:
        registry.add_headers("SDK request header", sent.headers.items())
        registry.add_body("SDK request", sent.body)
    registry.add_headers("SDK response header", response.headers.items())
    registry.add_body("SDK response", response.content)


# -- what only the data dirs hold ------------------------------------------------------------------


def recover_at_rest(registry: SecretRegistry, data_dir: Path) -> list[str]:
    """Record the root key, every CMK's material, every access key's SK and the token key of one
    data dir, unwrapped as only a holder of the root key can. Returns what could not be read."""
    from skms.auth.principals import TOKEN_KEY_NAME, _secret_context, _service_secret_context
    from skms.crypto.errors import CryptoError
    from skms.crypto.root_key import LocalRootKey
    from skms.keyring import version_context
    from skms.storage import codec

    root_file, db_file = data_dir / "root.key", data_dir / "kms.sqlite3"
    if not root_file.is_file() or not db_file.is_file():
        return []
    registry.add(f"root key of {data_dir}", root_file.read_bytes())
    root = LocalRootKey.from_file(root_file)
    unreadable: list[str] = []
    conn = sqlite3.connect(db_file)
    try:
        for (text,) in conn.execute("SELECT record FROM keys"):
            record = codec.from_json(text)
            for held in record.versions.versions:
                if not held.is_live:
                    continue
                try:
                    registry.add(
                        f"material of {record.key_spec} key {record.key_id}",
                        root.unwrap(held.wrapped, version_context(record, held)),
                    )
                except CryptoError:
                    unreadable.append(f"{data_dir}: material {held.number} of key {record.key_id}")
        for kind, principal_id, body in conn.execute("SELECT kind, id, body FROM principals"):
            document = json.loads(body)
            if kind == "access_key":
                context = _secret_context(document["access_key"], document["domain_id"])
                wrapped, label = base64.b64decode(document["secret_wrapped"]), f"SK of {principal_id}"
            elif kind == "secret" and principal_id.split("#")[0] == TOKEN_KEY_NAME:  # and rotated ones
                context = _service_secret_context(TOKEN_KEY_NAME)
                wrapped, label = base64.b64decode(document["value"]), "token-signing key"
            else:
                continue
            try:
                registry.add(f"{label} in {data_dir}", root.unwrap(wrapped, context))
            except CryptoError:
                unreadable.append(f"{data_dir}: {label}")
    finally:
        conn.close()
    return unreadable


# -- the session's verdict -------------------------------------------------------------------------

LISTENING = b'"message":"skms listening"'
DEBUG_LEVEL = b'"log_level":"DEBUG"'


@dataclass
class Verdict:
    hits: list[Hit]
    problems: list[str]  # reasons the scan itself cannot be trusted (no DEBUG, nothing recorded)
    notes: list[str]
    secrets: int
    files: int
    scanned_bytes: int
    seconds: float

    @property
    def failed(self) -> bool:
        return bool(self.hits or self.problems)

    def lines(self) -> list[str]:
        head = (
            f"{self.secrets} secrets searched in {self.files} log files ({self.scanned_bytes} bytes)"
            f" in raw, hex, base64 and JSON forms in {self.seconds:.1f}s: {len(self.hits)} hits"
        )
        return [
            head,
            *(f"LEAK: {hit}" for hit in sorted(self.hits, key=str)),
            *(f"PROBLEM: {problem}" for problem in self.problems),
            *(f"note: {note}" for note in self.notes),
        ]


def log_files(servers: Iterable[Server]) -> list[Path]:
    return sorted({path for server in servers for path in server.log_dir.rglob(LOG_GLOB) if path.is_file()})


def verdict(registry: SecretRegistry) -> Verdict | None:
    """Scan the logs of every server the registry knows; None if no server was started."""
    _, servers = registry.snapshot()
    if not servers:
        return None
    started = time.monotonic()
    notes: list[str] = []
    problems = []
    for server in servers:
        try:
            notes += recover_at_rest(registry, server.data_dir)
            if server.recover is not None:
                notes += server.recover(registry)
        except Exception as exc:  # reported: the scan would miss that dir's secrets
            problems.append(f"{server.data_dir}: its secrets at rest cannot be read ({exc!r})")
    secrets, _ = registry.snapshot()
    files = log_files(servers)
    haystacks = {str(path): path.read_bytes() for path in files}
    if not secrets:
        problems.append("no secret was recorded: the recording hooks are broken")
    for path, content in haystacks.items():
        for line in content.splitlines():
            if LISTENING in line and DEBUG_LEVEL not in line:
                problems.append(f"{path}: a server ran without DEBUG logging, so its logs prove less")
                break
    if not any(LISTENING in content for content in haystacks.values()):
        problems.append("no server log holds 'skms listening': the scan found no log to search")
    hits = scan(haystacks, secrets)
    return Verdict(
        hits=hits,
        problems=problems,
        notes=notes,
        secrets=len(secrets),
        files=len(files),
        scanned_bytes=sum(len(content) for content in haystacks.values()),
        seconds=time.monotonic() - started,
    )


REGISTRY = SecretRegistry()
"""The session's registry (tests/e2e/conftest.py records into it and scans it at the end)."""
