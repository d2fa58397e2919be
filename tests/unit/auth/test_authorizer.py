"""The two-step authentication: the authorizer's decision, then the function's body check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skms import errors
from skms.auth import tokens
from skms.auth.authorizer import (
    AUTH_AKSK,
    AUTH_TOKEN,
    NotAuthenticated,
    Principal,
    Unauthorized,
    authorize,
    principal_from_context,
    verify_request,
)
from skms.auth.principals import (
    cached_secret,
    create_access_key,
    create_user,
    issue_token,
    secret_of,
    token_key,
)
from skms.auth.request_signing import SigningSecret
from skms.caller import AuthMethod, Caller, Identity, PrincipalKind
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID, PROJECT_ID
from tests.support.signer import sign_headers

AK, SK = "AKTESTAKTESTAKTEST01", "secret-key-of-the-test-access-key-000000"
DOMAIN = "d" * 32
BODY = b'{"key_alias": "k1"}'


def _path(project: str = PROJECT_ID, operation: str = "create-key") -> str:
    return f"/v1.0/{project}/kms/{operation}"


def _event(
    headers: dict[str, str], path: str, project: str = PROJECT_ID, body: bytes = BODY
) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:r:1:api/v1/POST{path}",
        "httpMethod": "POST",
        "path": path,
        "headers": headers,
        "pathParameters": {"project_id": project},
        "requestContext": {"path": path, "requestId": "r1"},
        "body": body.decode(),
    }


def _signed(
    project: str = PROJECT_ID, *, secret: str = SK, when: datetime | None = None, **kw: Any
) -> dict[str, Any]:
    path = kw.pop("path", _path(project))
    headers = sign_headers(
        access_key=kw.pop("access_key", AK),
        secret_key=secret,
        method="POST",
        path=path,
        body=kw.pop("sign_body", BODY),
        project_id=project,
        when=when,
    )
    return _event(headers, path, project)


@pytest.fixture
def principal_services(memory_services: Services) -> Services:
    create_access_key(
        memory_services, domain_id=DOMAIN, project_ids=(PROJECT_ID,), access_key=AK, secret_key=SK
    )
    return memory_services


def _function_side(event: dict[str, Any], services: Services, body: bytes = BODY) -> None:
    decision = authorize(event, services)
    assert decision.allowed
    event["requestContext"]["authorizer"] = decision.policy(event["methodArn"])["context"]
    verify_request(event, body, services)


def test_a_signed_request_is_allowed_and_names_its_principal(principal_services: Services) -> None:
    event = _signed()
    decision = authorize(event, principal_services)
    policy = decision.policy(event["methodArn"])
    assert policy["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": event["methodArn"],
    }
    assert policy["context"]["auth_method"] == "aksk"
    assert policy["context"]["domain_id"] == DOMAIN
    _function_side(event, principal_services)


@pytest.mark.parametrize(
    ("event_changes", "skew"),
    [
        ({"access_key": "AKUNKNOWNAKUNKNOWN00"}, None),
        ({}, timedelta(minutes=-20)),
        ({}, timedelta(minutes=20)),
    ],
    ids=["unknown-ak", "stale", "future"],
)
def test_the_authorizer_refuses_what_it_can_see(
    principal_services: Services, event_changes: dict[str, Any], skew: timedelta | None
) -> None:
    # The signing time is taken when the test runs, not when it is collected: in a long session a
    # "20 minutes ahead" fixed at collection falls inside the 15-minute window.
    if skew is not None:
        event_changes = {**event_changes, "when": datetime.now(UTC) + skew}
    with pytest.raises(Unauthorized):
        authorize(_signed(**event_changes), principal_services)


def test_no_credentials_and_malformed_headers_are_unauthorized(principal_services: Services) -> None:
    with pytest.raises(Unauthorized):
        authorize(_event({}, _path()), principal_services)
    with pytest.raises(Unauthorized):
        authorize(_event({"Authorization": "SDK-HMAC-SHA256 nonsense"}, _path()), principal_services)


def test_a_project_the_key_may_not_use_is_refused_only_after_the_signature(
    principal_services: Services,
) -> None:
    # Given a request for a project the access key may not use
    event = _signed(OTHER_PROJECT_ID)
    decision = authorize(event, principal_services)
    # Then the authorizer says nothing yet about the project (no oracle without the secret)
    assert decision.allowed
    event["requestContext"]["authorizer"] = decision.policy(event["methodArn"])["context"]
    # And the function answers 403 KMS.0307 once the signature checks out
    with pytest.raises(errors.KmsError) as caught:
        verify_request(event, BODY, principal_services)
    assert (caught.value.status, caught.value.code) == (403, "KMS.0307")
    # While a wrong signature for that project is just unauthenticated
    forged = _signed(OTHER_PROJECT_ID, secret="not-the-secret")
    forged["requestContext"]["authorizer"] = authorize(forged, principal_services).policy("arn")["context"]
    with pytest.raises(errors.KmsError) as caught:
        verify_request(forged, BODY, principal_services)
    assert (caught.value.status, caught.value.code) == (401, "APIGW.0301")


@pytest.mark.parametrize(
    ("sign_kwargs", "sent_body"),
    [({"secret": "wrong-secret"}, BODY), ({}, b'{"key_alias": "k2"}'), ({"sign_body": b"{}"}, BODY)],
    ids=["wrong-secret", "body-altered", "other-body-signed"],
)
def test_the_function_checks_the_signature_over_the_body(
    principal_services: Services, sign_kwargs: dict[str, Any], sent_body: bytes
) -> None:
    event = _signed(**sign_kwargs)
    with pytest.raises(errors.KmsError) as caught:
        _function_side(event, principal_services, sent_body)
    assert (caught.value.status, caught.value.code) == (401, "APIGW.0301")


def test_the_function_rejects_a_path_changed_after_authorization(principal_services: Services) -> None:
    event = _signed()
    decision = authorize(event, principal_services)
    event["requestContext"]["authorizer"] = decision.policy(event["methodArn"])["context"]
    event["requestContext"]["path"] = _path(operation="create-datakey")
    with pytest.raises(errors.KmsError) as caught:
        verify_request(event, BODY, principal_services)
    assert caught.value.status == 401


def test_the_function_trusts_only_the_authorizer_context(principal_services: Services) -> None:
    event = _signed()
    with pytest.raises(errors.KmsError) as caught:
        verify_request(event, BODY, principal_services)  # no authorizer context at all
    assert caught.value.status == 401
    event["requestContext"]["authorizer"] = {
        "auth_method": "token",
        "principal_id": "x",
        "domain_id": "d",
        "project_id": OTHER_PROJECT_ID,
    }
    with pytest.raises(errors.KmsError) as caught:
        verify_request(event, BODY, principal_services)  # a context for another project
    assert (caught.value.status, caught.value.code) == (403, "KMS.0307")


def test_tokens_are_verified_by_the_authorizer_alone(principal_services: Services) -> None:
    alice = create_user(
        principal_services,
        name="alice",
        password="pw",
        domain_id=DOMAIN,
        domain_name=DOMAIN,
        project_ids=(PROJECT_ID, OTHER_PROJECT_ID),
    )
    token, _ = issue_token(principal_services, alice, PROJECT_ID)
    event = _event({"X-Auth-Token": token}, _path())
    decision = authorize(event, principal_services)
    assert decision.allowed
    assert decision.principal is not None
    assert (decision.principal.method, decision.principal.user) == ("token", "alice")
    assert decision.principal.identity() == Identity(
        "alice", PrincipalKind.USER, DOMAIN, AuthMethod.TOKEN, alice.user_id
    )
    _function_side(event, principal_services)

    other = authorize(
        _event({"X-Auth-Token": token}, _path(OTHER_PROJECT_ID), OTHER_PROJECT_ID), principal_services
    )
    assert not other.allowed
    assert other.error_code == "KMS.0321"

    with pytest.raises(Unauthorized):
        authorize(_event({"X-Auth-Token": token[:-2] + "AA"}, _path()), principal_services)
    expired, _ = tokens.issue(
        token_key(principal_services),
        domain_id=DOMAIN,
        project_id=PROJECT_ID,
        user="alice",
        user_id=alice.user_id,
        now=int(datetime.now(UTC).timestamp()) - 25 * 3600,
    )
    with pytest.raises(Unauthorized):
        authorize(_event({"X-Auth-Token": expired}, _path()), principal_services)


def test_the_token_key_is_created_once_and_stored_wrapped(principal_services: Services) -> None:
    key = token_key(principal_services)
    principal_services.keyring.cache.clear()
    assert token_key(principal_services) == key
    stored = principal_services.stores.service_state.get_or_create_secret("token-signing-key", b"other")
    assert key not in stored
    assert json.dumps(list(stored))  # bytes, wrapped


def test_a_cold_start_with_a_stored_token_key_reads_it_without_wrapping_or_writing(
    principal_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment whose token key exists already
    key = token_key(principal_services)
    principal_services.keyring.cache.clear()  # a new cold start

    def forbidden(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("an existing token key must be read, not created again")

    monkeypatch.setattr(principal_services.keyring.root, "wrap", forbidden)
    monkeypatch.setattr(principal_services.stores.service_state, "get_or_create_secret", forbidden)
    # When the key is needed, Then it is read and unwrapped: no root-key wrap, no conditional write
    assert token_key(principal_services) == key


def test_a_warm_authorizer_reads_an_access_key_again_once_its_cache_time_is_over(
    principal_services: Services,
) -> None:
    import dataclasses

    from skms.crypto.cache import TtlLruCache

    # Given services whose access-key cache lives 2 s on a clock the test moves, and a count of reads
    now = [1000.0]
    reads: list[str] = []
    store = principal_services.stores.principals
    real_get = store.get_access_key

    def counting_get(access_key: str) -> Any:
        reads.append(access_key)
        return real_get(access_key)

    store.get_access_key = counting_get  # type: ignore[method-assign]
    cached = dataclasses.replace(principal_services, access_keys=TtlLruCache(16, 2.0, clock=lambda: now[0]))
    # When three signed requests come within 2 s, Then the record is read once
    for _ in range(3):
        assert authorize(_signed(), cached).allowed
    assert len(reads) == 1
    # When the cache time is over, Then it is read again (a disabled key stops working by then)
    now[0] += 2.5
    assert authorize(_signed(), cached).allowed
    assert len(reads) == 2
    # And without a cache (KMS_ACCESS_KEY_CACHE_SECONDS=0) every request reads it
    for _ in range(2):
        authorize(_signed(), principal_services)
    assert len(reads) == 4


@pytest.mark.parametrize(
    ("method", "kind"),
    [(AUTH_AKSK, PrincipalKind.ACCOUNT), (AUTH_TOKEN, PrincipalKind.USER)],
)
def test_the_principal_reaches_logic_as_an_identity(method: str, kind: PrincipalKind) -> None:
    principal = Principal(method, "AKOR-USER", "d" * 32, "p" * 32)
    identity = principal.identity()
    assert (identity.id, identity.kind, identity.domain_id, identity.auth_method) == (
        "AKOR-USER",
        kind,
        "d" * 32,
        AuthMethod(method),
    )


def test_a_caller_built_without_a_principal_is_a_direct_invocation_in_its_domain() -> None:
    caller = Caller(project_id="p" * 32, domain_id="d" * 32, request_id="r")
    assert caller.principal == Identity("direct", PrincipalKind.DIRECT, "d" * 32, AuthMethod.DIRECT)


def test_idempotency_is_scoped_by_project_and_principal() -> None:
    from skms.idempotency import scope_of

    user = Identity("alice", PrincipalKind.USER, "d" * 32, AuthMethod.TOKEN)
    assert scope_of(Caller("p1", "d" * 32, "r", user)) == "p1#alice"
    assert scope_of(Caller("p1", "d" * 32, "r")) == "p1#direct"  # as before the principal was a field


def test_the_principal_is_read_from_the_context_as_text() -> None:
    context = {
        "auth_method": AUTH_AKSK,
        "principal_id": AK,
        "domain_id": DOMAIN,
        "project_id": PROJECT_ID,
        "user": "",
        "project_allowed": "true",
        "user_id": "",
    }
    principal = principal_from_context(context)
    assert principal == Principal(AUTH_AKSK, AK, DOMAIN, PROJECT_ID, "", "true", "")
    assert principal_from_context(dict(context)) == principal
    assert principal_from_context({**context, "project_id": OTHER_PROJECT_ID}).project_id == OTHER_PROJECT_ID
    # API Gateway may hand a value back as a boolean: it is read as its text, never as "true"
    assert principal_from_context({**context, "project_allowed": True}).project_allowed == "True"
    minimal = {key: context[key] for key in ("auth_method", "principal_id", "domain_id", "project_id")}
    assert principal_from_context(minimal) == principal
    with pytest.raises(NotAuthenticated):
        principal_from_context({key: context[key] for key in ("auth_method", "principal_id", "domain_id")})


@pytest.mark.parametrize(
    ("method", "user_id", "kind", "auth_method"),
    [
        (AUTH_AKSK, "", PrincipalKind.ACCOUNT, AuthMethod.AKSK),
        (AUTH_AKSK, "u" * 32, PrincipalKind.USER, AuthMethod.AKSK),
        (AUTH_TOKEN, "u" * 32, PrincipalKind.USER, AuthMethod.TOKEN),
    ],
)
def test_each_principal_has_its_own_identity(
    method: str, user_id: str, kind: PrincipalKind, auth_method: AuthMethod
) -> None:
    for domain in ("d" * 32, "e" * 32):
        principal = Principal(method, "someone", domain, PROJECT_ID, user_id=user_id)
        assert principal.identity() == Identity("someone", kind, domain, auth_method, user_id)


def test_the_secret_is_kept_with_its_signing_states(principal_services: Services) -> None:
    record = principal_services.stores.principals.get_access_key(AK)
    assert record is not None
    for _ in range(2):  # unwrapped, then from the cache
        secret = cached_secret(principal_services, AK)
        assert isinstance(secret, SigningSecret)
        assert secret == SK.encode()
        assert secret_of(principal_services, record) is secret
    principal_services.keyring.cache.clear()  # a new cold start
    assert secret_of(principal_services, record) == SK.encode()
    assert cached_secret(principal_services, "AKUNKNOWNAKUNKNOWN00") is None
    _function_side(_signed(), principal_services)
