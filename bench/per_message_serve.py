"""Per-message keys (issue 14) as a user feels them: encrypt-data through `skms serve`, v2 vs v1.

Two `skms serve` processes side by side, in one run, each with its own data dir and one AES_256
and one SM4 key:

- **v2**: `skms serve` as shipped: every encrypt-data derives a message key (fresh salt, HKDF with
  SHA-256 or SM3) and seals blob body version 2.
- **v1**: the same `skms serve`, started through a launcher that swaps ``blob.seal`` for the retired
  v1 writer (GCM directly under the CMK material, ``blob._seal_v1_with_nonce``) before it serves.
  There is no switch for v1 at encrypt time in the product (nor should there be): this launcher is
  the bench's only way to write it. Each side is checked to write its own body version.

The load is bench/_common.py's: AK/SK-signed POST encrypt-data (a 1 KiB text), 2 keep-alive
connections, the server's default logging (a JSON line from the authorizer and one from the
function per request, to /dev/null). v1 and v2 alternate within each round (the order swapped per
round); the figure is the median over rounds of v2 / v1 throughput, with the spread of the rounds
(1.0 = per-message keys cost nothing; the target is >= 0.9).
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Load, Skms, drive, kms_path, median_load, send_once, skms_server

ROUNDS, SECONDS, WARMUP, CONNECTIONS = 6, 1.5, 0.5, 2
SPECS = ("AES_256", "SM4")
TEXT = "x" * 1024

# `skms serve` with the retired v1 blob writer in place of blob.seal; arguments follow.
V1_LAUNCHER = [
    sys.executable,
    "-c",
    "import os, sys\n"
    "from skms.crypto import aead, blob\n"
    "def _seal_v1(**fields):\n"
    "    return blob._seal_v1_with_nonce(**fields, nonce=os.urandom(aead.NONCE_LEN))\n"
    "blob.seal = _seal_v1\n"
    "from skms.cli import main\n"
    "sys.exit(main())\n",
]


def _key(server: Skms, spec: str) -> str:
    status, created = server.call("create-key", {"key_alias": f"bench-{spec}", "key_spec": spec})
    if status != 200:
        raise RuntimeError(f"create-key answered {status}: {created}")
    return str(created["key_info"]["key_id"])


def _request(server: Skms, key_id: str, version: int) -> bytes:
    """A signed encrypt-data request; checked to answer a blob of body ``version``."""
    request = server.signed(kms_path("encrypt-data"), {"key_id": key_id, "plain_text": TEXT})
    status, payload = send_once(server.port, request)
    if status != 200:
        raise RuntimeError(f"encrypt-data answered {status}: {payload[:200]!r}")
    written = base64.b64decode(json.loads(payload)["cipher_text"])[4]
    if written != version:
        raise RuntimeError(f"the v{version} server wrote blob body version {written}")
    return request


def run(rounds: int = ROUNDS) -> float:
    loads: dict[tuple[str, int], list[Load]] = {}
    with ExitStack() as stack:
        servers = {
            2: stack.enter_context(skms_server()),
            1: stack.enter_context(skms_server(launcher=V1_LAUNCHER)),
        }
        keys = {(spec, v): _key(server, spec) for spec in SPECS for v, server in servers.items()}
        for (_spec, version), key_id in keys.items():
            drive(servers[version].port, _request(servers[version], key_id, version), WARMUP, CONNECTIONS)
        for round_ in range(rounds):
            for spec in SPECS:
                for version in (1, 2) if round_ % 2 == 0 else (2, 1):
                    server = servers[version]
                    request = _request(server, keys[spec, version], version)
                    loads.setdefault((spec, version), []).append(
                        drive(server.port, request, SECONDS, CONNECTIONS)
                    )
    print(
        f"per-message keys through skms serve: encrypt-data (1 KiB text), {CONNECTIONS} keep-alive "
        f"connections, default logging, median of {rounds} interleaved rounds of {SECONDS} s:"
    )
    worst = float("inf")
    for spec in SPECS:
        v1, v2 = loads[spec, 1], loads[spec, 2]
        ratios = sorted(b.rate / a.rate for a, b in zip(v1, v2, strict=True))
        ratio = statistics.median(ratios)
        worst = min(worst, ratio)
        m1, m2 = median_load(v1), median_load(v2)
        print(
            f"    {spec:<8} v1 {m1.rate:6.0f} req/s (p50 {m1.p50 * 1e3:5.2f} ms)   "
            f"v2 {m2.rate:6.0f} req/s (p50 {m2.p50 * 1e3:5.2f} ms)   "
            f"v2/v1 {ratio:4.2f} (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}; target >= 0.9)"
        )
    return worst


if __name__ == "__main__":
    run(*(int(arg) for arg in sys.argv[1:2]))
