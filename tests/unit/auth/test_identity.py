"""Principals of IAM users: a user's access key and token become a USER identity carrying the user
id; disabling or deleting a key or a user, or moving the user's token epoch, refuses them once the
access-key cache time is over (a clock the tests move); the policy source reads what is attached."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from skms.auth import principals
from skms.auth.authorizer import Unauthorized, authorize, verify_request
from skms.auth.policies import StorePolicySource
from skms.caller import AuthMethod, Identity, PrincipalKind
from skms.crypto.cache import TtlLruCache
from skms.domain import PolicyRecord, UserRecord
from skms.iam.policy import SYSTEM_POLICIES
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID, PROJECT_ID
from tests.support.signer import sign_headers

DOMAIN = "d" * 32
BODY = b"{}"
CACHE_SECONDS = 2.0


@pytest.fixture
def clock() -> list[float]:
    return [1000.0]


@pytest.fixture
def services(memory_services: Services, clock: list[float]) -> Services:
    """Memory services whose access-key cache lives 2 s on the test's clock."""
    return dataclasses.replace(
        memory_services, access_keys=TtlLruCache(64, CACHE_SECONDS, clock=lambda: clock[0])
    )


@pytest.fixture
def alice(services: Services) -> UserRecord:
    return principals.create_user(
        services,
        name="alice",
        password="pw-of-alice",
        domain_id=DOMAIN,
        domain_name=DOMAIN,
        project_ids=(PROJECT_ID,),
        policies=("KMS Administrator",),
    )


def _path(project: str = PROJECT_ID) -> str:
    return f"/v1.0/{project}/kms/list-keys"


def _event(headers: dict[str, str], project: str = PROJECT_ID) -> dict[str, Any]:
    path = _path(project)
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:r:1:api/v1/POST{path}",
        "httpMethod": "POST",
        "path": path,
        "headers": headers,
        "pathParameters": {"project_id": project},
        "requestContext": {"path": path, "requestId": "r1"},
        "body": BODY.decode(),
    }


def _signed(access_key: str, secret_key: str, project: str = PROJECT_ID) -> dict[str, Any]:
    headers = sign_headers(
        access_key=access_key,
        secret_key=secret_key,
        method="POST",
        path=_path(project),
        body=BODY,
        project_id=project,
    )
    return _event(headers, project)


def _token_event(token: str, project: str = PROJECT_ID) -> dict[str, Any]:
    return _event({"X-Auth-Token": token}, project)


def test_a_users_access_key_is_a_user_identity_with_its_id(services: Services, alice: UserRecord) -> None:
    # Given an access key of alice
    record, secret = principals.create_user_access_key(services, domain_id=DOMAIN, name="alice")
    event = _signed(record.access_key, secret)
    # When the authorizer and the function see a request signed with it
    decision = authorize(event, services)
    context = decision.policy(event["methodArn"])["context"]
    # Then the context carries the user id, as flat strings only (API Gateway)
    assert context["user_id"] == alice.user_id
    assert all(isinstance(value, str) for value in context.values())
    event["requestContext"]["authorizer"] = context
    principal = verify_request(event, BODY, services)
    # And logic sees an IAM user (policies decide), not the account
    assert principal.identity() == Identity(
        record.access_key, PrincipalKind.USER, DOMAIN, AuthMethod.AKSK, alice.user_id
    )


def test_an_account_key_is_the_account(services: Services) -> None:
    access_key, secret = principals.new_access_key()
    principals.create_access_key(
        services, domain_id=DOMAIN, project_ids=(PROJECT_ID,), access_key=access_key, secret_key=secret
    )
    decision = authorize(_signed(access_key, secret), services)
    assert decision.principal is not None
    identity = decision.principal.identity()
    assert (identity.kind, identity.user_id, identity.is_account) == (PrincipalKind.ACCOUNT, "", True)


def test_a_token_is_a_user_identity_with_its_id(services: Services, alice: UserRecord) -> None:
    token, claims = principals.issue_token(services, alice, PROJECT_ID)
    assert (claims.user_id, claims.epoch) == (alice.user_id, 0)
    decision = authorize(_token_event(token), services)
    assert decision.allowed
    assert decision.principal is not None
    assert decision.principal.identity() == Identity(
        "alice", PrincipalKind.USER, DOMAIN, AuthMethod.TOKEN, alice.user_id
    )


def test_a_disabled_access_key_is_refused_once_the_cache_time_is_over(
    services: Services, alice: UserRecord, clock: list[float]
) -> None:
    record, secret = principals.create_user_access_key(services, domain_id=DOMAIN, name="alice")
    assert authorize(_signed(record.access_key, secret), services).allowed
    # When the key is disabled
    principals.set_access_key_enabled(services, record.access_key, False)
    # Then after the cache time it is refused; enabled again, it works again (after the cache time)
    clock[0] += CACHE_SECONDS + 0.1
    with pytest.raises(Unauthorized):
        authorize(_signed(record.access_key, secret), services)
    principals.set_access_key_enabled(services, record.access_key, True)
    clock[0] += CACHE_SECONDS + 0.1
    assert authorize(_signed(record.access_key, secret), services).allowed
    # And deleted, it is refused
    principals.delete_access_key(services, record.access_key)
    clock[0] += CACHE_SECONDS + 0.1
    with pytest.raises(Unauthorized):
        authorize(_signed(record.access_key, secret), services)


def test_a_disabled_or_deleted_user_loses_its_keys_and_tokens(
    services: Services, alice: UserRecord, clock: list[float]
) -> None:
    record, secret = principals.create_user_access_key(services, domain_id=DOMAIN, name="alice")
    token, _ = principals.issue_token(services, alice, PROJECT_ID)
    assert authorize(_signed(record.access_key, secret), services).allowed
    assert authorize(_token_event(token), services).allowed
    # When alice is disabled, Then both are refused once the cache time is over
    principals.set_user_enabled(services, DOMAIN, "alice", False)
    clock[0] += CACHE_SECONDS + 0.1
    with pytest.raises(Unauthorized):
        authorize(_signed(record.access_key, secret), services)
    with pytest.raises(Unauthorized):
        authorize(_token_event(token), services)
    # When enabled again, her key works, but the earlier token stays void (the epoch moved)
    principals.set_user_enabled(services, DOMAIN, "alice", True)
    clock[0] += CACHE_SECONDS + 0.1
    assert authorize(_signed(record.access_key, secret), services).allowed
    with pytest.raises(Unauthorized):
        authorize(_token_event(token), services)
    fresh = services.stores.principals.get_user_by_id(DOMAIN, alice.user_id)
    assert fresh is not None
    new_token, _ = principals.issue_token(services, fresh, PROJECT_ID)
    assert authorize(_token_event(new_token), services).allowed
    # When she is deleted, Then the new token is refused too, and so is a token of a new "alice"
    principals.delete_user(services, DOMAIN, "alice")
    clock[0] += CACHE_SECONDS + 0.1
    with pytest.raises(Unauthorized):
        authorize(_token_event(new_token), services)
    assert services.stores.principals.get_access_key(record.access_key) is None


def test_a_password_change_revokes_tokens_after_the_cache_time(
    services: Services, alice: UserRecord, clock: list[float]
) -> None:
    token, _ = principals.issue_token(services, alice, PROJECT_ID)
    principals.set_user_password(services, DOMAIN, "alice", "another-pw")
    # Within the cache time the warm authorizer may still accept it; after, never
    clock[0] += CACHE_SECONDS + 0.1
    with pytest.raises(Unauthorized):
        authorize(_token_event(token), services)


def test_without_a_cache_a_change_takes_effect_at_once(memory_services: Services, alice: UserRecord) -> None:
    token, _ = principals.issue_token(memory_services, alice, PROJECT_ID)
    assert authorize(_token_event(token), memory_services).allowed
    principals.set_user_enabled(memory_services, DOMAIN, "alice", False)
    with pytest.raises(Unauthorized):
        authorize(_token_event(token), memory_services)


def test_a_users_key_follows_the_users_projects(
    services: Services, alice: UserRecord, clock: list[float]
) -> None:
    record, secret = principals.create_user_access_key(services, domain_id=DOMAIN, name="alice")
    event = _signed(record.access_key, secret, OTHER_PROJECT_ID)
    assert authorize(event, services).policy(event["methodArn"])["context"]["project_allowed"] == "false"
    principals.set_user_projects(services, DOMAIN, "alice", (OTHER_PROJECT_ID,))
    clock[0] += CACHE_SECONDS + 0.1
    event = _signed(record.access_key, secret, OTHER_PROJECT_ID)
    assert authorize(event, services).policy(event["methodArn"])["context"]["project_allowed"] == "true"


def test_tokens_of_the_previous_signing_key_stay_valid_after_a_rotation(
    services: Services, alice: UserRecord
) -> None:
    old_token, old_claims = principals.issue_token(services, alice, PROJECT_ID)
    assert principals.rotate_token_key(services) == old_claims.key_id + 1
    new_token, new_claims = principals.issue_token(services, alice, PROJECT_ID)
    assert new_claims.key_id == old_claims.key_id + 1
    assert authorize(_token_event(old_token), services).allowed
    assert authorize(_token_event(new_token), services).allowed
    principals.rotate_token_key(services)
    with pytest.raises(Unauthorized):  # two rotations back
        authorize(_token_event(old_token), services)
    assert authorize(_token_event(new_token), services).allowed


# -- the policy source --------------------------------------------------------------------------


def test_policy_source_reads_system_and_custom_policies(services: Services, alice: UserRecord) -> None:
    document = {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:cmk:list"]}] * 10}
    principals.create_policy(services, domain_id=DOMAIN, name="ten", document=json.dumps(document))
    principals.attach_policy(services, DOMAIN, "alice", "ten")
    source = StorePolicySource(services.stores.principals, 0)
    policies = source.policies_of(DOMAIN, alice.user_id)
    assert policies[0] is SYSTEM_POLICIES["KMS Administrator"]
    assert len(policies) == 2
    assert len(policies[1].statements) == 10


def test_policy_source_has_nothing_for_unknown_disabled_or_foreign_users(
    services: Services, alice: UserRecord
) -> None:
    source = StorePolicySource(services.stores.principals, 0)
    assert source.policies_of(DOMAIN, "0" * 32) == ()
    assert source.policies_of("e" * 32, alice.user_id) == ()
    assert source.policies_of(DOMAIN, "") == ()
    principals.set_user_enabled(services, DOMAIN, "alice", False)
    assert source.policies_of(DOMAIN, alice.user_id) == ()


def test_policy_source_caches_for_the_cache_time(services: Services, alice: UserRecord) -> None:
    now = [0.0]
    reads: list[str] = []
    store = services.stores.principals
    real = store.get_user_by_id

    def counting(domain_id: str, user_id: str) -> UserRecord | None:
        reads.append(user_id)
        return real(domain_id, user_id)

    store.get_user_by_id = counting  # type: ignore[method-assign]
    source = StorePolicySource(store, CACHE_SECONDS, clock=lambda: now[0])
    # Warm, a request reads nothing
    for _ in range(5):
        assert len(source.policies_of(DOMAIN, alice.user_id)) == 1
    assert len(reads) == 1
    # A detach takes effect once the cache time is over
    principals.detach_policy(services, DOMAIN, "alice", "KMS Administrator")
    now[0] += CACHE_SECONDS + 0.1
    assert source.policies_of(DOMAIN, alice.user_id) == ()


def test_a_stored_policy_that_no_longer_parses_is_ignored(services: Services, alice: UserRecord) -> None:
    services.stores.principals.create_policy(PolicyRecord(DOMAIN, "broken", "0" * 32, "{not json"))
    principals.change_user(services, DOMAIN, "alice", lambda u: dataclasses.replace(u, policies=("broken",)))
    assert StorePolicySource(services.stores.principals, 0).policies_of(DOMAIN, alice.user_id) == ()
