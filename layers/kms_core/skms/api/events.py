"""Turning the two kinds of invocation into one :class:`Invocation`.

1. An API Gateway REST proxy event (``requestContext`` + ``httpMethod``): the project comes from
   the path, the caller's domain from the authorizer context when there is one.
2. A direct invocation by another function (event-driven use, see README)::

       {"project_id": "...", "body": {...}, "domain_id": "... (optional)", "request_id": "... (optional)"}

   Access to a direct invocation is governed by IAM (lambda:InvokeFunction), so it is trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skms import errors

MAX_BODY_BYTES = 64 * 1024
PROJECT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Invocation:
    via_api: bool
    request_id: str
    project_id: str
    domain_id: str | None
    body: Any
    raw_body: bytes = b""  # exactly as received, for signature verification
    path_params: dict[str, str] = field(default_factory=dict)  # other than project_id


def _request_id(event: Mapping[str, Any]) -> str:
    ctx = event.get("requestContext")
    rid = ctx.get("requestId") if isinstance(ctx, Mapping) else event.get("request_id")
    return rid if isinstance(rid, str) and 0 < len(rid) <= 128 else str(uuid.uuid4())


# The escape of a surrogate code point (\ud800 to \udfff; JSON's "\u" is lower-case, its hex any case).
_SURROGATE_ESCAPE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _surrogate_free(raw: str | bytes) -> bool:
    """True when ``raw`` certainly decodes to no lone surrogate: ASCII text without the escape of
    a surrogate code point (most bodies); False means "check the decoded value"."""
    if isinstance(raw, str):
        return raw.isascii() and not _SURROGATE_ESCAPE_TEXT.search(raw)
    return raw.isascii() and not _SURROGATE_ESCAPE_BYTES.search(raw)


def _decode_json(raw: Any) -> Any:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        decoded: Any = raw
    elif isinstance(raw, str | bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise errors.MessageTooLong
        try:
            decoded = json.loads(raw)
        except (ValueError, RecursionError):
            raise errors.InvalidJsonBody from None
    else:
        raise errors.InvalidJsonBody
    # JSON escapes can smuggle lone surrogates ("\ud800") that no UTF-8 consumer (the crypto
    # encodings, SQLite) accepts: reject them here, once, for every operation (skipped for the
    # bodies that cannot hold one: a re-encoding of the decoded value costs as much as the parse).
    if isinstance(raw, str | bytes) and _surrogate_free(raw):
        return decoded
    try:
        json.dumps(decoded, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidJsonBody("The request body contains invalid Unicode.") from None
    except (ValueError, TypeError, RecursionError):
        raise errors.InvalidJsonBody from None
    return decoded


def _check_project(project_id: Any) -> str:
    if not isinstance(project_id, str) or not PROJECT_ID_PATTERN.fullmatch(project_id):
        raise errors.InvalidRequestUrl("Invalid project_id in the request URL.")
    return project_id


def request_id_of(event: Any) -> str:
    return _request_id(event) if isinstance(event, Mapping) else str(uuid.uuid4())


def parse_invocation(event: Any, *, project_scoped: bool = True) -> Invocation:
    if not isinstance(event, Mapping):
        raise errors.InvalidRequestFormat("The event must be a JSON object.")
    rid = _request_id(event)
    if "requestContext" in event and "httpMethod" in event:
        path_params = event.get("pathParameters") or {}
        project_id = _check_project(path_params.get("project_id")) if project_scoped else ""
        raw = event.get("body")
        if event.get("isBase64Encoded") and isinstance(raw, str):
            try:
                raw = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise errors.InvalidJsonBody from None
        raw_bytes = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else (raw or b"")
        authorizer = event["requestContext"].get("authorizer") or {}
        domain = authorizer.get("domain_id") if isinstance(authorizer, Mapping) else None
        others = {str(k): str(v) for k, v in path_params.items() if k != "project_id"}
        return Invocation(
            True,
            rid,
            project_id,
            domain if isinstance(domain, str) else None,
            _decode_json(raw),
            raw_bytes,
            others,
        )
    domain = event.get("domain_id")
    return Invocation(
        False,
        rid,
        _check_project(event.get("project_id")) if project_scoped else "",
        domain if isinstance(domain, str) else None,
        _decode_json(event.get("body")),
    )
