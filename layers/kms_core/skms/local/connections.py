"""The connections of ``skms serve``: slow and hostile clients cost a socket, never a thread.

One thread (:meth:`ConnectionLoop.serve_forever`) owns every connection. It accepts, reads with a
selector, and frames each request itself (header block, then the body by Content-Length or
chunked coding) until the whole request is in memory; only then does a worker of a small pool run
it (:meth:`ConnectionLoop.serve_request`, which reads nothing more from the network) and write the
answer. A connection that sends nothing, half a header or half a body therefore holds no thread,
and is closed when its deadline passes (:class:`ServerLimits`):

- ``header_timeout``: from a connection's accept, or from the first byte of a request on a kept-
  alive connection, to the end of the request's header block. Past it: closed (408 if part of a
  header came).
- ``body_timeout``: from the end of the header to the end of the body. A body shorter than its
  Content-Length is answered 400 KMS.0202 when it passes; it also bounds writing an answer.
- ``idle_timeout``: a kept-alive connection between requests. Past it: closed.
- ``max_connections``: connections open at once; one more is answered 503 KMS.0104 and closed.
- ``workers``: requests run at once (the rest wait, already read, in the pool's queue).

Framing errors are answered by the loop and the connection closed: a malformed Content-Length or
chunk size 400 KMS.0214, a body announced or sent over ``MAX_REQUEST_BYTES`` 413 KMS.0203 (unread),
a header block over ``MAX_HEADER_BYTES`` 431 KMS.0214.

Settings come from the environment (:meth:`ServerLimits.from_env`): ``KMS_SERVE_HEADER_TIMEOUT_SECONDS``
(10), ``KMS_SERVE_BODY_TIMEOUT_SECONDS`` (10), ``KMS_SERVE_IDLE_TIMEOUT_SECONDS`` (60),
``KMS_SERVE_MAX_CONNECTIONS`` (512), ``KMS_SERVE_WORKERS`` (16).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import selectors
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from skms.config import ConfigError
from skms.errors import error_body
from skms.observability import logger

MAX_REQUEST_BYTES = 1024 * 1024  # a request body, as API Gateway's payload limit is a few MiB
MAX_HEADER_BYTES = 64 * 1024  # the request line and header fields
_RECV_BYTES = 64 * 1024
_CHUNK_LINE_MAX = 66  # a chunk-size line: hex digits, extensions are not expected from SDKs


class LimitsError(ConfigError):
    """A KMS_SERVE_* setting is not usable."""


@dataclass(frozen=True, slots=True)
class ServerLimits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 60.0
    max_connections: int = 512
    workers: int = 16

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not value > 0:
                raise LimitsError(f"{item.name} must be positive, not {value!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerLimits:
        env = os.environ if env is None else env
        names = {
            "header_timeout": "KMS_SERVE_HEADER_TIMEOUT_SECONDS",
            "body_timeout": "KMS_SERVE_BODY_TIMEOUT_SECONDS",
            "idle_timeout": "KMS_SERVE_IDLE_TIMEOUT_SECONDS",
            "max_connections": "KMS_SERVE_MAX_CONNECTIONS",
            "workers": "KMS_SERVE_WORKERS",
        }
        values: dict[str, Any] = {}
        for name, variable in names.items():
            raw = env.get(variable)
            if raw in (None, ""):
                continue
            kind = int if name in ("max_connections", "workers") else float
            try:
                values[name] = kind(raw)
            except ValueError:
                raise LimitsError(f"{variable} must be a positive {kind.__name__}, not {raw!r}") from None
        return cls(**values)


def error_response(status: int, code: str, message: str, request_id: str) -> bytes:
    """A complete HTTP/1.1 answer with the §F2 body that closes the connection (the loop's own)."""
    body = json.dumps(error_body(code, message)).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        "Content-Type: application/json;charset=UTF-8\r\n"
        f"X-Request-Id: {request_id}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


# -- framing -------------------------------------------------------------------------------------


class FramingError(Exception):
    """The request cannot be framed: answered by the loop with ``status`` and the connection closed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_MALFORMED = (400, "KMS.0214", "Malformed request body framing.")
_TOO_LARGE = (413, "KMS.0203", "The request body is too large.")


def header_end(buffer: bytearray) -> int | None:
    """The offset just past the header block (blank line, CRLF or bare LF), or None."""
    crlf = buffer.find(b"\r\n\r\n")
    lf = buffer.find(b"\n\n")
    ends = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends) if ends else None


@dataclass(slots=True)
class Framing:
    content_length: int | None  # None: chunked, or no body
    chunked: bool
    expect_continue: bool


def parse_framing(head: bytes) -> Framing:
    """How the body of the request whose header block is ``head`` is delimited (the same rules
    as the request handler's: Transfer-Encoding chunked first, else the first Content-Length)."""
    lines = head.decode("latin-1").splitlines()
    version = lines[0].rsplit(" ", 1)[-1] if lines else ""
    lengths: list[str] = []
    chunked = expect = False
    for line in lines[1:]:
        if not line or line[0] in " \t" or ":" not in line:
            continue  # continuation lines and junk: never framing (the handler's parser agrees)
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            lengths.append(value)
        elif name == "transfer-encoding":
            chunked = chunked or "chunked" in value.lower()
        elif name == "expect":
            expect = value.lower() == "100-continue"
    expect = expect and version == "HTTP/1.1"
    if chunked:
        return Framing(None, True, expect)
    if not lengths:
        return Framing(None, False, expect)
    if len(set(lengths)) > 1 or not lengths[0].isascii() or not lengths[0].isdigit():
        raise FramingError(*_MALFORMED)
    length = int(lengths[0])
    if length > MAX_REQUEST_BYTES:
        raise FramingError(*_TOO_LARGE)
    return Framing(length, False, expect)


@dataclass(slots=True)
class ChunkScan:
    """Where the scan of a chunked body stopped: the next chunk-size line and the bytes so far."""

    position: int
    total: int = 0


def scan_chunks(buffer: bytearray, scan: ChunkScan) -> int | None:
    """The offset just past a complete chunked body (trailers included), or None while incomplete;
    ``scan`` keeps the progress between calls. Raises :class:`FramingError`."""
    while True:
        newline = buffer.find(b"\n", scan.position)
        if newline < 0:
            if len(buffer) - scan.position > _CHUNK_LINE_MAX:
                raise FramingError(*_MALFORMED)
            return None
        line = bytes(buffer[scan.position : newline]).split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise FramingError(*_MALFORMED) from None
        if size < 0:
            raise FramingError(*_MALFORMED)
        if size == 0:
            return _trailers_end(buffer, newline + 1)
        if scan.total + size > MAX_REQUEST_BYTES:
            raise FramingError(*_TOO_LARGE)
        data_end = newline + 1 + size
        if buffer[data_end : data_end + 2] == b"\r\n":
            next_line = data_end + 2
        elif buffer[data_end : data_end + 1] == b"\n":
            next_line = data_end + 1
        elif len(buffer) < data_end + 2:
            return None
        else:
            raise FramingError(*_MALFORMED)
        scan.position, scan.total = next_line, scan.total + size


def _trailers_end(buffer: bytearray, position: int) -> int | None:
    while True:
        newline = buffer.find(b"\n", position)
        if newline < 0:
            if len(buffer) - position > MAX_HEADER_BYTES:
                raise FramingError(*_MALFORMED)
            return None
        if buffer[position:newline].strip(b"\r") == b"":
            return newline + 1
        position = newline + 1


# -- the loop ------------------------------------------------------------------------------------

_FRESH, _HEADER, _BODY, _IDLE = range(4)  # what the connection waits for


class _Connection:
    __slots__ = ("address", "buffer", "busy", "chunks", "deadline", "framing", "head_end", "sock", "state")

    def __init__(self, sock: socket.socket, address: Any, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.buffer = bytearray()
        self.state = _FRESH
        self.deadline = deadline
        self.head_end: int | None = None
        self.framing: Framing | None = None
        self.chunks: ChunkScan | None = None
        self.busy = False  # a worker owns it: the loop neither reads nor expires it

    def next_request(self, state: int, deadline: float) -> None:
        self.state, self.deadline = state, deadline
        self.head_end = self.framing = self.chunks = None


class ConnectionLoop:
    """A listening socket and its connections; subclasses answer requests (:meth:`serve_request`)."""

    request_queue_size = 1024
    # After an answer, a worker waits this long for the connection's next request before handing
    # it back to the loop: a busy keep-alive client then costs one thread wakeup per request, not
    # three (loop, worker, loop). Never while other requests wait for a worker.
    linger_seconds = 0.05

    def __init__(self, address: tuple[str, int], limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits.from_env()
        self.socket = socket.create_server(address, backlog=self.request_queue_size, reuse_port=False)
        self.socket.setblocking(False)
        self.server_address: tuple[Any, ...] = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._returned: deque[tuple[_Connection, bool]] = deque()
        self._connections: set[_Connection] = set()
        self._jobs: queue.SimpleQueue[tuple[_Connection, bytes] | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    # subclass API ----------------------------------------------------------------------------

    def serve_request(self, sock: socket.socket, address: Any, request: bytes) -> bool:
        """Answer one complete request (in a worker, the socket blocking with a write timeout);
        return whether the connection stays open for another request."""
        raise NotImplementedError

    # lifecycle -------------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        self._stop.clear()
        while len(self._workers) < self.limits.workers:
            worker = threading.Thread(
                target=self._worker, name=f"skms-worker-{len(self._workers)}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        selector = self._selector
        selector.register(self.socket, selectors.EVENT_READ, None)
        selector.register(self._wake_r, selectors.EVENT_READ, self._wake_r)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(self._select_timeout(poll_interval)):
                    if key.data is None:
                        self._accept()
                    elif key.data is self._wake_r:
                        self._drain_wake()
                    else:
                        self._on_readable(key.data)
                self._take_returned()
                self._expire(time.monotonic())
        finally:
            for sock in (self.socket, self._wake_r):
                selector.unregister(sock)
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` (from another thread) and wait until it has returned."""
        self._stop.set()
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        for connection in list(self._connections):
            self._close(connection)
        for _ in self._workers:
            self._jobs.put(None)
        self._workers.clear()
        self.socket.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="skms-http", daemon=True)
        thread.start()
        return thread

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # the loop --------------------------------------------------------------------------------

    def _select_timeout(self, poll_interval: float) -> float:
        if not self._connections:
            return poll_interval
        soonest = min((c.deadline for c in self._connections if not c.busy), default=None)
        if soonest is None:
            return poll_interval
        return min(poll_interval, max(0.0, soonest - time.monotonic()) + 0.001)

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                logger.warning("accept failed", exc_info=True)
                return
            if len(self._connections) >= self.limits.max_connections:
                self._refuse_busy(sock)
                continue
            sock.setblocking(False)
            # Without TCP_NODELAY, Nagle's algorithm can hold a small answer until the client's
            # delayed ACK (~40 ms per request on keep-alive connections).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(sock, address, time.monotonic() + self.limits.header_timeout)
            self._connections.add(connection)
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _refuse_busy(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        answer = error_response(503, "KMS.0104", "The server is busy: too many connections.", _request_id())
        _send_and_close(sock, answer)

    def _on_readable(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(connection)
            return
        self._received(connection, data)
        try:
            request = self._frame(connection)
        except FramingError as exc:
            self._forget(connection)
            _refuse(connection.sock, exc)
            return
        if request is not None:
            connection.busy = True
            self._selector.unregister(connection.sock)
            self._jobs.put((connection, request))

    def _received(self, connection: _Connection, data: bytes) -> None:
        connection.buffer += data
        if connection.state in (_FRESH, _IDLE):
            if connection.state == _IDLE:  # a new request begins: it has the header timeout
                connection.deadline = time.monotonic() + self.limits.header_timeout
            connection.state = _HEADER

    def _frame(self, connection: _Connection) -> bytes | None:
        """The next complete request, taken from the connection's buffer, or None while it is
        incomplete (the state and deadline follow). Raises :class:`FramingError`."""
        buffer = connection.buffer
        if connection.head_end is None:
            end = header_end(buffer)
            if end is None:
                if len(buffer) > MAX_HEADER_BYTES:
                    raise FramingError(431, "KMS.0214", "The request header is too large.")
                return None
            if end > MAX_HEADER_BYTES:
                raise FramingError(431, "KMS.0214", "The request header is too large.")
            connection.head_end = end
            connection.framing = parse_framing(bytes(buffer[:end]))
            connection.state, connection.deadline = _BODY, time.monotonic() + self.limits.body_timeout
            if connection.framing.chunked:
                connection.chunks = ChunkScan(end)
        framing = connection.framing
        assert framing is not None
        if framing.chunked:
            assert connection.chunks is not None
            request_end = scan_chunks(buffer, connection.chunks)
        else:
            request_end = connection.head_end + (framing.content_length or 0)
            if len(buffer) < request_end:
                request_end = None
        if request_end is None:
            if framing.expect_continue:
                # The client waits for this before it sends the body; sent once.
                framing.expect_continue = False
                with contextlib.suppress(OSError):
                    connection.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            return None
        request = bytes(buffer[:request_end])
        del buffer[:request_end]
        return request

    # the workers -----------------------------------------------------------------------------

    def _worker(self) -> None:
        while (job := self._jobs.get()) is not None:
            connection, request = job
            try:
                self._work(connection, request)
            except Exception:
                logger.exception("connection failure")
                self._hand_back(connection, keep=False)

    def _work(self, connection: _Connection, request: bytes | None) -> None:
        """Answer the request, then the ones that follow at once on the connection; hand it back
        to the loop when it goes quiet (after :attr:`linger_seconds`) or closes."""
        sock = connection.sock
        while request is not None:
            sock.settimeout(self.limits.body_timeout)  # bounds writing the answer
            if not self.serve_request(sock, connection.address, request):
                self._hand_back(connection, keep=False)
                return
            now = time.monotonic()
            if connection.buffer:  # pipelined
                connection.next_request(_HEADER, now + self.limits.header_timeout)
            else:
                connection.next_request(_IDLE, now + self.limits.idle_timeout)
            try:
                request = self._linger(connection)
            except FramingError as exc:
                _refuse(sock, exc)
                self._hand_back(connection, keep=False, closed=True)
                return
            except _Closed:
                self._hand_back(connection, keep=False)
                return
        sock.setblocking(False)
        self._hand_back(connection, keep=True)

    def _linger(self, connection: _Connection) -> bytes | None:
        """A next request that is already here or arrives within the linger (a busy keep-alive
        client), read without passing through the loop; None when there is none (or other
        requests wait for a worker). Deadlines still run from when its bytes came."""
        request = self._frame(connection) if connection.buffer else None
        if request is not None:
            return request
        until = time.monotonic() + self.linger_seconds
        while self._jobs.empty():
            left = min(until, connection.deadline) - time.monotonic()
            if left <= 0:
                return None
            connection.sock.settimeout(left)
            try:
                data = connection.sock.recv(_RECV_BYTES)
            except TimeoutError:
                return None
            except OSError:
                raise _Closed from None
            if not data:
                raise _Closed
            self._received(connection, data)
            if (request := self._frame(connection)) is not None:
                return request
        return None

    def _hand_back(self, connection: _Connection, *, keep: bool, closed: bool = False) -> None:
        if not keep and not closed:
            with contextlib.suppress(OSError):
                connection.sock.close()
        self._returned.append((connection, keep))
        self._wake()

    def _take_returned(self) -> None:
        while self._returned:
            connection, keep = self._returned.popleft()
            connection.busy = False
            if not keep or self._stop.is_set():
                self._close(connection, registered=False)  # (closing twice is harmless)
                continue
            self._selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _expire(self, now: float) -> None:
        for connection in [c for c in self._connections if not c.busy and c.deadline <= now]:
            if connection.state == _HEADER:
                answer = error_response(
                    408, "KMS.0214", "The request header was not received in time.", _request_id()
                )
            elif connection.state == _BODY:
                answer = error_response(
                    400, "KMS.0202", "The request body does not match its Content-Length.", _request_id()
                )
            else:  # nothing of a request came: close quietly
                self._close(connection)
                continue
            self._forget(connection)
            _send_and_close(connection.sock, answer)

    def _forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)

    def _close(self, connection: _Connection, *, registered: bool = True) -> None:
        if registered:
            self._forget(connection)
        else:
            self._connections.discard(connection)
        with contextlib.suppress(OSError):
            connection.sock.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already awake (buffer full), or closing
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass


class _Closed(Exception):
    """The client closed the connection (or it failed)."""


def _refuse(sock: socket.socket, exc: FramingError) -> None:
    _send_and_close(sock, error_response(exc.status, exc.code, exc.message, _request_id()))


def _send_and_close(sock: socket.socket, answer: bytes) -> None:
    """Send a small answer without blocking, then close: first reading what the client already
    sent (up to a bound), so that the close does not reset the connection before it reads."""
    try:
        sock.send(answer)
        sock.shutdown(socket.SHUT_WR)
        for _ in range(16):
            if not sock.recv(_RECV_BYTES):
                break
    except OSError:
        pass
    finally:
        sock.close()


def new_request_id() -> str:
    """A UUID4-shaped id, like API Gateway's; from the process's PRNG, not os.urandom (a syscall
    per request): request ids need to be unique, not unpredictable."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


_request_id = new_request_id
