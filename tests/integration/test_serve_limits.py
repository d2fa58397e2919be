"""``skms serve`` against slow and hostile clients (issue 15 item 3): connections that send nothing,
half a header or half a body hold no thread and are closed at their deadline, while other requests
are answered; a body shorter than its Content-Length is 400; connections beyond the bound are 503.

Served in-process on a loopback port with short timeouts (tests/support/edge_app.py); every check
on time is an upper bound with a generous margin.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skms.local.connections import (
    MAX_REQUEST_BYTES,
    ChunkScan,
    FramingError,
    LimitsError,
    ServerLimits,
    parse_framing,
    scan_chunks,
)
from tests.conftest import PROJECT_ID
from tests.support.edge_app import EdgeServer, serve_edge_app

TIMEOUT = 1.0  # the header and body timeouts of these servers
MARGIN = 5.0  # on a loaded 2-core machine, the loop may be late by a lot, never by this much
IDLE_CONNECTIONS = 200
WORKERS = 4


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeServer]:
    limits = ServerLimits(
        header_timeout=TIMEOUT,
        body_timeout=TIMEOUT,
        idle_timeout=2 * TIMEOUT,
        max_connections=300,
        workers=WORKERS,
    )
    with serve_edge_app(tmp_path, limits) as server:
        yield server


def aliases_path() -> str:
    return f"/v1.0/{PROJECT_ID}/kms/aliases"


def raw_connection(edge: EdgeServer) -> socket.socket:
    sock = socket.create_connection(
        ("127.0.0.1", int(edge.server.server_address[1])), timeout=TIMEOUT + MARGIN
    )
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset counts as closed)."""
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return bytes(received)


def error_of(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]["error_code"]


def normal_request_succeeds(edge: EdgeServer) -> None:
    answer = edge.request("GET", aliases_path(), query=[("limit", "7")])
    assert answer.status == 200, answer.body
    assert answer.json()["limit"] == "7"


# -- idle connections ----------------------------------------------------------------------------


def test_200_idle_connections_hold_no_thread_and_are_closed_while_a_request_is_answered(
    edge: EdgeServer,
) -> None:
    # Given a served request (the workers exist) and the threads of the process then
    normal_request_succeeds(edge)
    threads_before = threading.active_count()
    # When 200 connections are opened that never send a byte
    started = time.monotonic()
    idle = [raw_connection(edge) for _ in range(IDLE_CONNECTIONS)]
    try:
        deadline = time.monotonic() + MARGIN
        while edge.server.open_connections < IDLE_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert edge.server.open_connections >= IDLE_CONNECTIONS
        # Then they cost no thread
        assert threading.active_count() <= threads_before + 1
        # And a normal request is answered meanwhile
        normal_request_succeeds(edge)
        # And every idle connection is closed by the server, without an answer, within the timeout
        for sock in idle:
            assert read_until_closed(sock) == b""
        assert time.monotonic() - started < TIMEOUT + MARGIN
    finally:
        for sock in idle:
            sock.close()
    # And the server still answers
    normal_request_succeeds(edge)


def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(edge: EdgeServer) -> None:
    conn = edge.connect()
    try:
        assert edge.request("GET", aliases_path(), conn=conn).status == 200
        sock = conn.sock
        assert sock is not None
        started = time.monotonic()
        sock.settimeout(2 * TIMEOUT + MARGIN)
        assert read_until_closed(sock) == b""
        assert time.monotonic() - started < 2 * TIMEOUT + MARGIN
    finally:
        conn.close()


# -- slow headers and bodies ---------------------------------------------------------------------


def test_half_a_header_is_answered_408_and_closed_within_the_timeout(edge: EdgeServer) -> None:
    sock = raw_connection(edge)
    try:
        started = time.monotonic()
        sock.sendall(f"GET {aliases_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        # Meanwhile, a normal request is answered
        normal_request_succeeds(edge)
        answer = read_until_closed(sock)
        assert time.monotonic() - started < TIMEOUT + MARGIN
    finally:
        sock.close()
    assert error_of(answer) == (408, "KMS.0214")


def test_a_header_trickled_byte_by_byte_cannot_outlive_the_header_timeout(edge: EdgeServer) -> None:
    # Given a client that sends one byte of its header every tenth of the timeout, forever
    sock = raw_connection(edge)
    header = f"GET {aliases_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {'a' * 1000}".encode()
    started = time.monotonic()
    try:
        for byte in header:
            if select.select([sock], [], [], TIMEOUT / 10)[0]:
                break  # the server answered (and closes): stop sending, read it
            sock.send(bytes([byte]))
            if time.monotonic() - started > TIMEOUT + MARGIN:
                break
        answer = read_until_closed(sock)
    finally:
        sock.close()
    # Then the server closed it once the header timeout ran out, whatever the pace of the bytes
    assert time.monotonic() - started < TIMEOUT + MARGIN + 1
    assert answer.startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("sent", [0, 10, 99])
def test_a_body_shorter_than_its_content_length_is_400(edge: EdgeServer, sent: int) -> None:
    # Given a request announcing a 100-byte body and sending fewer bytes
    sock = raw_connection(edge)
    try:
        started = time.monotonic()
        head = (
            f"DELETE {aliases_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{" * sent)
        # Meanwhile, a normal request is answered
        normal_request_succeeds(edge)
        # Then 400 KMS.0202 once the body timeout runs out, and the connection is closed
        answer = read_until_closed(sock)
        assert time.monotonic() - started < TIMEOUT + MARGIN
    finally:
        sock.close()
    assert error_of(answer) == (400, "KMS.0202")
    assert b"Connection: close" in answer
    assert edge.received("TestDeleteAlias") == []


@pytest.mark.parametrize(
    ("framing", "expected"),
    [
        pytest.param("Content-Length: abc\r\n", (400, "KMS.0214"), id="not-a-number"),
        pytest.param("Content-Length: -1\r\n", (400, "KMS.0214"), id="negative"),
        pytest.param("Content-Length: 5\r\nContent-Length: 6\r\n", (400, "KMS.0214"), id="two-lengths"),
        pytest.param(f"Content-Length: {MAX_REQUEST_BYTES + 1}\r\n", (413, "KMS.0203"), id="too-large"),
        pytest.param("Transfer-Encoding: chunked\r\n\r\nzz\r\n", (400, "KMS.0214"), id="bad-chunk-size"),
    ],
)
def test_a_body_that_cannot_be_framed_is_refused_at_once(
    edge: EdgeServer, framing: str, expected: tuple[int, str]
) -> None:
    sock = raw_connection(edge)
    try:
        started = time.monotonic()
        head = f"POST {aliases_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}"
        sock.sendall((head if head.endswith("zz\r\n") else head + "\r\n").encode())
        answer = read_until_closed(sock)
        assert time.monotonic() - started < TIMEOUT  # not waiting for a timeout
    finally:
        sock.close()
    assert error_of(answer) == expected


def test_a_header_block_over_the_limit_is_refused(edge: EdgeServer) -> None:
    sock = raw_connection(edge)
    try:
        sock.sendall(f"GET {aliases_path()} HTTP/1.1\r\nX-Big: {'a' * 70_000}".encode())
        answer = read_until_closed(sock)
    finally:
        sock.close()
    assert error_of(answer) == (431, "KMS.0214")


def test_expect_100_continue_gets_the_interim_answer_then_the_answer(edge: EdgeServer) -> None:
    # A client that waits for "100 Continue" before it sends the body (curl does, for large bodies)
    body = json.dumps({"aliases": ["alias/x"]}).encode()
    headers = edge.signed_headers("DELETE", aliases_path(), body)
    head = f"DELETE {aliases_path()} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    sock = raw_connection(edge)
    try:
        sock.sendall(head.encode())
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        answer = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :] + read_until_closed(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["aliases"] == ["alias/x"]


def test_pipelined_requests_are_answered_in_order(edge: EdgeServer) -> None:
    requests = b""
    for limit in ("1", "2", "3"):
        query = [("limit", limit)]
        headers = edge.signed_headers("GET", aliases_path(), b"", query=query)
        requests += f"GET {aliases_path()}?limit={limit} HTTP/1.1\r\n".encode()
        requests += "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n"
    requests = requests[:-2] + b"Connection: close\r\n\r\n"
    sock = raw_connection(edge)
    try:
        sock.sendall(requests)
        answers = read_until_closed(sock)
    finally:
        sock.close()
    assert answers.count(b"HTTP/1.1 200 ") == 3
    assert [part.split(b'"limit":"')[1][:1] for part in answers.split(b"HTTP/1.1 ")[1:]] == [b"1", b"2", b"3"]


# -- the bound on connections --------------------------------------------------------------------


def test_connections_beyond_the_bound_are_answered_503(tmp_path: Path) -> None:
    limits = ServerLimits(header_timeout=30, body_timeout=30, idle_timeout=30, max_connections=5, workers=2)
    with serve_edge_app(tmp_path, limits) as edge:
        held = [raw_connection(edge) for _ in range(5)]
        try:
            deadline = time.monotonic() + MARGIN
            while edge.server.open_connections < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            # When one more connects, it is told the server is busy, and closed
            extra = raw_connection(edge)
            try:
                assert error_of(read_until_closed(extra)) == (503, "KMS.0104")
            finally:
                extra.close()
        finally:
            for sock in held:
                sock.close()
        # And once the held connections are gone, requests are served again
        deadline = time.monotonic() + MARGIN
        while edge.server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        normal_request_succeeds(edge)


# -- settings and framing rules ------------------------------------------------------------------


def test_limits_from_the_environment() -> None:
    limits = ServerLimits.from_env(
        {
            "KMS_SERVE_HEADER_TIMEOUT_SECONDS": "2.5",
            "KMS_SERVE_BODY_TIMEOUT_SECONDS": "3",
            "KMS_SERVE_IDLE_TIMEOUT_SECONDS": "30",
            "KMS_SERVE_MAX_CONNECTIONS": "64",
            "KMS_SERVE_WORKERS": "8",
        }
    )
    assert limits == ServerLimits(2.5, 3.0, 30.0, 64, 8)
    assert ServerLimits.from_env({}) == ServerLimits(10.0, 10.0, 60.0, 512, 16)


@pytest.mark.parametrize(
    "env",
    [
        {"KMS_SERVE_HEADER_TIMEOUT_SECONDS": "0"},
        {"KMS_SERVE_WORKERS": "many"},
        {"KMS_SERVE_MAX_CONNECTIONS": "-1"},
    ],
)
def test_unusable_limits_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(LimitsError):
        ServerLimits.from_env(env)


def test_chunked_bodies_are_framed_incrementally() -> None:
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    assert parse_framing(head).chunked
    buffer = bytearray(head)
    scan = ChunkScan(len(head))
    ends = []
    for byte in body + b"GET /next":
        buffer.append(byte)
        ends.append(scan_chunks(buffer, scan))
    assert ends.index(len(head) + len(body)) == len(body) - 1  # complete exactly at its last byte
    with pytest.raises(FramingError):
        scan_chunks(bytearray(head + b"5\r\nhelloXX"), ChunkScan(len(head)))
