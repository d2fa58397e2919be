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
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from skms import errors
from skms.api.events import Invocation, parse_invocation, request_id_of
from skms.auth import request_signing
from skms.auth.authorizer import verify_signed_request
from skms.caller import Caller, Identity
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


_NO_CONTENT = int(HTTPStatus.NO_CONTENT)


def _api_response(
    status: int,
    body: dict[str, Any] | str | None,
    request_id: str,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The proxy response; ``body`` a JSON object, or its text already written (:func:`_json_text`).
    An answer without a body (logic returned None, or a 204) has no Content-Type and an empty
    body: the SDK reads any status below 400 with an empty body as an empty model (spec §F7)."""
    if status == _NO_CONTENT:
        body = None
    headers = {"X-Request-Id": request_id, **extra_headers} if extra_headers else {"X-Request-Id": request_id}
    if body is not None:
        headers["Content-Type"] = JSON_CONTENT_TYPE
    return {
        "statusCode": status,
        "headers": headers,
        "body": "" if body is None else body if isinstance(body, str) else _JSON_BODY.encode(body),
        "isBase64Encoded": False,
    }


def _json_text(result: BaseModel) -> str:
    """A result's JSON answer: the text ``_JSON_BODY.encode(result.model_dump(mode="json",
    exclude_none=True))`` writes, written by pydantic in one pass instead of a dict then the json
    module (tests/unit/test_handler_render.py proves the two equal for every response model)."""
    try:
        # result.model_dump_json(exclude_none=True), without its wrapper: passing on its keyword
        # arguments costs as much as the serialisation of a small answer.
        text: bytes = type(result).__pydantic_serializer__.to_json(result, exclude_none=True)
        return text.decode()
    except PydanticSerializationError:  # e.g. a lone surrogate, which the json module writes as is
        return _JSON_BODY.encode(result.model_dump(mode="json", exclude_none=True))


_MAY_HAVE: dict[tuple[type, str], bool] = {}


def _class_may_have(cls: type, name: str) -> bool:
    """Whether an instance of ``cls`` may have the attribute ``name``: not a pydantic model whose
    class has no such field or attribute and that allows no extra fields. Decided once per class,
    not per request (a failed lookup on a pydantic model raises, and catches, an AttributeError)."""
    may = _MAY_HAVE.get((cls, name))
    if may is None:
        may = _MAY_HAVE[cls, name] = not issubclass(cls, BaseModel) or (
            name in cls.model_fields or hasattr(cls, name) or cls.model_config.get("extra") == "allow"
        )
    return may


def _attribute(model: Any, name: str) -> Any:
    """``getattr(model, name, None)``, without the failing lookups of a name a model's class cannot
    have (see :func:`_class_may_have`). Extra fields, where a model allows them, are looked up."""
    if model is None or not _class_may_have(type(model), name):
        return None
    return getattr(model, name, None)


class _ResultTraits(NamedTuple):
    """What a logic result's class says of its instances, looked up once per class."""

    key_info: bool  # they may have a key_info (the key they created, to log)
    headers: Callable[[Any], Any] | None  # their response_headers(), if they have one


_RESULT_TRAITS: dict[type, _ResultTraits] = {}


def _result_traits(cls: type) -> _ResultTraits:
    traits = _RESULT_TRAITS.get(cls)
    if traits is None:
        method = getattr(cls, "response_headers", None)
        traits = _RESULT_TRAITS[cls] = _ResultTraits(
            key_info=_class_may_have(cls, "key_info"), headers=method if callable(method) else None
        )
    return traits


# What run() answers: whether the request came through the API, its body (a JSON object, or for
# the API its text already written), its extra response headers.
Answer = tuple[bool, dict[str, Any] | str | None, dict[str, str]]


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
        # Per request model, decided here once: whether its bodies can name a key to log, and a
        # sequence to answer once per (only idempotent operations read it).
        self._reads_key_id = _class_may_have(request_model, "key_id")
        self._reads_sequence = idempotent and _class_may_have(request_model, "sequence")
        # The KMS_REPLAY_PROTECTION modes that guard this operation: state-changing operations
        # (idempotent: their answers hold no secret) replay their first answer under both
        # "state-changing" and "all"; under "all", every other operation refuses a replay (its
        # answer may hold a secret).
        self._guarded_under = frozenset({"state-changing", "all"} if idempotent else {"all"})

    def _idempotency_for(self, services: Services) -> Any:
        # Imported and built on first use (most requests carry no sequence, and cold starts stay
        # lean), for the services in force: the store the answers are remembered in follows them.
        if self._idempotency is None or self._idempotency[0] is not services:
            from skms.idempotency import Idempotency, build_persistence

            self._idempotency = (services, Idempotency(self.operation, build_persistence(services.settings)))
        return self._idempotency[1]

    def _replay_guard_for(self, services: Services) -> Any:
        """The replay guard, for an operation that ``KMS_REPLAY_PROTECTION`` guards
        (``_guarded_under``), built on first use for the services in force."""
        if self._replay is None or self._replay[0] is not services:
            from skms.idempotency import ReplayGuard, build_persistence

            guard = ReplayGuard(
                self.operation,
                build_persistence(services.settings, replay_records=True),
                answers=self.idempotent,
            )
            self._replay = (services, guard)
        return self._replay[1]

    def _caller(
        self, event: Any, invocation: Invocation, services: Services, log: dict[str, Any]
    ) -> tuple[Caller, request_signing.ParsedAuthorization | None]:
        """Who calls, and the verified signature of an AK/SK request (None otherwise): an API
        request is authenticated here, over its raw body (§F6), before anything is decoded from it;
        a direct invocation was authorised by IAM."""
        if invocation.via_api and not self.public:
            principal, signed = verify_signed_request(event, invocation.raw_body, services)
            log["principal_id"] = principal.principal_id
            log["auth_method"] = principal.method
            caller = Caller(
                project_id=invocation.project_id,
                domain_id=principal.domain_id,
                request_id=invocation.request_id,
                principal=principal.identity(),
                operation=self.operation,
            )
            return caller, signed
        if not self.public and invocation.project_id not in services.settings.direct_projects:
            # Opt-in per deployment (template parameter DirectInvocationProjects), per project.
            raise errors.AccessDenied("Direct invocations are not enabled for this project.")
        domain_id = invocation.domain_id or services.settings.domain_id
        caller = Caller(
            project_id=invocation.project_id,
            domain_id=domain_id,
            request_id=invocation.request_id,
            principal=Identity.direct(domain_id),
            operation=self.operation,
        )
        return caller, None

    def run(self, event: Any, context: Any, log: dict[str, Any], request_id: str | None = None) -> Answer:
        """Errors propagate to the handler, which renders them."""
        invocation = parse_invocation(event, project_scoped=not self.public, request_id=request_id)
        log["project_id"] = invocation.project_id
        services = get_services()
        caller, signed = self._caller(event, invocation, services, log)
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
        if self._reads_key_id:
            key_id = getattr(body, "key_id", None)
            if isinstance(key_id, str):
                log["key_id"] = key_id
        sequence = getattr(body, "sequence", None) if self._reads_sequence else None
        # Only a verified signature names a request (tokens carry none: see README, Safe retries).
        guard, fingerprint = None, ""
        if signed is not None and services.settings.replay_protection in self._guarded_under:
            guard = self._replay_guard_for(services)
            fingerprint = request_signing.fingerprint(signed)
            if guard.marks_only:  # a marker claimed before the work, no answer kept
                guard.claim(fingerprint)
                guard = None
        if guard is None and not sequence:
            # No answer to remember: the result goes straight to its wire form.
            result = self.logic(body, caller, services)
            return invocation.via_api, *self._render(result, log, invocation.via_api)

        answer = self._remembered(context, log, services, caller, body, sequence, guard, fingerprint)
        return invocation.via_api, answer["payload"], answer["headers"]

    def _remembered(  # noqa: PLR0917 - run()'s locals: apart, so that they are no closure cells in run()
        self,
        context: Any,
        log: dict[str, Any],
        services: Services,
        caller: Caller,
        body: Any,
        sequence: str | None,
        guard: Any,
        fingerprint: str,
    ) -> dict[str, Any]:
        """The answer, through what remembers it: once per ``sequence`` (idempotent operations), and
        once per signed request (the replay guard)."""

        def work() -> dict[str, Any]:
            payload, headers = self._render(self.logic(body, caller, services), log, False)
            return {"payload": payload, "headers": headers}

        def once_per_sequence() -> dict[str, Any]:
            if sequence:
                answer: dict[str, Any] = self._idempotency_for(services).run(
                    caller=caller,
                    sequence=sequence,
                    body=body.model_dump(mode="json", exclude={"sequence"}),
                    context=context,
                    work=work,
                )
                return answer
            return work()

        if guard is not None:
            answer: dict[str, Any] = guard.run(
                fingerprint=fingerprint, context=context, work=once_per_sequence
            )
            return answer
        return once_per_sequence()

    def _render(
        self, result: BaseModel | None, log: dict[str, Any], as_text: bool
    ) -> tuple[dict[str, Any] | str | None, dict[str, str]]:
        """A logic result's body (its JSON object, or with ``as_text`` its JSON text) and headers;
        the key it created, if any, is logged."""
        if result is None:
            return None, {}
        traits = _RESULT_TRAITS.get(type(result)) or _result_traits(type(result))
        if traits.key_info:
            created = _attribute(getattr(result, "key_info", None), "key_id")
            if isinstance(created, str):
                log["key_id"] = created
        if self.success_status == _NO_CONTENT and as_text:
            payload: dict[str, Any] | str | None = None  # a 204 has no body
        elif as_text:
            payload = _json_text(result)
        else:
            payload = result.model_dump(mode="json", exclude_none=True)
        return payload, dict(traits.headers(result)) if traits.headers is not None else {}


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
        request_id = request_id_of(event)
        log: dict[str, Any] = {"operation": operation, "request_id": request_id}
        extra_headers: dict[str, str] = {}
        via_api: bool | None = None  # known once the event is parsed and the request answered
        payload: dict[str, Any] | str | None
        try:
            via_api, payload, extra_headers = spec.run(event, context, log, request_id)
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
        log["status"] = status
        log["outcome"] = "ok" if status < 400 else "rejected"
        # Milliseconds to three decimals: whole microseconds / 1000 (what round(ms, 3) gives but for
        # the last digit of a tie, in a third of its time).
        log["duration_ms"] = int((time.perf_counter() - started) * 1_000_000 + 0.5) / 1000
        log_request(log, plain_values=True)  # its values: text, the status (int), duration_ms (float)
        if via_api if via_api is not None else _looks_like_api(event):
            return _api_response(status, payload, request_id, extra_headers)
        # Direct invocations answer the JSON body as a dict, headers folded in by name.
        direct = dict(payload) if isinstance(payload, dict) else {}
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
