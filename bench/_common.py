"""Shared by the HTTP benchmarks: `skms serve` as a subprocess, AK/SK-signed requests, and one load generator.

The load generator is a small asyncio client: N keep-alive connections (TCP_NODELAY, as urllib3 sets
it), each sending one prepared request after another for a fixed time and reading each answer whole
(Content-Length or chunked); when a server answers ``Connection: close`` the next request opens a
new connection, as urllib3 would, and that time counts in its latency. Requests are prepared (and
signed) once per measurement, so the client spends its time on the socket, not on building requests;
the server still verifies every signature. It reports its own CPU use, so a run where the client,
not the server, was the limit would show.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SKMS = Path(sys.executable).with_name("skms")
PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
ACCESS_KEY = "AKBENCHAKBENCHAKBENC"
SECRET_KEY = "bench-secret-key-bench-secret-key-000000"  # a throwaway key for a temporary store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


@contextmanager
def server_process(argv: list[str], port: int, env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A server subprocess on ``port``, output discarded, stopped (SIGTERM, then SIGKILL) on exit."""
    process = subprocess.Popen(argv, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Skms:
    port: int
    data_dir: Path
    pid: int  # of the server process, for a profiler (py-spy record --pid)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def signed(
        self, path: str, body: object, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY
    ) -> bytes:
        """A POST to ``path`` as the Huawei SDK sends it: JSON body, AK/SK signature (§F6), by the
        bench's access key unless another is given."""
        from tests.support.signer import sign_headers

        data = json.dumps(body, separators=(",", ":")).encode()
        headers = sign_headers(
            access_key=access_key,
            secret_key=secret_key,
            method="POST",
            path=path,
            body=data,
            project_id=PROJECT,
            host=self.host,
        )
        return raw_request("POST", path, headers, data)

    def cli(self, *args: str, stdin: str = "") -> dict[str, Any]:
        """``skms <args> --data-dir <this server's data dir>`` (users, access keys, policies): its JSON."""
        done = subprocess.run(
            [str(SKMS), *args, "--data-dir", str(self.data_dir)],
            input=stdin,
            text=True,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"skms {' '.join(args[:2])} failed: {done.stderr.strip()}")
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def call(self, operation: str, body: object) -> tuple[int, dict[str, Any]]:
        """One signed request to ``/v1.0/{project}/kms/<operation>``: (status, JSON answer)."""
        status, payload = send_once(self.port, self.signed(kms_path(operation), body))
        return status, (json.loads(payload) if payload else {})


def kms_path(operation: str) -> str:
    return f"/v1.0/{PROJECT}/kms/{operation}"


@contextmanager
def skms_server(
    template: Path | None = None, log_level: str | None = None, launcher: list[str] | None = None
) -> Iterator[Skms]:
    """`skms serve` on a free loopback port with a fresh data dir and the bench access key.

    ``log_level`` None keeps the server's default (INFO: a structured line from the authorizer and
    one from the function per request, as a developer running `skms serve` gets them); output goes
    to /dev/null either way. ``launcher`` replaces the `skms` executable (its arguments follow).
    """
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "KMS_DATA_DIR": data_dir,
            "HUAWEICLOUD_SDK_AK": ACCESS_KEY,
            "HUAWEICLOUD_SDK_SK": SECRET_KEY,
            "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT,
        }
        env.pop("POWERTOOLS_LOG_LEVEL", None)
        if log_level:
            env["POWERTOOLS_LOG_LEVEL"] = log_level
        argv = [
            *(launcher or [str(SKMS)]),
            "serve",
            "--port",
            str(port),
            "--template",
            str(template or ROOT / "template.yaml"),
        ]
        with server_process(argv, port, env) as process:
            yield Skms(port, Path(data_dir), process.pid)


def raw_request(method: str, path: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-length"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def send_once(port: int, request: bytes) -> tuple[int, bytes]:
    """One prepared request on a fresh connection: (status, body). For setup, not measurement."""
    return asyncio.run(_send_once(port, request))


async def _send_once(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        status, body, _ = await _read_response(reader)
        return status, body
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the server closes the connection after this answer)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, close = -1, False, head.startswith(b"HTTP/1.0")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = value == b"close"
    if chunked:
        body = bytearray()
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readline()
        while await reader.readline() not in (b"\r\n", b""):
            pass
        return status, bytes(body), close
    if length < 0:
        return status, await reader.read(), True
    return status, await reader.readexactly(length), close


@dataclass(frozen=True)
class Load:
    """One measurement: throughput, latency percentiles, and how busy the client itself was."""

    rate: float  # requests per second
    p50: float  # seconds
    p99: float
    client_cpu: float  # CPU seconds of this (client) process per wall second: 1.0 = one core saturated
    reconnects: float = 0.0  # new connections per request, when the server refuses keep-alive

    @property
    def per_request(self) -> float:
        return 1.0 / self.rate


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _drive(
    port: int, request: bytes, seconds: float, connections: int
) -> tuple[float, list[float], int]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    reconnects = 0
    opened = [await _open(port) for _ in range(connections)]
    deadline = loop.time() + seconds

    async def client(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        nonlocal reconnects
        while loop.time() < deadline:
            started = time.perf_counter()
            if stream is None:  # the server closed the last one: reconnect, as urllib3 would
                stream = await _open(port)
                reconnects += 1
            reader, writer = stream
            writer.write(request)
            status, payload, close = await _read_response(reader)
            if status != 200:
                raise RuntimeError(f"answered {status}: {payload[:200]!r}")
            latencies.append(time.perf_counter() - started)
            if close:
                writer.close()
                stream = None
        if stream is not None:
            stream[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client(stream) for stream in opened))
    return time.perf_counter() - started, latencies, reconnects


def drive(port: int, request: bytes, seconds: float, connections: int = 4) -> Load:
    """Send ``request`` over ``connections`` keep-alive connections for ``seconds``; all must answer 200."""
    cpu = time.process_time()
    elapsed, latencies, reconnects = asyncio.run(_drive(port, request, seconds, connections))
    cpu = time.process_time() - cpu
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    rate = len(latencies) / elapsed
    return Load(rate, statistics.median(latencies), p99, cpu / elapsed, reconnects / len(latencies))


def median_load(loads: list[Load]) -> Load:
    """Median of each figure over rounds."""
    return Load(
        statistics.median(x.rate for x in loads),
        statistics.median(x.p50 for x in loads),
        statistics.median(x.p99 for x in loads),
        statistics.median(x.client_cpu for x in loads),
        statistics.median(x.reconnects for x in loads),
    )


def paired_ratio(
    port: int,
    requests: Mapping[str, bytes],
    *,
    rounds: int,
    seconds: float,
    connections: int,
    target: float,
    label: str = "{}",
) -> float:
    """Two requests (baseline first) sent alike in ``rounds`` pairs whose order alternates, so that
    drift in a shared machine's load falls on both: prints each one's medians and the median of the
    pairs' ratios (second / first) against ``target``, and returns that ratio. ``label`` formats each
    request's name in the table."""
    (base, other), ratios = list(requests), []
    for request in requests.values():  # warm up; drive() raises unless every answer is 200
        drive(port, request, 0.3, connections)
    loads: dict[str, list[Load]] = {name: [] for name in requests}
    for round_number in range(rounds):
        order = [base, other] if round_number % 2 == 0 else [other, base]
        measured = {name: drive(port, requests[name], seconds, connections) for name in order}
        for name, load in measured.items():
            loads[name].append(load)
        ratios.append(measured[other].rate / measured[base].rate)
    width = max(len(label.format(name)) for name in requests)
    for name, rounds_of in loads.items():
        load = median_load(rounds_of)
        print(
            f"  {label.format(name):<{width}} {load.rate:8.0f} req/s   p50 {load.p50 * 1000:6.2f} ms   "
            f"p99 {load.p99 * 1000:6.2f} ms   client cpu {load.client_cpu:.2f}"
        )
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio >= target else "below target"
    print(
        f"  ratio {other}/{base} throughput: {ratio:.3f} (median of {rounds} pairs; "
        f"min {min(ratios):.3f}, max {max(ratios):.3f}; target >= {target}: {verdict})"
    )
    return ratio
