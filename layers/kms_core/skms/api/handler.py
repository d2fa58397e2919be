"""``endpoint()`` builds a Lambda handler from a request model and one logic function.

Order of work for every request: parse the event, authenticate (API requests: the authorizer's
context, completed here by the AK/SK signature check over the raw body; direct invocations are
authorised by IAM, and only for the projects of ``KMS_DIRECT_INVOCATION_PROJECTS``), validate the
body into the model, call the logic (at most once per signed request, ``KMS_REPLAY_PROTECTION``,
and per ``sequence``: :mod:`skms.idempotency`), render.

Errors: a :class:`KmsError` is rendered with its status and §F2 body; a failing dependency
(storage, root key) as KMS.0102 / KMS.0104; anything else is logged (type and traceback only,
never the event) and answered 500 KMS.0101 without details.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel

from skms import errors
from skms.api.events import Invocation, parse_invocation, request_id_of
from skms.auth.authorizer import request_fingerprint, verify_request
from skms.caller import AuthMethod, Caller, Identity
from skms.iam.decide import authorize_request
from skms.logic.default_keys import is_default_alias, resolve_default_key
from skms.models.base import WireModel, parse_body
from skms.observability import log_request, logger
from skms.root_keys.aws_kms import RootKeyUnavailable
from skms.runtime import Services, get_services
from skms.storage.port import StorageFailure

Req = TypeVar("Req", bound=WireModel)
LogicFn = Callable[[Req, Caller, Services], BaseModel | None]
Handler = Callable[[Any, Any], dict[str, Any]]

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
# What json.dumps(body, ensure_ascii=False, separators=(",", ":")) builds on every call, built once.
_JSON_BODY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _api_response(
    status: int, body: dict[str, Any] | None, request_id: str, extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The proxy response. An answer without a body (logic returned None, or a 204) has no
    Content-Type and an empty body: the SDK reads any status below 400 with an empty body as an
    empty model (spec §F7)."""
    if status == HTTPStatus.NO_CONTENT:
        body = None
    headers = {"X-Request-Id": request_id, **(extra_headers or {})}
    if body is not None:
        headers["Content-Type"] = JSON_CONTENT_TYPE
    return {
        "statusCode": status,
        "headers": headers,
        "body": "" if body is None else _JSON_BODY.encode(body),
        "isBase64Encoded": False,
    }


def _attribute(model: object, name: str) -> Any:
    """``getattr(model, name, None)``, without pydantic's ``__getattr__`` for a name its class does
    not have (an AttributeError raised and caught per request). Extra fields, where a model
    allows them, are looked up as before."""
    if (
        isinstance(model, BaseModel)
        and name not in type(model).model_fields
        and not hasattr(type(model), name)
        and not model.__pydantic_extra__
    ):
        return None
    return getattr(model, name, None)


def _headers_of(result: BaseModel | None) -> dict[str, str]:
    """Response headers a result model asks for (e.g. X-Subject-Token), via ``response_headers()``."""
    # Looked up on the class: a failed getattr on a pydantic instance costs an exception per request.
    method = getattr(type(result), "response_headers", None)
    return dict(method(result)) if callable(method) and result is not None else {}


Rendered = tuple[dict[str, Any] | None, dict[str, str]]  # (JSON body, extra response headers)


class _Endpoint:
    """One function's handler: parse, authenticate, validate, (idempotently) call logic, render."""

    def __init__(  # noqa: PLR0917 - built once per function by endpoint()
        self,
        operation: str,
        request_model: type[Req],
        logic: LogicFn[Req],
        success_status: int,
        public: bool,
        idempotent: bool,
        default_keys: bool,
    ) -> None:
        self.operation = operation
        self.request_model = request_model
        self.logic = logic
        self.success_status = success_status
        self.public = public
        self.idempotent = idempotent
        self.default_keys = default_keys
        self._idempotency: tuple[Services, Any] | None = None
        self._replay: tuple[Services, Any] | None = None

    def _idempotency_for(self, services: Services) -> Any:
        # Imported and built on first use (most requests carry no sequence, and cold starts stay
        # lean), for the services in force: the store the answers are remembered in follows them.
        if self._idempotency is None or self._idempotency[0] is not services:
            from skms.idempotency import Idempotency, build_persistence

            self._idempotency = (services, Idempotency(self.operation, build_persistence(services.settings)))
        return self._idempotency[1]

    def _replay_guard_for(self, services: Services) -> Any:
        """The replay guard in force (``KMS_REPLAY_PROTECTION``), or None. State-changing
        operations (``idempotent``: their answers hold no secret) replay their first answer; with
        "all", every other operation refuses a replay (its answer may hold a secret)."""
        mode = services.settings.replay_protection
        if mode == "off" or (mode == "state-changing" and not self.idempotent):
            return None
        if self._replay is None or self._replay[0] is not services:
            from skms.idempotency import ReplayGuard, build_persistence

            guard = ReplayGuard(
                self.operation,
                build_persistence(services.settings, replay_records=True),
                answers=self.idempotent,
            )
            self._replay = (services, guard)
        return self._replay[1]

    def _caller(self, event: Any, invocation: Invocation, services: Services, log: dict[str, Any]) -> Caller:
        """Who calls: an API request is authenticated here, over its raw body (§F6), before
        anything is decoded from it; a direct invocation was authorised by IAM."""
        if invocation.via_api and not self.public:
            principal = verify_request(event, invocation.raw_body, services)
            log["principal_id"] = principal.principal_id
            log["auth_method"] = principal.method
            return Caller(
                project_id=invocation.project_id,
                domain_id=principal.domain_id,
                request_id=invocation.request_id,
                principal=principal.identity(),
                operation=self.operation,
            )
        if not self.public and invocation.project_id not in services.settings.direct_projects:
            # Opt-in per deployment (template parameter DirectInvocationProjects), per project.
            raise errors.AccessDenied("Direct invocations are not enabled for this project.")
        domain_id = invocation.domain_id or services.settings.domain_id
        return Caller(
            project_id=invocation.project_id,
            domain_id=domain_id,
            request_id=invocation.request_id,
            principal=Identity.direct(domain_id),
            operation=self.operation,
        )

    def run(self, event: Any, context: Any, log: dict[str, Any]) -> tuple[Invocation, Rendered]:
        """Errors propagate to the handler, which renders them."""
        invocation = parse_invocation(event, project_scoped=not self.public)
        log["project_id"] = invocation.project_id
        services = get_services()
        caller = self._caller(event, invocation, services, log)
        # Only now, authenticated, is the body decoded (a bad signature is 401 whatever the body).
        raw_body = invocation.request_fields()
        if (
            self.default_keys
            and not invocation.via_api
            and isinstance(raw_body, dict)
            and is_default_alias(raw_body.get("key_id"))
        ):
            # Event-driven use by another service: "<service>/default" names (and on first use
            # creates) that service's default key in the project.
            raw_body = {**raw_body, "key_id": resolve_default_key(services, caller, raw_body["key_id"])}
        body = parse_body(self.request_model, raw_body)
        # Operations on no key are authorised here, once, before their logic (those on a key are
        # authorised by the gate, per key they open): skms.iam.decide.
        authorize_request(services, caller, body)
        key_id = _attribute(body, "key_id")
        if isinstance(key_id, str):
            log["key_id"] = key_id

        def work() -> dict[str, Any]:
            result = self.logic(body, caller, services)
            created = _attribute(_attribute(result, "key_info"), "key_id")
            if isinstance(created, str):
                log["key_id"] = created
            payload = None if result is None else result.model_dump(mode="json", exclude_none=True)
            return {"payload": payload, "headers": _headers_of(result)}

        sequence = _attribute(body, "sequence")

        def once_per_sequence() -> dict[str, Any]:
            if self.idempotent and sequence:
                answer: dict[str, Any] = self._idempotency_for(services).run(
                    caller=caller,
                    sequence=sequence,
                    body=body.model_dump(mode="json", exclude={"sequence"}),
                    context=context,
                    work=work,
                )
                return answer
            return work()

        # Only a verified signature names a request (tokens carry none: see README, Safe retries).
        guard = (
            self._replay_guard_for(services)
            if invocation.via_api and caller.principal.auth_method is AuthMethod.AKSK
            else None
        )
        if guard is not None:
            answer = guard.run(
                fingerprint=request_fingerprint(event), context=context, work=once_per_sequence
            )
        else:
            answer = once_per_sequence()
        return invocation, (answer["payload"], answer["headers"])


def endpoint(
    operation: str,
    request_model: type[Req],
    logic: LogicFn[Req],
    success_status: int = 200,
    *,
    public: bool = False,
    idempotent: bool = False,
    default_keys: bool = False,
) -> Handler:
    """``public`` endpoints (tokens, versions) are neither authenticated nor project-scoped;
    ``idempotent`` ones remember their answer per ``sequence`` (see :mod:`skms.idempotency`);
    ``default_keys`` ones accept ``<service>/default`` as key_id from direct invocations
    (:mod:`skms.logic.default_keys`; their IAM policy allows creating the key)."""
    spec = _Endpoint(operation, request_model, logic, success_status, public, idempotent, default_keys)

    def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
        started = time.perf_counter()
        invocation: Invocation | None = None
        request_id = request_id_of(event)
        log: dict[str, Any] = {"operation": operation, "request_id": request_id}
        extra_headers: dict[str, str] = {}
        try:
            invocation, (payload, extra_headers) = spec.run(event, context, log)
            status = success_status
        except errors.KmsError as exc:
            status, payload = exc.status, exc.body()
            log["error_code"] = exc.code
            reason = getattr(exc, "reason", None)  # e.g. why a request is unauthenticated: logged only
            if reason:
                log["reason"] = reason
        except (StorageFailure, RootKeyUnavailable) as exc:
            # A dependency failed (throttling, outage, permissions): not the caller's fault, and
            # worth telling apart from a bug. The cause is logged, never returned.
            mapped = errors.StorageError() if isinstance(exc, StorageFailure) else errors.ServiceUnavailable()
            logger.warning("dependency failure", extra={**log, "cause": str(exc), "error_code": mapped.code})
            status, payload = mapped.status, mapped.body()
            log["error_code"] = mapped.code
        except Exception:
            logger.exception("unhandled error", extra={**log, "outcome": "error"})
            status, payload = 500, errors.InternalError().body()
            log["error_code"] = errors.InternalError.code
        log.update(
            status=status,
            outcome="ok" if status < 400 else "rejected",
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        log_request(log)
        via_api = invocation.via_api if invocation is not None else _looks_like_api(event)
        if via_api:
            return _api_response(status, payload, request_id, extra_headers)
        # Direct invocations answer the JSON body as a dict, headers folded in by name.
        direct = dict(payload) if payload is not None else {}
        direct.update(extra_headers)
        return direct

    lambda_handler.__name__ = f"{operation.replace('-', '_')}_handler"
    setattr(lambda_handler, _SPEC_ATTRIBUTE, spec)
    return lambda_handler


_SPEC_ATTRIBUTE = "skms_endpoint"


def endpoint_of(handler: object) -> _Endpoint | None:
    """What ``endpoint()`` built a handler from (operation, models, logic, status), for tools such as
    :mod:`skms.openapi`; None for a handler that ``endpoint()`` did not build."""
    spec = getattr(handler, _SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, _Endpoint) else None


def _looks_like_api(event: Any) -> bool:
    return isinstance(event, dict) and "httpMethod" in event
