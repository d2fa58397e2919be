"""An HTTP server that emulates API Gateway (REST, Lambda proxy integration) for local use.

Routes and handlers come from template.yaml. For each request it builds the proxy event that
API Gateway would send, calls the very same ``lambda_handler`` in-process and writes its proxy
response back. Real HTTP/1.1 with keep-alive; connections, their timeouts and limits are
:mod:`skms.local.connections`' (a request reaches a handler only once it has been read whole).
A plain request (what SDKs send: CRLF lines, no folded or odd fields, HTTP/1.0 or 1.1, a
Content-Length body or none) is parsed here and answered in one send (:func:`answer_plain`); any
other goes through the stdlib's ``BaseHTTPRequestHandler``. Both route by :func:`route_request`.
``GET /_skms/openapi.json`` answers the API's OpenAPI document (:mod:`skms.openapi`), without
authentication.
"""

from __future__ import annotations

import base64
import fnmatch
import io
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from skms.errors import error_body
from skms.local.connections import MAX_REQUEST_BYTES, ConnectionLoop, ServerLimits
from skms.local.connections import new_request_id as _request_id
from skms.observability import logger
from skms.openapi import DOCUMENT_PATH, build_document, render
from skms.sam_template import Route, gateway_responses, load_handler, routes_from_template

_NO_BODY_STATUSES = frozenset({204, 304})
Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class LoadedRoute:
    route: Route
    handler: Handler
    authorizer: Handler | None = None


# API Gateway's own bodies when a template defines no gateway response of that type.
_DEFAULT_GATEWAY_RESPONSES = {
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}'),
    "ACCESS_DENIED": (403, '{"Message":"User is not authorized to access this resource"}'),
}
_CONTEXT_VARIABLE = re.compile(r"\$context\.authorizer\.([A-Za-z0-9_]+)")


class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function_name: str, request_id: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class ApiGatewayEmulator:
    """Routing and event building, separate from the socket server so tests can call it."""

    def __init__(self, template_path: Path) -> None:
        self.routes = [
            LoadedRoute(r, load_handler(r), load_handler(r.authorizer) if r.authorizer else None)
            for r in routes_from_template(template_path)
        ]
        self.gateway_responses = gateway_responses(template_path)
        self.template_path = template_path
        self._openapi: bytes | None = None

    def openapi_document(self) -> bytes:
        """The API's OpenAPI document, generated from the served template on first use."""
        if self._openapi is None:
            self._openapi = render(build_document(self.template_path)).encode("utf-8")
        return self._openapi

    def gateway_response(self, kind: str, context: dict[str, Any]) -> tuple[int, bytes]:
        """Render a gateway response as API Gateway does: status and the JSON template, with
        ``$context.authorizer.<key>`` replaced by the (JSON-escaped) authorizer context value."""
        spec = self.gateway_responses.get(kind)
        if spec is None:
            status, text = _DEFAULT_GATEWAY_RESPONSES[kind]
            return status, text.encode()
        template = str((spec.get("ResponseTemplates") or {}).get("application/json", ""))
        rendered = _CONTEXT_VARIABLE.sub(
            lambda m: json.dumps(str(context.get(m.group(1), "")))[1:-1], template
        )
        return int(spec.get("StatusCode", _DEFAULT_GATEWAY_RESPONSES[kind][0])), rendered.encode()

    def authorize(
        self, loaded: LoadedRoute, event: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, tuple[int, bytes]]:
        """Run the route's Lambda REQUEST authorizer the way API Gateway does.

        Returns (authorizer context, _) when allowed, else (None, (status, body)) to answer with.
        """
        assert loaded.authorizer is not None
        method_arn = (
            f"arn:aws:execute-api:local:000000000000:local/local/{event['httpMethod']}{event['path']}"
        )
        request = {
            "type": "REQUEST",
            "methodArn": method_arn,
            **{
                k: event[k]
                for k in (
                    "resource",
                    "path",
                    "httpMethod",
                    "headers",
                    "multiValueHeaders",
                    "queryStringParameters",
                    "multiValueQueryStringParameters",
                    "pathParameters",
                    "stageVariables",
                    "requestContext",
                )
            },
        }
        context = LambdaContext(
            loaded.route.authorizer.logical_id if loaded.route.authorizer else "authorizer",
            event["requestContext"]["requestId"],
        )
        try:
            policy = loaded.authorizer(request, context)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return None, self.gateway_response("UNAUTHORIZED", {})
            logger.exception("authorizer failure", extra={"function": context.function_name})
            return None, (500, b'{"message":null}')
        statements = (policy.get("policyDocument") or {}).get("Statement") or []
        allowed = any(
            s.get("Effect") == "Allow" and any(_matches(method_arn, r) for r in _as_list(s.get("Resource")))
            for s in statements
        ) and not any(
            s.get("Effect") == "Deny" and any(_matches(method_arn, r) for r in _as_list(s.get("Resource")))
            for s in statements
        )
        authorizer_context = dict(policy.get("context") or {})
        authorizer_context["principalId"] = policy.get("principalId")
        if not allowed:
            return None, self.gateway_response("ACCESS_DENIED", authorizer_context)
        return authorizer_context, (200, b"")

    def resolve(self, method: str, raw_path: str) -> tuple[LoadedRoute | None, dict[str, str], bool]:
        """(route, path parameters, whether the path exists under another method).

        Matched on the path as received, and the parameters left percent-encoded, as API Gateway
        REST does (its ``pathParameters`` and ``path`` are not decoded: an encoded "/" in a tag key
        stays inside its segment); the function decodes them, once (:mod:`skms.api.events`)."""
        path_exists = False
        for loaded in self.routes:
            params = loaded.route.match(raw_path)
            if params is None:
                continue
            if loaded.route.method in (method, "ANY"):
                return loaded, params, True
            path_exists = True
        return None, {}, path_exists

    @staticmethod
    def build_event(
        *,
        route: Route,
        method: str,
        raw_path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        path_params: dict[str, str],
        source_ip: str,
        request_id: str,
    ) -> dict[str, Any]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        pairs = parse_qsl(query, keep_blank_values=True)
        query_single = dict(pairs) or None
        query_multi: dict[str, list[str]] = {}
        for k, v in pairs:
            query_multi.setdefault(k, []).append(v)
        try:
            text_body: str | None = body.decode("utf-8") if body else None
            is_b64 = False
        except UnicodeDecodeError:
            text_body, is_b64 = base64.b64encode(body).decode("ascii"), True
        lower = {k.lower(): v for k, v in single.items()}
        return {
            "resource": route.path,
            "path": raw_path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": query_single,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": raw_path,
                "stage": "local",
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTimeEpoch": time.time_ns() // 1_000_000,
                "protocol": "HTTP/1.1",
                "domainName": lower.get("host", "localhost"),
                "apiId": "local",
                "accountId": "000000000000",
                "identity": {"sourceIp": source_ip, "userAgent": lower.get("user-agent")},
            },
            "body": text_body,
            "isBase64Encoded": is_b64,
        }


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalServer  # type: ignore[assignment]  # a ConnectionLoop, not a socketserver
    # A buffered wfile: headers and body leave in one send when handle_one_request() flushes,
    # instead of two sends (and two TCP segments) per answer; larger answers are written through.
    wbufsize = 64 * 1024

    @classmethod
    def answer(cls, sock: socket.socket, address: Any, server: LocalServer, request: bytes) -> bool:
        """Answer one request read whole by the connection loop; whether to keep the connection."""
        handler = cls.__new__(cls)
        handler.request = handler.connection = sock
        handler.client_address = address
        handler.server = server
        handler.rfile = io.BytesIO(request)
        handler.wfile = cast(io.BufferedWriter, sock.makefile("wb", cls.wbufsize))
        handler.close_connection = True
        try:
            handler.handle_one_request()
            handler.wfile.flush()
        finally:
            handler.wfile.close()
        return not handler.close_connection

    def handle_expect_100(self) -> bool:
        # The connection loop sent "100 Continue" when the client waited for it: the body is here.
        return True

    def date_time_string(self, timestamp: float | None = None) -> str:
        return super().date_time_string(timestamp) if timestamp is not None else _date_header()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib access log: handlers log structured lines themselves."""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        if status in _NO_BODY_STATUSES:
            body = b""  # and no Content-Length either (RFC 9110 §8.6)
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_error(self, status: int, code: str, message: str, request_id: str) -> None:
        payload = json.dumps(error_body(code, message)).encode()
        headers = {"Content-Type": "application/json;charset=UTF-8", "X-Request-Id": request_id}
        self._send(status, headers, payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors found by the stdlib parser (bad request line, ...): Huawei-style JSON."""
        self.close_connection = True
        request_id = _request_id()
        self._send_error(
            code, "KMS.0214" if code < 500 else "KMS.0101", "Invalid request format.", request_id
        )

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the router, which answers 405 or 404 in the Huawei format.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        """The request body, from Content-Length or chunked transfer coding, at most 1 MiB."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline(66).split(b";", 1)[0].strip(), 16)
                if size < 0 or len(body) + size > MAX_REQUEST_BYTES:
                    raise _BodyTooLarge
                if size == 0:
                    while self.rfile.readline(8194) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields are ignored
                    return bytes(body)
                body += self.rfile.read(size)
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise ValueError("chunk not followed by CRLF")
        length = int(self.headers.get("Content-Length", "0") or "0")
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_REQUEST_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        request_id = _request_id()
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True
            self._send_error(413, "KMS.0203", "The request body is too large.", request_id)
            return
        except ValueError:
            self.close_connection = True
            self._send_error(400, "KMS.0214", "Malformed request body framing.", request_id)
            return
        status, headers, data = route_request(
            self.server.emulator,
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            request_id=request_id,
        )
        self._send(status, headers, data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


def route_request(
    emulator: ApiGatewayEmulator,
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
) -> tuple[int, dict[str, str], bytes]:
    """What API Gateway answers to one request read whole: (status, headers, body). The same for
    both HTTP parsers (:func:`answer_plain` and :class:`_RequestHandler`)."""
    split = urlsplit(target)
    raw_path = split.path
    if raw_path == DOCUMENT_PATH and method in ("GET", "HEAD"):
        # Not an API route (no authorizer): the document of the API, outside Huawei's paths.
        json_headers = {"Content-Type": "application/json;charset=UTF-8", "X-Request-Id": request_id}
        return 200, json_headers, emulator.openapi_document()
    route, params, path_exists = emulator.resolve(method, raw_path)
    if route is None:
        if path_exists:
            return _error(405, "KMS.0215", "The request method is not supported.", request_id)
        return _error(404, "KMS.0201", "Invalid request URL.", request_id)
    event = ApiGatewayEmulator.build_event(
        route=route.route,
        method=method,
        raw_path=raw_path,
        query=split.query,
        headers=headers,
        body=body,
        path_params=params,
        source_ip=source_ip,
        request_id=request_id,
    )
    if route.authorizer is not None:
        authorizer_context, refusal = emulator.authorize(route, event)
        if authorizer_context is None:
            return refusal[0], {"Content-Type": "application/json", "X-Request-Id": request_id}, refusal[1]
        event["requestContext"]["authorizer"] = authorizer_context
    try:
        result = route.handler(event, LambdaContext(route.route.function, request_id))
        status = int(result["statusCode"])
        answer_headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
    except Exception:
        # API Gateway answers 502 when the integration's response is malformed or it crashed.
        logger.exception("integration failure", extra={"function": route.route.function})
        return _error(502, "KMS.0101", "Bad gateway: the function failed.", request_id)
    answer_headers.setdefault("X-Request-Id", request_id)
    return status, answer_headers, data


def _error(status: int, code: str, message: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json;charset=UTF-8", "X-Request-Id": request_id}
    return status, headers, json.dumps(error_body(code, message)).encode()


# -- the plain request: parsed here, answered in one send ----------------------------------------

_SERVER_HEADER = f"Server: {BaseHTTPRequestHandler.server_version} {BaseHTTPRequestHandler.sys_version}\r\n"
_STATUS_LINES = {
    int(status): f"HTTP/1.1 {int(status)} {phrase}\r\n"
    for status, (phrase, _) in BaseHTTPRequestHandler.responses.items()
}
# A field name as the stdlib's header parser (email.feedparser) takes it: printable ASCII, no colon.
_PLAIN_FIELD = re.compile(r"[!-9;-~]+:")
_MAX_PLAIN_FIELDS = 100  # http.client's bound: more is the stdlib's 431, not ours to answer


def _plain_head(head: str) -> tuple[str, str, str, list[tuple[str, str]]] | None:
    """(method, target, version, fields) of a header block (latin-1, without its blank line) whose
    every line the stdlib parser would read the same way; None for anything else: bare CR or LF
    line ends, folded lines, fields it would not take as fields, other request-line shapes. Values
    are taken as http.client takes them: leading blanks dropped, trailing ones kept."""
    lines = head.split("\r\n")
    breaks = len(lines) - 1
    if breaks > _MAX_PLAIN_FIELDS or head.count("\r") != breaks or head.count("\n") != breaks:
        return None
    words = lines[0].split(" ")
    if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0") or not words[0] or not words[1]:
        return None
    method, target, version = words
    if target.startswith("//") or not method.isalpha() or not target.isprintable():
        return None
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        match = _PLAIN_FIELD.match(line)
        if match is None or line.startswith("From "):
            return None
        fields.append((line[: match.end() - 1], line[match.end() :].lstrip(" \t")))
    return method, target, version, fields


def _field(fields: list[tuple[str, str]], name: str) -> str | None:
    """The first field of that name (case-insensitive), as email.message.Message.get gives it."""
    for field, value in fields:
        if field.lower() == name:
            return value
    return None


def answer_plain(sock: socket.socket, address: Any, server: LocalServer, request: bytes) -> bool | None:
    """Answer a plain request (see :func:`_plain_head`, with a Content-Length body or none) without
    the stdlib's request handler, in one send; whether to keep the connection. None, having read
    and sent nothing, when the request is not plain: :class:`_RequestHandler` answers it then, so
    every request the two parsers would read differently goes through the stdlib's."""
    end = request.find(b"\r\n\r\n")
    if end < 0 or not request[:end].isascii():
        return None
    parsed = _plain_head(request[:end].decode("latin-1"))
    if parsed is None:
        return None
    method, target, version, fields = parsed
    if _field(fields, "transfer-encoding") is not None:
        return None
    length = (_field(fields, "content-length") or "0").strip()
    body = request[end + 4 :]
    if not length.isdigit() or len(body) != int(length):
        return None  # (the loop frames by the same field: does not happen)
    connection = (_field(fields, "connection") or "").lower()
    keep = version == "HTTP/1.1" if connection not in ("close", "keep-alive") else connection == "keep-alive"
    request_id = _request_id()
    status, headers, data = route_request(
        server.emulator,
        method=method,
        target=target,
        headers=fields,
        body=body,
        source_ip=address[0],
        request_id=request_id,
    )
    lines = [
        _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n",
        _SERVER_HEADER,
        "Date: ",
        _date_header(),
        "\r\n",
    ]
    for name, value in headers.items():
        if name.lower() not in ("content-length", "connection"):
            lines.append(f"{name}: {value}\r\n")
    if status in _NO_BODY_STATUSES:
        data = b""  # and no Content-Length either (RFC 9110 §8.6)
    else:
        lines.append(f"Content-Length: {len(data)}\r\n")
    lines.append("\r\n")
    answer = "".join(lines).encode("latin-1")
    if method != "HEAD" and data:
        answer += data
    try:
        sock.sendall(answer)
    except OSError:  # the client went away, or did not read within the write timeout
        return False
    return keep


_DATE = [(0, "")]  # [(second, Date header)]: formatting it costs ~10 us


def _date_header() -> str:
    now = int(time.time())
    cached = _DATE[0]
    if cached[0] != now:
        cached = (now, formatdate(now, usegmt=True))
        _DATE[0] = cached  # one tuple, replaced whole: safe across threads
    return cached[1]


def _matches(method_arn: str, resource: str) -> bool:
    """IAM's wildcard match of a policy Resource (the common case, the exact ARN, without fnmatch)."""
    return resource == method_arn or fnmatch.fnmatchcase(method_arn, resource)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class _BodyTooLarge(Exception):
    """The request body exceeds what the emulated gateway accepts."""


class LocalServer(ConnectionLoop):
    """``skms serve``: the emulator behind the connection loop (``limits``: from the environment
    unless given, see :class:`skms.local.connections.ServerLimits`)."""

    def __init__(
        self, address: tuple[str, int], emulator: ApiGatewayEmulator, limits: ServerLimits | None = None
    ) -> None:
        self.emulator = emulator
        super().__init__(address, limits)

    def serve_request(self, sock: socket.socket, address: Any, request: bytes) -> bool:
        keep = answer_plain(sock, address, self, request)
        if keep is None:
            return _RequestHandler.answer(sock, address, self, request)
        return keep
