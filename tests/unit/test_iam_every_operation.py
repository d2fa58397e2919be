"""Architecture: every operation is authorised, exactly once, by the one decision (skms.iam.decide).

Every function of template.yaml built by ``endpoint()`` has an IAM action (skms.iam.actions); and
each non-public one, sent its sample ``api.json`` event with what the event's placeholders stand for
(the seeds of tests/integration/test_every_event.py, made by the account), answers an IAM user
with no policy 403 KMS.0307 naming its action, after exactly one policy lookup per key it acts on
(none for the account), while the same user holding ``KMS Administrator``, and the account, get
the success the event stands for.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from skms.api.handler import endpoint_of
from skms.caller import AuthMethod, Identity, PrincipalKind
from skms.iam.actions import ACTIONS
from skms.iam.decide import GRANT_RELATIONSHIP_OPERATIONS
from skms.runtime import Services, set_services
from skms.sam_template import load_handler
from tests.conftest import TEMPLATE
from tests.integration.conftest import Handler, KmsClient, load_event, sdk_json
from tests.integration.test_every_event import PLACEHOLDER_KEY_ID, SEEDS
from tests.support.policies import FakePolicySource, document
from tests.support.template import template_functions

USER_ID = "0d04a1b2c3d4e5f60718293a4b5c6d7e"
HANDLERS: dict[str, Handler] = {name: load_handler(ref) for name, ref in template_functions(TEMPLATE).items()}
ENDPOINTS = {name: spec for name, handler in HANDLERS.items() if (spec := endpoint_of(handler)) is not None}
PROTECTED = sorted(name for name, spec in ENDPOINTS.items() if not spec.public)
# Decided by the grant relationship (skms.iam.decide.GRANT_RELATIONSHIP_OPERATIONS): a user with no
# policy retires the grants it may retire; only an explicit Deny refuses it.
BY_GRANT_RELATIONSHIP = sorted(
    name for name in PROTECTED if ENDPOINTS[name].operation in GRANT_RELATIONSHIP_OPERATIONS
)
BY_POLICY = sorted(set(PROTECTED) - set(BY_GRANT_RELATIONSHIP))
# Operations that act on two keys: one decision for each.
KEYS_PER_OPERATION = {"re-encrypt": 2}


def test_every_endpoint_is_found() -> None:
    # Guards the tests below against passing on nothing
    assert len(PROTECTED) >= 40
    assert {"create_key", "create_datakey", "re_encrypt", "list_keys", "create_random"} <= set(PROTECTED)
    assert {name for name, spec in ENDPOINTS.items() if spec.public} == {
        "create_token",
        "show_version",
        "show_versions",
    }


def test_every_protected_operation_has_an_iam_action() -> None:
    missing = {ENDPOINTS[name].operation for name in PROTECTED} - set(ACTIONS)
    assert missing == set()


@dataclass(frozen=True)
class FakePrincipal:
    """The principal skms.auth.authorizer.verify_signed_request returns, for the test's principal."""

    identity_: Identity

    @property
    def principal_id(self) -> str:
        return self.identity_.id

    @property
    def method(self) -> str:
        return self.identity_.auth_method.value

    @property
    def domain_id(self) -> str:
        return self.identity_.domain_id

    def identity(self) -> Identity:
        return self.identity_


class As:
    """Who the API requests of the test are authenticated as (in the event's token context's domain)."""

    def __init__(self) -> None:
        self.kind = PrincipalKind.ACCOUNT

    def verify(self, event: Any, body: bytes, services: Services) -> tuple[FakePrincipal, None]:
        domain_id = event["requestContext"]["authorizer"]["domain_id"]
        user_id = USER_ID if self.kind is PrincipalKind.USER else ""
        identity = Identity(f"{self.kind}-1", self.kind, domain_id, AuthMethod.TOKEN, user_id)
        return FakePrincipal(identity), None  # a token: no signature


@pytest.fixture
def iam(
    memory_services: Services, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Services, FakePolicySource, As]]:
    policies = FakePolicySource()
    services = dataclasses.replace(memory_services, policies=policies)
    set_services(services)
    principal = As()
    monkeypatch.setattr("skms.api.handler.verify_signed_request", principal.verify)
    yield services, policies, principal
    set_services(memory_services)


def _api_event(function: str, fill: dict[str, Any]) -> dict[str, Any]:
    """The function's api.json with the seeded values in its body and path (as test_every_event)."""
    event = load_event(function, "api")
    if event["body"] is not None:
        body = json.loads(event["body"])
        placeholders = {name for name, value in body.items() if value == PLACEHOLDER_KEY_ID}
        assert placeholders <= set(fill), f"no value for {placeholders - set(fill)}"
        event["body"] = sdk_json({**body, **fill})
    for name, value in (event.get("pathParameters") or {}).items():
        if value == PLACEHOLDER_KEY_ID and name in fill:
            event["pathParameters"][name] = fill[name]
            event["path"] = event["path"].replace(value, fill[name])
            event["requestContext"]["path"] = event["requestContext"]["path"].replace(value, fill[name])
    return event


def _seeded_event(function: str, services: Services) -> dict[str, Any]:
    seed = SEEDS.get(function)
    return _api_event(function, seed(KmsClient(HANDLERS), services) if seed is not None else {})


@pytest.mark.parametrize("function", BY_POLICY)
def test_a_user_without_policies_is_refused_each_operation_after_one_decision(
    function: str, iam: tuple[Services, FakePolicySource, As]
) -> None:
    services, policies, principal = iam
    operation = ENDPOINTS[function].operation
    # Given what the event stands for, made by the account
    event = _seeded_event(function, services)
    assert policies.total_calls == 0  # the account reads no policies
    # When an IAM user with no policy sends it
    principal.kind = PrincipalKind.USER
    answer = HANDLERS[function](event, None)
    # Then it is refused, naming the operation's action, after one decision per key it acts on
    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["error_code"]) == (403, "KMS.0307"), answer["body"]
    assert f"perform {ACTIONS[operation].name} on " in error["error_msg"]
    assert error["error_msg"].startswith(f"User {USER_ID} is not authorized")
    assert policies.total_calls == 1
    # And once allowed (KMS Administrator), the same request succeeds, decided once per key
    policies.attach(event["requestContext"]["authorizer"]["domain_id"], USER_ID, "KMS Administrator")
    before = policies.total_calls
    answer = HANDLERS[function](event, None)
    assert answer["statusCode"] == ENDPOINTS[function].success_status, answer["body"]
    assert policies.total_calls - before == KEYS_PER_OPERATION.get(operation, 1)


@pytest.mark.parametrize("function", PROTECTED)
def test_the_account_still_does_everything_without_reading_policies(
    function: str, iam: tuple[Services, FakePolicySource, As]
) -> None:
    services, policies, _ = iam
    event = _seeded_event(function, services)
    answer = HANDLERS[function](event, None)
    assert answer["statusCode"] == ENDPOINTS[function].success_status, answer["body"]
    assert policies.total_calls == 0


def test_the_grant_relationship_operations_are_the_two_of_access_control_3_3() -> None:
    assert [ENDPOINTS[name].operation for name in BY_GRANT_RELATIONSHIP] == [
        "retire-grant",
        "list-retirable-grants",
    ]


@pytest.mark.parametrize("function", BY_GRANT_RELATIONSHIP)
def test_a_grant_relationship_operation_needs_no_policy_but_an_explicit_deny_refuses_it(
    function: str, iam: tuple[Services, FakePolicySource, As]
) -> None:
    services, policies, principal = iam
    operation = ENDPOINTS[function].operation
    domain_id = load_event(function, "api")["requestContext"]["authorizer"]["domain_id"]
    events = [_seeded_event(function, services) for _ in range(2)]  # made by the account
    principal.kind = PrincipalKind.USER
    # Given an explicit Deny of the operation's action on every resource
    policies.attach(
        domain_id,
        USER_ID,
        document({"Effect": "Deny", "Action": [ACTIONS[operation].name], "Resource": ["*"]}),
    )
    # When the user (a principal the seeded grant names) asks / Then it is refused, naming the action
    answer = HANDLERS[function](events[0], None)
    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["error_code"]) == (403, "KMS.0307"), answer["body"]
    assert f"perform {ACTIONS[operation].name} on " in error["error_msg"]
    # And without the Deny (and with no policy at all), the grant relationship decides: success
    policies.detach_all(domain_id, USER_ID)
    answer = HANDLERS[function](events[1], None)
    assert answer["statusCode"] == ENDPOINTS[function].success_status, answer["body"]
