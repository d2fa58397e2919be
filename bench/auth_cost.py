"""What authentication costs per request, against the function it guards (create-datakey).

In one process, on the SQLite store with warm caches (a warm Lambda), interleaved rounds of:
- the authorizer (AK/SK request: parse, access-key lookup, date and project checks),
- the function-side signature check over the body (``verify_request``),
- the create-datakey function itself, invoked directly (no authentication).
Prints medians per call and the ratio (authorizer + signature check) / function.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS, CALLS = 7, 300
PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"


def _per_call(fn: object, calls: int = CALLS) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - started) / calls


def run() -> float:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # measure the work, not the log lines
    from skms.api.authorizer import authorizer_handler
    from skms.auth.authorizer import verify_request
    from skms.auth.principals import create_access_key
    from skms.config import Settings
    from skms.runtime import build_services, set_services
    from skms.sam_template import load_handler, routes_from_template
    from tests.support.signer import sign_headers

    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=Path(data_dir), direct_invocation_projects=PROJECT))
        set_services(services)
        ak, sk = "AKBENCHAKBENCHAKBENC", "bench-secret-key-bench-secret-key-000000"
        create_access_key(services, domain_id="d" * 32, project_ids=(PROJECT,), access_key=ak, secret_key=sk)
        handlers = {r.code_uri.name: load_handler(r) for r in routes_from_template(ROOT / "template.yaml")}
        created = handlers["create_key"]({"project_id": PROJECT, "body": {"key_alias": "bench"}}, None)
        key_id = created["key_info"]["key_id"]
        body = json.dumps({"key_id": key_id, "datakey_length": "256"}).encode()
        path = f"/v1.0/{PROJECT}/kms/create-datakey"
        headers = sign_headers(
            access_key=ak, secret_key=sk, method="POST", path=path, body=body, project_id=PROJECT
        )
        event = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:local:0:api/v1/POST{path}",
            "httpMethod": "POST",
            "path": path,
            "headers": headers,
            "pathParameters": {"project_id": PROJECT},
            "requestContext": {"path": path, "requestId": "bench"},
        }
        context = authorizer_handler(event)["context"]
        function_event = {**event, "requestContext": {**event["requestContext"], "authorizer": context}}
        direct = {"project_id": PROJECT, "body": json.loads(body)}
        create_datakey = handlers["create_datakey"]

        samples: dict[str, list[float]] = {"authorizer": [], "signature": [], "function": []}
        for _ in range(ROUNDS):
            samples["authorizer"].append(_per_call(lambda: authorizer_handler(event)))
            samples["signature"].append(_per_call(lambda: verify_request(function_event, body, services)))
            samples["function"].append(_per_call(lambda: create_datakey(direct, None)))
        set_services(None)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = (medians["authorizer"] + medians["signature"]) / medians["function"]
    print(f"authentication cost per request, median of {ROUNDS} interleaved rounds of {CALLS} calls:")
    print(f"  {'authorizer (AK/SK checks)':<34} {medians['authorizer'] * 1e6:8.1f} us")
    print(f"  {'function-side signature check':<34} {medians['signature'] * 1e6:8.1f} us")
    print(f"  {'create-datakey function':<34} {medians['function'] * 1e6:8.1f} us")
    print(f"  ratio (authorizer + signature) / function: {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    run()
