"""``events/<function>/api.json`` generated from ``direct.json`` and template.yaml's route.

A direct invocation (``{"project_id": ..., "body": {...}}``) holds everything that differs from one
function's sample to the next; the route (method, resource path, authorizer) comes from the
template. The API Gateway REST proxy event around them is the same for every function: the
headers the Huawei Cloud Python SDK sends, a token request already allowed by the Lambda
authorizer (its context in ``requestContext.authorizer``) unless the route is public. So the
``api.json`` files are written by ``skms events --write`` (``make events``) and checked by
``skms events --check`` and tests/unit/test_sample_events.py; events/README.md describes the
values.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skms.sam_template import Route, routes_from_template

STAGE = "v1"
API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
REQUEST_TIME = "01/Jan/2025:12:00:00 +0000"
REQUEST_TIME_EPOCH_MS = 1735732800000
SDK_DATE = "20250101T120000Z"
SDK_USER_AGENT = "huaweicloud-usdk-python/3.0"
CLIENT_IP = "203.0.113.10"
# A well-formed skms2 token (key 1) for alice, MAC'd with an all-zero key: no deployment accepts it
# (events/README.md, Placeholders).
PLACEHOLDER_TOKEN = "skms2.1.eyJ2IjoyLCJkb20iOiI1ZDhjMmE0ZjllMWI0N2MzYTZkMGYyZThiNGMxYTkzNyIsImRubSI6ImV4YW1wbGUtZG9tYWluIiwicHJqIjoiMGIxZTVjOWU4ZjlhNGQyYzlkM2U0ZjVhNmI3YzhkOWUiLCJ1c3IiOiJhbGljZSIsInVpZCI6IjdhM2M5ZTFmNWIyZDQ4YTZjMGU0ZjhiMWQzYTVjN2U5IiwiZXAiOjAsImlhdCI6MTczNTczMjgwMCwiZXhwIjoxNzM1ODE5MjAwLCJqdGkiOiIwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCJ9.UNP9OtTP89Hgtt--QmZxfCpMQ9v4Yd5KmIsnPimwBPg"  # noqa: S105, E501 - a sample no deployment accepts
SAMPLE_USER = "alice"
SAMPLE_USER_ID = "7a3c9e1f5b2d48a6c0e4f8b1d3a5c7e9"  # alice's IAM user id (the token's "uid")
SAMPLE_DOMAIN_ID = "5d8c2a4f9e1b47c3a6d0f2e8b4c1a937"
# IAM's token endpoint is called with a plain HTTP client, not the KMS SDK.
_IAM_TOKENS_PATH = "/v3/auth/tokens"
_IAM_CLIENT_HEADERS = {
    "Content-Type": "application/json;charset=utf8",
    "User-Agent": "python-requests/2.32.3",
}

_PATH_PARAMETER = re.compile(r"\{([^}+]+)\+?\}")


class SampleEventError(ValueError):
    """A direct.json that cannot stand for a request of its route."""


@dataclass(frozen=True)
class SampleEvent:
    function: str  # the CodeUri directory name, also the events/ directory name
    path: Path  # events/<function>/api.json
    text: str  # what api.json should hold


def _request_id(function: str) -> str:
    """A fixed request id per function (distinct, stable across runs)."""
    return f"c0ffee00-1111-4a2b-9c3d-{hashlib.sha256(function.encode()).hexdigest()[:12]}"


def _headers(route: Route, authenticated: bool) -> dict[str, str]:
    headers = {
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",
        "Content-Type": "application/json;charset=utf-8",
        "Host": HOST,
        "User-Agent": SDK_USER_AGENT,
        "X-Amzn-Trace-Id": "Root=1-67752d00-c0ffee0011114a2b9c3d0000",
        "X-Forwarded-For": CLIENT_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "X-Sdk-Date": SDK_DATE,
    }
    if route.path == _IAM_TOKENS_PATH:
        headers.update(_IAM_CLIENT_HEADERS)
        del headers["X-Sdk-Date"]
    if authenticated:
        headers["X-Auth-Token"] = PLACEHOLDER_TOKEN
    return dict(sorted(headers.items()))


def _split_direct(route: Route, direct: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """The path parameters (``project_id`` from the invocation, the others from its body) and
    the body without them."""
    body = direct.get("body")
    if not isinstance(body, dict):
        raise SampleEventError("direct.json has no object body")
    body = dict(body)
    parameters: dict[str, str] = {}
    for name in _PATH_PARAMETER.findall(route.path):
        value = direct.get("project_id") if name == "project_id" else body.pop(name, None)
        if not isinstance(value, str) or not value:
            raise SampleEventError(f"direct.json gives no {name} for {route.path}")
        parameters[name] = value
    return parameters, body


def api_event(route: Route, direct: dict[str, Any]) -> dict[str, Any]:
    """The API Gateway REST proxy event of the request that ``direct`` stands for."""
    parameters, body = _split_direct(route, direct)
    path = _PATH_PARAMETER.sub(lambda found: parameters[found[1]], route.path)
    authenticated = route.authorizer is not None
    headers = _headers(route, authenticated)
    if authenticated:
        headers["X-Project-Id"] = parameters["project_id"]
        headers = dict(sorted(headers.items()))
    request_context: dict[str, Any] = {
        "resourceId": "x7k2p9",
        "resourcePath": route.path,
        "httpMethod": route.method,
        "extendedRequestId": "Dq3v8Fx1IAMEbXw=",
        "requestTime": REQUEST_TIME,
        "path": f"/{STAGE}{path}",
        "accountId": "123456789012",
        "protocol": "HTTP/1.1",
        "stage": STAGE,
        "domainPrefix": API_ID,
        "requestTimeEpoch": REQUEST_TIME_EPOCH_MS,
        "requestId": _request_id(route.code_uri.name),
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": CLIENT_IP,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": headers["User-Agent"],
            "user": None,
        },
    }
    if authenticated:
        # What API Gateway passes on from the authorizer for an allowed X-Auth-Token request.
        request_context["authorizer"] = {
            "principalId": SAMPLE_USER,
            "integrationLatency": 27,
            "auth_method": "token",
            "principal_id": SAMPLE_USER,
            "domain_id": SAMPLE_DOMAIN_ID,
            "project_id": parameters["project_id"],
            "user": SAMPLE_USER,
            "project_allowed": "true",
            "user_id": SAMPLE_USER_ID,
        }
    request_context.update(domainName=HOST, deploymentId="k3m9q1", apiId=API_ID)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": route.method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        # Serialised as the SDK serialises it (json.dumps' default separators); GETs carry none.
        "body": None if route.method == "GET" else json.dumps(body),
        "isBase64Encoded": False,
    }


def render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def sample_events(template_path: Path, events_dir: Path) -> list[SampleEvent]:
    """The api.json of every routed function whose events directory has a direct.json."""
    found = []
    for route in sorted(routes_from_template(template_path), key=lambda route: route.code_uri.name):
        function = route.code_uri.name
        direct_path = events_dir / function / "direct.json"
        if not direct_path.is_file():
            continue
        direct = json.loads(direct_path.read_text(encoding="utf-8"))
        try:
            text = render(api_event(route, direct))
        except SampleEventError as exc:
            raise SampleEventError(f"{direct_path}: {exc}") from None
        found.append(SampleEvent(function, events_dir / function / "api.json", text))
    return found


def stale(events: list[SampleEvent]) -> list[Path]:
    """The api.json files whose content differs from what the generator writes (or are missing)."""
    return [
        event.path
        for event in events
        if not event.path.is_file() or event.path.read_text(encoding="utf-8") != event.text
    ]
