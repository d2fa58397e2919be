"""skms serve's two HTTP parsers answer alike: the plain-request path (:func:`answer_plain`, parsed
by hand, one send) and the stdlib's request handler, which answers everything else."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from skms.local.server import ApiGatewayEmulator, LocalServer, _RequestHandler, answer_plain
from skms.openapi import DOCUMENT_PATH
from tests.conftest import PROJECT_ID, TEMPLATE

_KEYS = f"/v1.0/{PROJECT_ID}/kms/list-keys"  # a POST route: other methods are 405


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    local = LocalServer(("127.0.0.1", 0), ApiGatewayEmulator(TEMPLATE))
    yield local
    local.server_close()


def _answer_with(parser: str, server: LocalServer, request: bytes) -> tuple[bool | None, bytes]:
    """(keep the connection?, the bytes written) of one parser; None: the plain path declined."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(5)
        if parser == "plain":
            keep = answer_plain(ours, ("127.0.0.1", 40000), server, request)
        else:
            keep = _RequestHandler.answer(ours, ("127.0.0.1", 40000), server, request)
        ours.shutdown(socket.SHUT_WR)
        written = b""
        while chunk := theirs.recv(65536):
            written += chunk
    return keep, written


def _normalised(answer: bytes) -> bytes:
    """Without what differs between two answers to the same request: the date and the request id."""
    answer = re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", answer)
    return re.sub(rb"\r\nX-Request-Id: [^\r]*", b"\r\nX-Request-Id: -", answer)


def _request(head: str, body: bytes = b"") -> bytes:
    return head.encode("latin-1") + b"\r\n\r\n" + body


PLAIN = {
    "document": _request(f"GET {DOCUMENT_PATH} HTTP/1.1\r\nHost: h"),
    "document, HEAD": _request(f"HEAD {DOCUMENT_PATH} HTTP/1.1\r\nHost: h"),
    "unknown path with a body": _request(
        "POST /nowhere HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Type: application/json", b"{}"
    ),
    "wrong method": _request(f"PUT {_KEYS} HTTP/1.1\r\nHost: h\r\nContent-Length: 0"),
    "unknown method": _request(f"BREW {_KEYS}?a=1&b HTTP/1.1\r\nHost: h"),
    "HTTP/1.0": _request("GET /nowhere HTTP/1.0\r\nHost: h"),
    "HTTP/1.0 keep-alive": _request("GET /nowhere HTTP/1.0\r\nConnection: keep-alive"),
    "close": _request("GET /nowhere HTTP/1.1\r\nHost: h\r\nConnection: Close"),
    "close with a trailing blank (not close)": _request("GET /nowhere HTTP/1.1\r\nConnection: close "),
    "no header field": _request("GET /nowhere HTTP/1.1"),
    "empty field value": _request("GET /nowhere HTTP/1.1\r\nX-Empty:\r\nHost:   h"),
    "expect 100-continue": _request(
        "POST /nowhere HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3", b"abc"
    ),
}

NOT_PLAIN = {
    "folded field": _request("GET /nowhere HTTP/1.1\r\nX-Folded: a\r\n b"),
    "bare LF line end": b"GET /nowhere HTTP/1.1\nHost: h\n\n",
    "bare CR in a value": _request("GET /nowhere HTTP/1.1\r\nX-A: a\rb"),
    "chunked body": _request("POST /nowhere HTTP/1.1\r\nTransfer-Encoding: chunked", b"2\r\n{}\r\n0\r\n\r\n"),
    "HTTP/2.0": _request("GET /nowhere HTTP/2.0"),
    "HTTP/0.9 shape": _request("GET /nowhere"),
    "double slash": _request("GET //nowhere HTTP/1.1"),
    "two spaces": _request("GET  /nowhere HTTP/1.1"),
    "blank before the colon": _request("GET /nowhere HTTP/1.1\r\nHost : h"),
    "line without a colon": _request("GET /nowhere HTTP/1.1\r\nnonsense"),
    "non-ASCII value": _request("GET /nowhere HTTP/1.1\r\nX-Name: caf\xe9"),
    "more than 100 fields": _request("GET /nowhere HTTP/1.1" + "".join(f"\r\nX-{i}: v" for i in range(101))),
    "leading empty line": b"\r\nGET /nowhere HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", PLAIN.values(), ids=PLAIN.keys())
def test_a_plain_request_is_answered_as_the_stdlib_handler_answers_it(
    server: LocalServer, request_bytes: bytes
) -> None:
    # Given a request both parsers read / When each answers it
    plain_keep, plain = _answer_with("plain", server, request_bytes)
    stdlib_keep, stdlib = _answer_with("stdlib", server, request_bytes)
    # Then the same bytes (but for the date and the request id), in one answer, and the same
    # decision about the connection
    assert plain_keep is not None, "the plain path declined a plain request"
    assert _normalised(plain) == _normalised(stdlib)
    assert plain.startswith(b"HTTP/1.1 ")
    assert plain.count(b"HTTP/1.1 ") == 1
    assert plain_keep == stdlib_keep


def test_the_keep_alive_decisions_are_those_of_http() -> None:
    server = LocalServer(("127.0.0.1", 0), ApiGatewayEmulator(TEMPLATE))
    try:
        keep = {name: _answer_with("plain", server, PLAIN[name])[0] for name in PLAIN}
    finally:
        server.server_close()
    assert keep["document"] is True
    assert keep["HTTP/1.0"] is False
    assert keep["HTTP/1.0 keep-alive"] is True
    assert keep["close"] is False
    assert keep["close with a trailing blank (not close)"] is True


@pytest.mark.parametrize("request_bytes", NOT_PLAIN.values(), ids=NOT_PLAIN.keys())
def test_any_other_request_is_left_to_the_stdlib_handler(server: LocalServer, request_bytes: bytes) -> None:
    # Given a request the two parsers could read differently / When the plain path sees it
    keep, written = _answer_with("plain", server, request_bytes)
    # Then it declines it, having sent nothing
    assert keep is None
    assert written == b""


def test_the_server_answers_a_declined_request_through_the_stdlib_handler(server: LocalServer) -> None:
    # Given a folded header field (obsolete, but HTTP/1.1 parsers read it)
    keep, _written = _answer_with("plain", server, NOT_PLAIN["folded field"])
    assert keep is None
    # When the server answers it / Then the stdlib handler does: a 404 in the Huawei format
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(5)
        assert server.serve_request(ours, ("127.0.0.1", 40000), NOT_PLAIN["folded field"]) is True
        assert theirs.recv(65536).startswith(b"HTTP/1.1 404 ")
