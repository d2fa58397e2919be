"""Turning the two kinds of invocation into one :class:`Invocation`.

1. An API Gateway REST proxy event (``requestContext`` + ``httpMethod``): the project comes from
   the path, the caller's domain from the authorizer context when there is one.
2. A direct invocation by another function (event-driven use, see README)::

       {"project_id": "...", "body": {...}, "domain_id": "... (optional)", "request_id": "... (optional)"}

   Who may invoke is governed by IAM (lambda:InvokeFunction, the function's resource policy);
   the function then accepts only the projects of ``KMS_DIRECT_INVOCATION_PROJECTS`` (off by
   default; see :mod:`skms.api.handler`).

Parsing never decodes the body: an API request's signature is verified over its raw bytes first
(an unauthenticated caller gets 401 whatever it sent), then :meth:`Invocation.request_fields`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.scanner import make_scanner
from typing import Any
from urllib.parse import unquote

from skms import errors

MAX_BODY_BYTES = 64 * 1024
PROJECT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(slots=True)
class Invocation:
    """One request, as the function sees it before authentication: nothing here is decoded from
    the body (the AK/SK signature is verified over ``raw_body`` first, then :meth:`body` decodes).
    Built once per request and never changed (not frozen: a frozen dataclass pays a
    ``object.__setattr__`` per field on every request).

    ``path_params`` (other than project_id) are percent-decoded once here: API Gateway REST passes
    them as they appear in the URL. ``query`` holds API Gateway's already-decoded query parameters:
    a name given once maps to its string, a name given more than once to the list of its values.
    """

    via_api: bool
    request_id: str
    project_id: str
    domain_id: str | None
    raw_body: bytes = b""  # API: exactly as received, for signature verification
    path_params: Mapping[str, str] = field(default_factory=dict)  # other than project_id
    query: Mapping[str, str | list[str]] = field(default_factory=dict)
    # What the body is decoded from: a direct invocation's body (an object, or JSON text); an API
    # request's raw_body, or the event's body text where json.loads reads that text as it reads
    # raw_body (see _raw_bytes), so that the text is not decoded again from raw_body.
    json_source: Any = None

    def body(self) -> Any:
        """The decoded JSON body (KMS.0202 / KMS.0203 when it is not one); for API requests, call it
        only once the request is authenticated."""
        return _decode_json(self.json_source)

    def request_fields(self) -> Any:
        """What the request model validates: the body's fields, then the query parameters, then the
        path parameters, each overriding the one before (a path or query parameter names what the
        URL addresses, and the URL is what the signature and the authorizer saw). A body that is not
        a JSON object is returned as it is, for the model to refuse."""
        body = _decode_json(self.json_source)
        if not (self.query or self.path_params) or not isinstance(body, dict):
            return body
        return {**body, **self.query, **self.path_params}


# What isinstance() checks for "a mapping": a dict first (what events are made of), as its check is
# quick where the Mapping ABC's costs about ten times more, several times per request.
_MAPPING = (dict, Mapping)


# The escape of a surrogate code point (\ud800 to \udfff; JSON's "\u" is lower-case, its hex any case).
_SURROGATE_ESCAPE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


_JSON_WHITESPACE = " \t\n\r"
# The C scanner behind json.loads (JSONDecoder.scan_once); typeshed types its argument too narrowly.
_SCAN = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _loads_text(text: str) -> Any:
    """``json.loads(text)``, ValueError where it raises one: its scanner called directly, without
    JSONDecoder.decode's two regular-expression matches for the whitespace around the value
    (most bodies have none). ``text`` is not empty."""
    start = 0 if text[0] not in _JSON_WHITESPACE else len(text) - len(text.lstrip(_JSON_WHITESPACE))
    try:
        value, end = _SCAN(text, start)
    except StopIteration:
        raise ValueError("Expecting value") from None
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        raise ValueError("Extra data")
    return value


def _decode_json(raw: Any) -> Any:
    if isinstance(raw, (str, bytes)):
        if not raw:
            return {}
        if len(raw) > MAX_BODY_BYTES:
            raise errors.MessageTooLong
        try:
            decoded = _loads_text(raw) if isinstance(raw, str) else json.loads(raw)
        except (ValueError, RecursionError):
            raise errors.InvalidJsonBody from None
        # JSON escapes can smuggle lone surrogates ("\ud800") that no UTF-8 consumer (the crypto
        # encodings, SQLite) accepts: reject them here, once, for every operation (skipped for the
        # bodies that cannot hold one, ASCII without the escape of a surrogate code point, as most
        # bodies: a re-encoding of the decoded value costs as much as the parse). JSON's escape is
        # "\u", lower-case: a body without one needs no search.
        if raw.isascii() and (
            ("\\u" not in raw or not _SURROGATE_ESCAPE_TEXT.search(raw))
            if isinstance(raw, str)
            else (b"\\u" not in raw or not _SURROGATE_ESCAPE_BYTES.search(raw))
        ):
            return decoded
    elif raw is None:
        return {}
    elif isinstance(raw, dict):
        decoded = raw
    else:
        raise errors.InvalidJsonBody
    try:
        json.dumps(decoded, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidJsonBody("The request body contains invalid Unicode.") from None
    except (ValueError, TypeError, RecursionError):
        raise errors.InvalidJsonBody from None
    return decoded


# Project ids found valid: a deployment serves a few projects, each on every request of its own,
# so a set lookup spares the regular expression (bounded: a flood of new ids only refills it).
_VALID_PROJECT_IDS: set[str] = set()
_VALID_PROJECT_IDS_MAX = 4096


def _check_project(project_id: Any) -> str:
    if type(project_id) is str and project_id in _VALID_PROJECT_IDS:
        return project_id
    if not isinstance(project_id, str) or not PROJECT_ID_PATTERN.fullmatch(project_id):
        raise errors.InvalidRequestUrl("Invalid project_id in the request URL.")
    if len(_VALID_PROJECT_IDS) >= _VALID_PROJECT_IDS_MAX:
        _VALID_PROJECT_IDS.clear()
    _VALID_PROJECT_IDS.add(project_id)
    return project_id


def request_id_of(event: Any) -> str:
    """The event's request id (API Gateway's, or a direct invocation's own), else a new one."""
    if isinstance(event, _MAPPING):
        ctx = event.get("requestContext")
        rid = ctx.get("requestId") if isinstance(ctx, _MAPPING) else event.get("request_id")
        if isinstance(rid, str) and 0 < len(rid) <= 128:
            return rid
    return str(uuid.uuid4())


def _decode_path_param(name: str, value: Any) -> str:
    """A path parameter as API Gateway REST passes it (still percent-encoded), decoded once."""
    try:
        return unquote(str(value), errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidRequestUrl(f"Invalid {name} in the request URL.") from None


def _query_of(event: Mapping[str, Any]) -> dict[str, str | list[str]]:
    multi = event.get("multiValueQueryStringParameters")
    if multi and isinstance(multi, _MAPPING):
        return {
            str(name): (str(values[0]) if len(values) == 1 else [str(v) for v in values])
            for name, values in multi.items()
            if isinstance(values, list) and values
        }
    single = event.get("queryStringParameters")
    return {str(k): str(v) for k, v in single.items()} if single and isinstance(single, _MAPPING) else {}


def _raw_bytes(event: Mapping[str, Any]) -> tuple[bytes, str | bytes]:
    """The body's bytes, and what to decode it from (:func:`_decode_json`): the bytes, or the text
    they encode where json.loads reads the text as it reads the bytes. json.loads decodes bytes by
    their first bytes (json.detect_encoding): a UTF-8 BOM, or a NUL among the first two bytes (a
    NUL among the first two characters), selects another codec; otherwise the bytes are decoded
    back to the very text. A body over the limit is decoded from its bytes, which it is measured in."""
    raw = event.get("body")
    if event.get("isBase64Encoded") and isinstance(raw, str):
        try:
            raw_body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidJsonBody from None
        return raw_body, raw_body
    if isinstance(raw, str):
        raw_body = raw.encode("utf-8", "surrogatepass")
        same = not raw.startswith("\ufeff") and "\x00" not in raw[:2] and len(raw_body) <= MAX_BODY_BYTES
        return raw_body, raw if same else raw_body
    raw_body = raw if isinstance(raw, bytes) else b""
    return raw_body, raw_body


def parse_invocation(event: Any, *, project_scoped: bool = True, request_id: str | None = None) -> Invocation:
    """The request, without decoding its body (see :class:`Invocation`). ``request_id``: the one
    :func:`request_id_of` gave for this event, if the caller has it."""
    if not isinstance(event, _MAPPING):
        raise errors.InvalidRequestFormat("The event must be a JSON object.")
    rid = request_id_of(event) if request_id is None else request_id
    if "requestContext" in event and "httpMethod" in event:
        path_params = event.get("pathParameters") or {}
        project_id = _check_project(path_params.get("project_id")) if project_scoped else ""
        authorizer = event["requestContext"].get("authorizer") or {}
        domain = authorizer.get("domain_id") if isinstance(authorizer, _MAPPING) else None
        others = (
            {str(k): _decode_path_param(str(k), v) for k, v in path_params.items() if k != "project_id"}
            if len(path_params) > 1 or "project_id" not in path_params
            else {}
        )
        raw_body, json_source = _raw_bytes(event)
        return Invocation(
            via_api=True,
            request_id=rid,
            project_id=project_id,
            domain_id=domain if isinstance(domain, str) else None,
            raw_body=raw_body,
            path_params=others,
            query=_query_of(event),
            json_source=json_source,
        )
    domain = event.get("domain_id")
    return Invocation(
        via_api=False,
        request_id=rid,
        project_id=_check_project(event.get("project_id")) if project_scoped else "",
        domain_id=domain if isinstance(domain, str) else None,
        json_source=event.get("body"),
    )
