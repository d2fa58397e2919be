"""``endpoint()`` builds a Lambda handler from a request model and one logic function.

Errors: a :class:`KmsError` is rendered with its status and §F2 body; anything else is logged
(type and traceback only, never the event) and answered 500 KMS.0101 without details.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from skms import errors
from skms.api.events import Invocation, parse_invocation, request_id_of
from skms.logic.common import Caller
from skms.models.base import WireModel, parse_body
from skms.observability import logger
from skms.runtime import Services, get_services

Req = TypeVar("Req", bound=WireModel)
LogicFn = Callable[[Req, Caller, Services], BaseModel | None]
Handler = Callable[[Any, Any], dict[str, Any]]

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


def _api_response(status: int, body: dict[str, Any] | None, request_id: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON_CONTENT_TYPE, "X-Request-Id": request_id},
        "body": "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _render(via_api: bool, status: int, body: dict[str, Any] | None, request_id: str) -> dict[str, Any]:
    """API events get a proxy response; direct invocations get the same JSON body as a dict."""
    if via_api:
        return _api_response(status, body, request_id)
    return body if body is not None else {}


def endpoint(
    operation: str, request_model: type[Req], logic: LogicFn[Req], success_status: int = 200
) -> Handler:
    def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
        started = time.perf_counter()
        invocation: Invocation | None = None
        request_id = request_id_of(event)
        log: dict[str, Any] = {"operation": operation, "request_id": request_id}
        try:
            invocation = parse_invocation(event)
            services = get_services()
            caller = Caller(
                project_id=invocation.project_id,
                domain_id=invocation.domain_id or services.settings.domain_id,
                request_id=invocation.request_id,
            )
            log["project_id"] = caller.project_id
            body = parse_body(request_model, invocation.body)
            key_id = getattr(body, "key_id", None)
            if isinstance(key_id, str):
                log["key_id"] = key_id
            result = logic(body, caller, services)
            created = getattr(getattr(result, "key_info", None), "key_id", None)
            if isinstance(created, str):
                log["key_id"] = created
            payload = None if result is None else result.model_dump(mode="json", exclude_none=True)
            status = success_status
        except errors.KmsError as exc:
            status, payload = exc.status, exc.body()
            log["error_code"] = exc.code
        except Exception:
            logger.exception("unhandled error", extra={**log, "outcome": "error"})
            status, payload = 500, errors.InternalError().body()
            log["error_code"] = errors.InternalError.code
        log.update(
            status=status,
            outcome="ok" if status < 400 else "rejected",
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        logger.info("request", extra=log)
        via_api = invocation.via_api if invocation is not None else _looks_like_api(event)
        return _render(via_api, status, payload, request_id)

    lambda_handler.__name__ = f"{operation.replace('-', '_')}_handler"
    return lambda_handler


def _looks_like_api(event: Any) -> bool:
    return isinstance(event, dict) and "httpMethod" in event
