"""The local server against moto's server mode, and against the floor of its own HTTP layer (issue 6).

On this machine, in one run, with one load generator for every side (bench/_common.py: asyncio,
keep-alive connections with TCP_NODELAY, each request prepared once per measurement and sent as is):

- **ours**: `skms serve`, POST create-datakey (``key_spec`` AES_256) under an AES_256 CMK, signed with
  AK/SK (SDK-HMAC-SHA256, §F6) as the Huawei SDK signs it. The authorizer runs and the function
  recomputes the signature over the body on every request (a replayed request is verified in full).
- **moto**: `moto_server`, KMS GenerateDataKey (KeySpec AES_256): the exact bytes boto3 sends, SigV4
  Authorization included, captured from a real boto3 call at the start of each round (moto does not
  verify signatures). moto's server (werkzeug's) closes the connection after every answer, so the
  client reconnects for each request, as urllib3 would.
- **floor**: a no-op route served by the same `skms serve` process: a copy of template.yaml with one
  more function, routed right after create-datakey and guarded by the same Lambda REQUEST authorizer.
  A request to it pays HTTP parsing, routing, the API Gateway event, the authorizer (header checks,
  access-key lookup, its log line) and the response; its handler returns ``{}`` at once. (GET / and
  GET /{version_id} are no floor: they skip the authorizer.)

Both sides are measured twice: with their default logging (skms: a JSON line from the authorizer
and one from the function per request; moto: werkzeug's access line), and with request logs off
(POWERTOOLS_LOG_LEVEL=WARNING; werkzeug's logger at WARNING), written to /dev/null either way. All
six are interleaved in each round; medians of the per-round figures and ratios are printed, with the
targets ours/moto >= 5 and ours/floor >= 0.5.
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ROOT,
    Load,
    Skms,
    drive,
    free_port,
    kms_path,
    median_load,
    raw_request,
    send_once,
    server_process,
    skms_server,
)

# As many connections as the CI machine has cores: the server is one GIL-bound process, and more
# connections add waiting, not throughput (`python bench/peer.py 4` to see it).
ROUNDS, SECONDS, WARMUP, CONNECTIONS = 4, 1.5, 0.5, 2
MODES = {"default logging": False, "request logs off": True}  # name: quiet
NOOP_OPERATION = "bench-noop"
NOOP_HANDLER = '''"""Does nothing: the floor of the emulated API Gateway + authorizer path (bench/peer.py)."""


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json;charset=UTF-8"},
        "body": "{}",
        "isBase64Encoded": False,
    }
'''


def floor_template(directory: Path) -> Path:
    """template.yaml with absolute CodeUris and one no-op POST route right after create-datakey's
    (routes are matched in template order, so both pay the same routing)."""
    from skms.sam_template import load_template

    document = load_template(ROOT / "template.yaml")
    resources: dict[str, Any] = {}
    for logical_id, resource in document["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource["Properties"]
            props["CodeUri"] = str((ROOT / props["CodeUri"]).resolve())
        resources[logical_id] = resource
        if logical_id == "CreateDatakeyFunction":
            noop = copy.deepcopy(resource)
            noop["Properties"]["CodeUri"] = str(directory / "noop")
            noop["Properties"]["Handler"] = "app.lambda_handler"
            (api,) = noop["Properties"]["Events"].values()
            api["Properties"]["Path"] = f"/v1.0/{{project_id}}/kms/{NOOP_OPERATION}"
            resources["BenchNoopFunction"] = noop
    document["Resources"] = resources
    (directory / "noop").mkdir()
    (directory / "noop" / "app.py").write_text(NOOP_HANDLER, encoding="utf-8")
    path = directory / "template.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def moto_argv(port: int, quiet: bool) -> list[str]:
    """`moto_server` itself, or its entry point with werkzeug's access log turned off."""
    options = ["-H", "127.0.0.1", "-p", str(port)]
    if not quiet:
        return [str(Path(sys.executable).with_name("moto_server")), *options]
    script = (
        "import logging, sys; logging.getLogger('werkzeug').setLevel(logging.WARNING); "
        "from moto.server import main; sys.exit(main())"
    )
    return [sys.executable, "-c", script, *options]


class Moto:
    """A `moto_server` with one KMS key, and GenerateDataKey requests exactly as boto3 sends them."""

    def __init__(self, port: int) -> None:
        import boto3

        self.port = port
        self.client = boto3.client(
            "kms",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",  # AWS's documentation example key
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        self.key_id = self.client.create_key()["KeyMetadata"]["KeyId"]
        self._captured: bytes | None = None
        self.client.meta.events.register("before-send.kms.GenerateDataKey", self._capture)

    def _capture(self, request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        headers = {"Host": url.netloc}
        headers.update((k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items())
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        self._captured = raw_request(request.method, url.path or "/", headers, body)

    def generate_data_key_request(self) -> bytes:
        """One real GenerateDataKey call through boto3, freshly SigV4-signed; its request bytes."""
        answer = self.client.generate_data_key(KeyId=self.key_id, KeySpec="AES_256")
        if len(answer["Plaintext"]) != 32 or self._captured is None:
            raise RuntimeError("moto's GenerateDataKey did not answer a 256-bit data key")
        return self._captured


class Side:
    """One logging mode: an `skms serve` with the floor route and a `moto_server`."""

    def __init__(self, stack: ExitStack, template: Path, quiet: bool) -> None:
        self.ours: Skms = stack.enter_context(skms_server(template, log_level="WARNING" if quiet else None))
        moto_port = free_port()
        stack.enter_context(server_process(moto_argv(moto_port, quiet), moto_port, os.environ))
        self.moto = Moto(moto_port)
        status, created = self.ours.call("create-key", {"key_alias": "bench-peer", "key_spec": "AES_256"})
        if status != 200:
            raise RuntimeError(f"create-key answered {status}: {created}")
        self.body = {"key_id": created["key_info"]["key_id"], "key_spec": "AES_256"}

    def requests(self) -> dict[str, tuple[int, bytes]]:
        """Prepared afresh each round, so X-Sdk-Date and X-Amz-Date stay current."""
        return {
            "ours": (self.ours.port, self.ours.signed(kms_path("create-datakey"), self.body)),
            "moto": (self.moto.port, self.moto.generate_data_key_request()),
            "floor": (self.ours.port, self.ours.signed(kms_path(NOOP_OPERATION), self.body)),
        }


def _line(name: str, load: Load) -> str:
    line = (
        f"    {name:<38} {load.rate:6.0f} req/s   p50 {load.p50 * 1e3:6.2f} ms   p99 {load.p99 * 1e3:6.2f} ms"
        f"   client CPU {load.client_cpu:4.0%}"
    )
    return line + (f"   (reconnects: {load.reconnects:.0%} of requests)" if load.reconnects else "")


def run(connections: int = CONNECTIONS, rounds: int = ROUNDS) -> dict[str, float]:
    loads: dict[tuple[str, str], list[Load]] = {}
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        template = floor_template(Path(scratch))
        sides = {mode: Side(stack, template, quiet) for mode, quiet in MODES.items()}
        for side in sides.values():
            for port, request in side.requests().values():
                status, payload = send_once(port, request)
                if status != 200:
                    raise RuntimeError(f"warm-up answered {status}: {payload[:200]!r}")
                drive(port, request, WARMUP, connections)
        for _ in range(rounds):
            for mode, side in sides.items():
                for name, (port, request) in side.requests().items():
                    loads.setdefault((mode, name), []).append(drive(port, request, SECONDS, connections))

    print(
        f"peer benchmark: one asyncio client, {connections} keep-alive connections, "
        f"median of {rounds} interleaved rounds of {SECONDS} s:"
    )
    results: dict[str, float] = {}
    for mode, quiet in MODES.items():
        ours, moto, floor = (loads[mode, name] for name in ("ours", "moto", "floor"))
        peer = statistics.median(o.rate / m.rate for o, m in zip(ours, moto, strict=True))
        base = statistics.median(o.rate / f.rate for o, f in zip(ours, floor, strict=True))
        print(f"  {mode}:")
        print(_line("ours: create-datakey (AK/SK signed)", median_load(ours)))
        print(_line("moto_server: GenerateDataKey (SigV4)", median_load(moto)))
        print(_line("floor: no-op behind the authorizer", median_load(floor)))
        print(f"    ratio ours/moto {peer:5.2f} (target >= 5)   ratio ours/floor {base:5.2f} (target >= 0.5)")
        key = "quiet" if quiet else "default"
        results |= {f"{key}_peer": peer, f"{key}_floor": base}
    return results


if __name__ == "__main__":
    run(*(int(arg) for arg in sys.argv[1:3]))
