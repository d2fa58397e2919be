"""A test-side signer that does what the Huawei SDK does (spec §F6), for building signed events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from skms.auth import request_signing

SIGNED_HEADERS = ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date")


def sign_headers(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    body: bytes,
    project_id: str,
    host: str = "127.0.0.1:3000",
    when: datetime | None = None,
    query: list[tuple[str, str]] | None = None,
) -> dict[str, str]:
    """The headers the SDK would send for this request, Authorization included."""
    headers = {
        "Content-Type": "application/json;charset=utf-8",
        "Host": host,
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "X-Project-Id": project_id,
        "X-Sdk-Date": (when or datetime.now(UTC)).strftime(request_signing.DATE_FORMAT),
    }
    lower = {k.lower(): v for k, v in headers.items()}
    canonical = request_signing.canonical_request(
        method=method,
        raw_path=path,
        query_pairs=query or [],
        headers=lower,
        signed_headers=SIGNED_HEADERS,
        body=body,
    )
    signature = request_signing.sign(
        secret_key.encode(), request_signing.string_to_sign(canonical, lower["x-sdk-date"])
    )
    signed = ";".join(SIGNED_HEADERS)
    parts = f"Access={access_key}, SignedHeaders={signed}, Signature={signature}"
    headers["Authorization"] = f"{request_signing.ALGORITHM} {parts}"
    return headers


def authorized_event(
    operation: str, body: dict[str, Any], *, access_key: str, secret_key: str, project_id: str
) -> dict[str, Any]:
    """A POST to a KMS operation signed now, as its function gets it once the API's REQUEST
    authorizer allowed it (the authorizer's context in the request context)."""
    from skms.api.authorizer import authorizer_handler

    raw = json.dumps(body).encode()
    path = f"/v1.0/{project_id}/kms/{operation}"
    headers = sign_headers(
        access_key=access_key,
        secret_key=secret_key,
        method="POST",
        path=path,
        body=raw,
        project_id=project_id,
    )
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:local:0:api/v1/POST{path}",
        "httpMethod": "POST",
        "path": path,
        "headers": headers,
        "pathParameters": {"project_id": project_id},
        "requestContext": {"path": path, "requestId": str(uuid.uuid4())},
    }
    context = authorizer_handler(event)["context"]
    return {
        **event,
        "body": raw.decode(),
        "requestContext": {**event["requestContext"], "authorizer": context},
    }
