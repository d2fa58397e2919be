"""encrypt-data / decrypt-data throughput of the local server (`skms serve`), over real HTTP.

Starts `skms serve` on a free loopback port with a fresh data dir, gets a token, and drives each
operation for a fixed time from a small pool of keep-alive client threads (http.client), in one run.
Prints requests per second and p50/p99 latency. Absolute figures depend on the machine; the
ratio decrypt/encrypt is printed beside them.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKMS = Path(sys.executable).with_name("skms")
SECONDS, CLIENTS = 3.0, 4
PROJECT = "bench-project"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection with TCP_NODELAY, as urllib3 (the SDK's transport) sets it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, body: object, token: str
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json", "X-Auth-Token": token}
    conn.request(method, path, body=data, headers=headers)
    reply = conn.getresponse()
    payload = reply.read()
    return reply.status, (json.loads(payload) if payload else {})


def _drive(port: int, token: str, path: str, body: object) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + SECONDS

    def client() -> None:
        conn = _connect(port)
        mine = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, _ = _request(conn, "POST", path, body, token)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), latencies


def _token(port: int, data_dir: str, env: dict[str, str]) -> str:
    subprocess.run(
        [
            *(str(SKMS), "user", "create", "--name", "bench", "--project-id", PROJECT),
            *("--policy", "KMS Administrator", "--data-dir", data_dir),  # IAM users need a policy
        ],
        input="bench-password-123\n",
        text=True,
        check=True,
        capture_output=True,
        env=env,
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "bench", "password": "bench-password-123", "domain": {"name": "0" * 32}}
                },
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }
    conn.request(
        "POST", "/v3/auth/tokens", body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    reply = conn.getresponse()
    reply.read()
    token = reply.getheader("X-Subject-Token")
    if reply.status != 201 or not token:
        raise RuntimeError(f"token endpoint answered {reply.status}")
    return token


def run() -> dict[str, float]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "KMS_DATA_DIR": data_dir}
        env.pop("HUAWEICLOUD_SDK_AK", None)
        server = subprocess.Popen(
            [str(SKMS), "serve", "--port", str(port), "--template", str(ROOT / "template.yaml")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            token = _token(port, data_dir, env)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            base = f"/v1.0/{PROJECT}/kms"
            _, created = _request(conn, "POST", f"{base}/create-key", {"key_alias": "bench"}, token)
            key_id = created["key_info"]["key_id"]
            plain = "x" * 256
            _, encrypted = _request(
                conn, "POST", f"{base}/encrypt-data", {"key_id": key_id, "plain_text": plain}, token
            )
            conn.close()
            results = {}
            print(
                f"local server throughput, {CLIENTS} keep-alive clients, {SECONDS:.0f} s each, 256-byte text:"
            )
            for name, path, body in (
                ("encrypt-data", f"{base}/encrypt-data", {"key_id": key_id, "plain_text": plain}),
                ("decrypt-data", f"{base}/decrypt-data", {"cipher_text": encrypted["cipher_text"]}),
            ):
                rate, latencies = _drive(port, token, path, body)
                latencies.sort()
                p99 = latencies[int(len(latencies) * 0.99) - 1]
                results[name] = rate
                print(
                    f"  {name:<14} {rate:8.0f} req/s   p50 {statistics.median(latencies) * 1e3:6.2f} ms"
                    f"   p99 {p99 * 1e3:6.2f} ms"
                )
            print(f"  ratio decrypt/encrypt: {results['decrypt-data'] / results['encrypt-data']:.2f}")
            return results
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    run()
