"""Grants against the in-memory fake store: spec §7 ops 28-32, access-control.md §3, codes of §F2,
and the grant decision (grant_allows, find_granted_key) with USER identities."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from skms import errors
from skms.caller import AuthMethod, Caller, Identity, PrincipalKind
from skms.clock import now_ms
from skms.crypto.cache import TtlLruCache
from skms.domain import KeyRecord
from skms.logic.create_key import create_key
from skms.logic.default_keys import resolve_default_key
from skms.logic.grants import (
    GRANTS_PER_KEY,
    UNLOCKS,
    create_grant,
    find_granted_key,
    grant_allows,
    list_grants,
    list_retirable_grants,
    retire_grant,
    revoke_grant,
)
from skms.logic.keys import disable_key, schedule_key_deletion
from skms.logic.misc import show_user_quotas
from skms.logic.sweep import sweep
from skms.models.base import parse_body
from skms.models.grants import (
    CreateGrantRequestBody,
    ListGrantsRequestBody,
    ListRetirableGrantsRequestBody,
    RevokeGrantRequestBody,
)
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody, ScheduleKeyDeletionRequestBody
from skms.models.misc import EmptyRequestBody
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID
from tests.support.policies import FakePolicySource

USER = "0d0466b00d0466b00d0466b00d0466b0"
OTHER_USER = "1e1577c11e1577c11e1577c11e1577c1"
OTHER_DOMAIN = "e" * 32
ISSUER = "a" * 32


def _user(
    caller: Caller, user_id: str = USER, *, domain_id: str | None = None, project_id: str | None = None
) -> Caller:
    domain = domain_id or caller.domain_id
    identity = Identity(f"ak-{user_id[:6]}", PrincipalKind.USER, domain, AuthMethod.AKSK, user_id)
    return Caller(
        project_id=project_id or caller.project_id, domain_id=domain, request_id="r-user", principal=identity
    )


def _as(caller: Caller, operation: str) -> Caller:
    """The caller as endpoint() makes it for ``operation`` (whose IAM action the decision asks)."""
    return dataclasses.replace(caller, operation=operation)


@pytest.fixture
def memory_services(memory_services: Services, caller: Caller) -> Services:
    """The users that issue grants here may (KMS Administrator); every other user has no policy."""
    policies = FakePolicySource()
    for user_id in (ISSUER, OTHER_USER):
        policies.attach(caller.domain_id, user_id, "KMS Administrator")
    return dataclasses.replace(memory_services, policies=policies)


def _key(services: Services, caller: Caller) -> str:
    body = CreateKeyRequestBody(key_alias=f"k-{uuid.uuid4().hex[:12]}")
    return create_key(body, caller, services).key_info.key_id


def _record(services: Services, caller: Caller, key_id: str) -> KeyRecord:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    return record


def _grant(services: Services, caller: Caller, key_id: str, *operations: str, **fields: Any) -> str:
    body = {
        "key_id": key_id,
        "grantee_principal": USER,
        "operations": list(operations or ["describe-key"]),
        **fields,
    }
    return create_grant(
        parse_body(CreateGrantRequestBody, body), _as(caller, "create-grant"), services
    ).grant_id


def _revoke(services: Services, caller: Caller, key_id: str, grant_id: str) -> None:
    revoke_grant(
        parse_body(RevokeGrantRequestBody, {"key_id": key_id, "grant_id": grant_id}),
        _as(caller, "revoke-grant"),
        services,
    )


def _retire(services: Services, caller: Caller, key_id: str, grant_id: str) -> None:
    retire_grant(
        parse_body(RevokeGrantRequestBody, {"key_id": key_id, "grant_id": grant_id}),
        _as(caller, "retire-grant"),
        services,
    )


def _listed(services: Services, caller: Caller, **body: Any) -> dict[str, Any]:
    answer = list_grants(parse_body(ListGrantsRequestBody, body), _as(caller, "list-grants"), services)
    return answer.model_dump(mode="json", exclude_none=True)


def _retirable(services: Services, caller: Caller, **body: Any) -> dict[str, Any]:
    answer = list_retirable_grants(
        parse_body(ListRetirableGrantsRequestBody, body), _as(caller, "list-retirable-grants"), services
    )
    return answer.model_dump(mode="json", exclude_none=True)


def _code(call: Any) -> str:
    with pytest.raises(errors.KmsError) as raised:
        call()
    return raised.value.code


# -- create-grant -----------------------------------------------------------------------------------


def test_a_grant_is_created_and_listed_with_the_sdk_fields(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    before = now_ms()
    grant_id = _grant(
        memory_services,
        caller,
        key_id,
        "encrypt-data",
        "decrypt-data",
        name="app-1",
        retiring_principal=OTHER_USER,
    )
    assert len(grant_id) == 64
    assert int(grant_id, 16) >= 0
    listed = _listed(memory_services, caller, key_id=key_id)
    assert listed["total"] == 1
    assert (listed["truncated"], listed["next_marker"]) == ("false", "")
    (grant,) = listed["grants"]
    assert before <= int(grant.pop("creation_date")) <= now_ms()
    assert grant == {
        "key_id": key_id,
        "grant_id": grant_id,
        "grantee_principal": USER,
        "grantee_principal_type": "user",
        "operations": ["encrypt-data", "decrypt-data"],
        "issuing_principal": caller.domain_id,  # the account issues as its domain
        "name": "app-1",
        "retiring_principal": OTHER_USER,
    }


def test_the_issuer_is_the_user_id_of_a_user(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _grant(memory_services, _user(caller, OTHER_USER), key_id)
    assert _listed(memory_services, caller, key_id=key_id)["grants"][0]["issuing_principal"] == OTHER_USER


@pytest.mark.parametrize(
    ("operations", "code"),
    [
        ([], "KMS.2401"),
        (["create-grant"], "KMS.2401"),
        (["create-grant", "create-grant"], "KMS.2401"),
        (["re-encrypt"], "KMS.0308"),
        (["describe-key", "sign"], "KMS.0308"),
        (["list-grants"], "KMS.0308"),
    ],
)
def test_bad_operations_are_refused(
    memory_services: Services, caller: Caller, operations: list[str], code: str
) -> None:
    key_id = _key(memory_services, caller)
    body = {"key_id": key_id, "grantee_principal": USER, "operations": operations}
    assert (
        _code(lambda: create_grant(parse_body(CreateGrantRequestBody, body), caller, memory_services)) == code
    )
    assert _listed(memory_services, caller, key_id=key_id)["total"] == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"grantee_principal": "not-alnum"}, "KMS.2402"),
        ({"grantee_principal": "a" * 65}, "KMS.2402"),
        ({"grantee_principal": ""}, "KMS.2402"),
        ({"retiring_principal": "x y"}, "KMS.2402"),
        ({"grantee_principal_type": "group"}, "KMS.0308"),
        ({"name": "bad name"}, "KMS.0308"),
        ({"key_id": "not-a-key"}, "KMS.0205"),
        ({"operations": "describe-key"}, "KMS.0308"),
    ],
)
def test_bad_fields_are_refused(
    memory_services: Services, caller: Caller, fields: dict[str, Any], code: str
) -> None:
    key_id = _key(memory_services, caller)
    body = {"key_id": key_id, "grantee_principal": USER, "operations": ["describe-key"], **fields}
    assert (
        _code(lambda: create_grant(parse_body(CreateGrantRequestBody, body), caller, memory_services)) == code
    )


def test_the_key_must_be_enabled_and_not_a_default_key(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    disabled, pending = _key(services, caller), _key(services, caller)
    disable_key(OperateKeyRequestBody(key_id=disabled), caller, services)
    schedule_key_deletion(ScheduleKeyDeletionRequestBody(key_id=pending, pending_days="7"), caller, services)
    assert _code(lambda: _grant(services, caller, disabled)) == "KMS.0209"
    assert _code(lambda: _grant(services, caller, pending)) == "KMS.0210"
    default = resolve_default_key(services, caller, "obs/default")
    assert _code(lambda: _grant(services, caller, default)) == "KMS.0211"
    assert _code(lambda: _grant(services, caller, str(uuid.uuid4()))) == "KMS.0207"
    other_project = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="r")
    assert _code(lambda: _grant(services, other_project, _key(services, caller))) == "KMS.0207"


def test_the_101st_grant_on_a_key_is_refused(memory_services: Services, caller: Caller) -> None:
    key_id, other = _key(memory_services, caller), _key(memory_services, caller)
    for _ in range(GRANTS_PER_KEY):
        _grant(memory_services, caller, key_id)
    assert _code(lambda: _grant(memory_services, caller, key_id)) == "KMS.2404"
    assert _listed(memory_services, caller, key_id=key_id)["total"] == GRANTS_PER_KEY
    _grant(memory_services, caller, other)  # per key
    quotas = show_user_quotas(EmptyRequestBody(), caller, memory_services).model_dump()["quotas"]["resources"]
    assert {"type": "grant_per_CMK", "used": GRANTS_PER_KEY, "quota": GRANTS_PER_KEY} in quotas


def test_user_quotas_report_the_fullest_key(memory_services: Services, caller: Caller) -> None:
    def used() -> int:
        resources = show_user_quotas(EmptyRequestBody(), caller, memory_services).quotas.resources
        return next(r.used for r in resources if r.type == "grant_per_CMK")

    assert used() == 0
    key_id = _key(memory_services, caller)
    grant_ids = [_grant(memory_services, caller, key_id) for _ in range(3)]
    _grant(memory_services, caller, _key(memory_services, caller))
    assert used() == 3
    _revoke(memory_services, caller, key_id, grant_ids[0])
    assert used() == 2


# -- revoke-grant and retire-grant --------------------------------------------------------------


def test_revoke_removes_the_grant_and_checks_the_pair(memory_services: Services, caller: Caller) -> None:
    key_id, other_key = _key(memory_services, caller), _key(memory_services, caller)
    grant_id = _grant(memory_services, caller, key_id)
    assert _code(lambda: _revoke(memory_services, caller, other_key, grant_id)) == "KMS.2502"
    assert _code(lambda: _revoke(memory_services, caller, key_id, "zz")) == "KMS.2501"
    assert _code(lambda: _revoke(memory_services, caller, key_id, "0" * 63)) == "KMS.2501"
    _revoke(memory_services, caller, key_id, grant_id.upper())  # hex in either case
    assert _listed(memory_services, caller, key_id=key_id)["total"] == 0
    assert _code(lambda: _revoke(memory_services, caller, key_id, grant_id)) == "KMS.2502"  # gone


def test_revoke_works_on_a_disabled_key(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    grant_id = _grant(memory_services, caller, key_id)
    disable_key(OperateKeyRequestBody(key_id=key_id), caller, memory_services)
    _revoke(memory_services, caller, key_id, grant_id)
    assert _listed(memory_services, caller, key_id=key_id)["total"] == 0


def test_who_may_retire(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    key_id = _key(services, caller)
    issuer, retirer, grantee, stranger = (
        _user(caller, "a" * 32),
        _user(caller, "b" * 32),
        _user(caller, USER),
        _user(caller, "c" * 32),
    )
    plain = _grant(services, issuer, key_id, "describe-key", retiring_principal="b" * 32)
    self_retiring = _grant(services, caller, key_id, "describe-key", "retire-grant")
    # The grantee of a grant without retire-grant, and a stranger, may not (403)
    assert _code(lambda: _retire(services, grantee, key_id, plain)) == "KMS.0307"
    assert _code(lambda: _retire(services, stranger, key_id, self_retiring)) == "KMS.0307"
    # A grant id not of the key is a mismatch
    assert _code(lambda: _retire(services, retirer, key_id, "f" * 64)) == "KMS.2502"
    assert _code(lambda: _retire(services, retirer, _key(services, caller), plain)) == "KMS.2502"
    # The retiring principal may; the grantee of a grant holding retire-grant may
    _retire(services, retirer, key_id, plain)
    _retire(services, grantee, key_id, self_retiring)
    assert _listed(services, caller, key_id=key_id)["total"] == 0


def test_the_issuer_may_retire(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    issuer = _user(caller, "a" * 32)
    grant_id = _grant(memory_services, issuer, key_id)
    _retire(memory_services, issuer, key_id, grant_id)
    assert _listed(memory_services, caller, key_id=key_id)["total"] == 0


def test_a_domain_grantee_of_another_domain_retires_by_the_bare_key_id(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _key(memory_services, caller)
    grant_id = _grant(
        memory_services,
        caller,
        key_id,
        "encrypt-data",
        "retire-grant",
        grantee_principal=OTHER_DOMAIN,
        grantee_principal_type="domain",
    )
    foreigner = _user(caller, OTHER_USER, domain_id=OTHER_DOMAIN, project_id=OTHER_PROJECT_ID)
    assert [g["grant_id"] for g in _retirable(memory_services, foreigner)["grants"]] == [grant_id]
    _retire(memory_services, foreigner, key_id, grant_id)
    assert _listed(memory_services, caller, key_id=key_id)["total"] == 0


# -- listings -----------------------------------------------------------------------------------------


def test_list_grants_pages_with_markers(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    made = sorted(_grant(memory_services, caller, key_id) for _ in range(5))
    seen: list[str] = []
    marker = ""
    pages = 0
    while True:
        page = _listed(memory_services, caller, key_id=key_id, limit="2", marker=marker)
        assert page["total"] == 5
        seen += [grant["grant_id"] for grant in page["grants"]]
        pages += 1
        if page["truncated"] == "false":
            assert page["next_marker"] == ""
            break
        marker = page["next_marker"]
    assert (seen, pages) == (made, 3)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"limit": "0"}, "KMS.1601"),
        ({"limit": "101"}, "KMS.1601"),
        ({"limit": "-1"}, "KMS.1601"),
        ({"marker": "10"}, "KMS.1602"),
        ({"marker": "!!"}, "KMS.1602"),
    ],
)
def test_bad_limits_and_markers_are_refused(
    memory_services: Services, caller: Caller, fields: dict[str, str], code: str
) -> None:
    key_id = _key(memory_services, caller)
    assert _code(lambda: _listed(memory_services, caller, key_id=key_id, **fields)) == code
    assert _code(lambda: _retirable(memory_services, caller, **fields)) == code


def test_a_marker_of_another_listing_is_refused(memory_services: Services, caller: Caller) -> None:
    key_a, key_b = _key(memory_services, caller), _key(memory_services, caller)
    for _ in range(2):
        _grant(memory_services, caller, key_a)
    marker = _listed(memory_services, caller, key_id=key_a, limit="1")["next_marker"]
    assert marker
    assert _code(lambda: _listed(memory_services, caller, key_id=key_b, marker=marker)) == "KMS.1602"
    assert _code(lambda: _retirable(memory_services, caller, marker=marker)) == "KMS.1602"


def test_list_grants_of_another_project_s_key_is_not_found(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    other = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="r")
    assert _code(lambda: _listed(memory_services, other, key_id=key_id)) == "KMS.0207"


def test_list_retirable_is_what_the_caller_may_retire(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    key_id = _key(services, caller)
    mine = _grant(services, caller, key_id, retiring_principal=OTHER_USER)
    self_retiring = _grant(services, caller, key_id, "describe-key", "retire-grant")
    _grant(services, _user(caller, "a" * 32), key_id)  # issued by someone else, nothing for USER
    assert [g["grant_id"] for g in _retirable(services, _user(caller, OTHER_USER))["grants"]] == [mine]
    assert [g["grant_id"] for g in _retirable(services, _user(caller, USER))["grants"]] == [self_retiring]
    account = _retirable(services, caller, limit="1")  # the issuer of two
    assert (account["total"], account["truncated"], len(account["grants"])) == (2, "true", 1)
    rest = _retirable(services, caller, limit="1", marker=account["next_marker"])
    assert {account["grants"][0]["grant_id"], rest["grants"][0]["grant_id"]} == {mine, self_retiring}


def test_the_sweep_removes_a_deleted_key_s_grants(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    kept, deleted = _key(services, caller), _key(services, caller)
    _grant(services, caller, kept)
    _grant(services, caller, deleted, retiring_principal=OTHER_USER)
    schedule_key_deletion(ScheduleKeyDeletionRequestBody(key_id=deleted, pending_days="7"), caller, services)
    assert sweep(services, now=now_ms() + 8 * 86_400_000).deleted == 1
    assert services.stores.grants.count_key_grants(caller.project_id, deleted) == 0
    assert services.stores.grants.grants_held("user", USER, deleted) == []
    assert _retirable(services, _user(caller, OTHER_USER))["total"] == 0
    assert services.stores.grants.count_key_grants(caller.project_id, kept) == 1


# -- the grant decision -------------------------------------------------------------------------------


def test_a_grant_unlocks_exactly_its_operations(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    key_id, other_key = _key(services, caller), _key(services, caller)
    _grant(services, caller, key_id, "describe-key", "encrypt-data", "decrypt-data")
    user, key = _user(caller), _record(services, caller, key_id)
    allowed = {
        op for op in ("describe-key", "encrypt-data", "decrypt-data") if grant_allows(services, user, key, op)
    }
    assert allowed == {"describe-key", "encrypt-data", "decrypt-data"}
    for refused in (
        "create-datakey",
        "re-encrypt",
        "sign",
        "list-grants",
        "create-grant",
        "retire-grant",
        "disable-key",
        "schedule-key-deletion",
    ):
        assert not grant_allows(services, user, key, refused), refused
    assert not grant_allows(services, user, _record(services, caller, other_key), "describe-key")
    assert not grant_allows(services, _user(caller, OTHER_USER), key, "describe-key")


def test_every_grant_operation_unlocks_its_api_operation(memory_services: Services, caller: Caller) -> None:
    services = memory_services
    for grant_operation, unlocked in UNLOCKS.items():
        key_id = _key(services, caller)
        _grant(
            services,
            caller,
            key_id,
            grant_operation,
            *([] if grant_operation != "create-grant" else ["describe-key"]),
        )
        for operation in unlocked:
            assert grant_allows(services, _user(caller), _record(services, caller, key_id), operation)


def test_several_grants_add_up(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _grant(memory_services, caller, key_id, "encrypt-data")
    _grant(memory_services, caller, key_id, "decrypt-data")
    key = _record(memory_services, caller, key_id)
    assert grant_allows(memory_services, _user(caller), key, "encrypt-data")
    assert grant_allows(memory_services, _user(caller), key, "decrypt-data")


def test_a_domain_grant_unlocks_for_every_user_of_that_domain(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _key(memory_services, caller)
    _grant(
        memory_services,
        caller,
        key_id,
        "encrypt-data",
        grantee_principal=OTHER_DOMAIN,
        grantee_principal_type="domain",
    )
    key = _record(memory_services, caller, key_id)
    for user_id in (USER, OTHER_USER):
        assert grant_allows(
            memory_services, _user(caller, user_id, domain_id=OTHER_DOMAIN), key, "encrypt-data"
        )
    assert not grant_allows(memory_services, _user(caller, USER), key, "encrypt-data")  # not of that domain


def test_a_sub_grant_stays_within_the_parent(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _grant(memory_services, caller, key_id, "create-grant", "encrypt-data", "decrypt-data")
    user, key = _user(caller), _record(memory_services, caller, key_id)
    assert grant_allows(memory_services, user, key, "create-grant", grant_operations=["encrypt-data"])
    assert grant_allows(
        memory_services, user, key, "create-grant", grant_operations=["create-grant", "decrypt-data"]
    )
    assert not grant_allows(memory_services, user, key, "create-grant", grant_operations=["create-datakey"])


def test_a_revoke_takes_effect_within_the_cache_time(memory_services: Services, caller: Caller) -> None:
    now = [0.0]
    cache: TtlLruCache[Any] = TtlLruCache(64, 2.0, clock=lambda: now[0])
    services = dataclasses.replace(memory_services, grants_held=cache)
    key_id = _key(services, caller)
    grant_id = _grant(services, caller, key_id, "encrypt-data")
    user, key = _user(caller), _record(services, caller, key_id)
    assert grant_allows(services, user, key, "encrypt-data")
    # Another process revokes it (this one's cache is not told)
    other_process = dataclasses.replace(memory_services, grants_held=None)
    _revoke(other_process, caller, key_id, grant_id)
    assert grant_allows(services, user, key, "encrypt-data")  # still cached
    now[0] = 2.0
    assert not grant_allows(services, user, key, "encrypt-data")  # within the cache time, refused


def test_a_revoke_in_this_process_takes_effect_at_once(memory_services: Services, caller: Caller) -> None:
    cache: TtlLruCache[Any] = TtlLruCache(64, 60.0)
    services = dataclasses.replace(memory_services, grants_held=cache)
    key_id = _key(services, caller)
    grant_id = _grant(services, caller, key_id, "encrypt-data")
    user, key = _user(caller), _record(services, caller, key_id)
    assert grant_allows(services, user, key, "encrypt-data")
    _revoke(services, caller, key_id, grant_id)
    assert not grant_allows(services, user, key, "encrypt-data")


def test_find_granted_key_finds_a_foreign_key_only_through_a_grant(
    memory_services: Services, caller: Caller
) -> None:
    key_id, ungranted = _key(memory_services, caller), _key(memory_services, caller)
    grant_id = _grant(memory_services, caller, key_id, "encrypt-data", grantee_principal=OTHER_USER)
    foreigner = _user(caller, OTHER_USER, domain_id=OTHER_DOMAIN, project_id=OTHER_PROJECT_ID)
    found = find_granted_key(memory_services, foreigner, key_id)
    assert found is not None
    assert (found.project_id, found.domain_id, found.key_id) == (caller.project_id, caller.domain_id, key_id)
    assert [grant.grant_id for grant in found.grants] == [grant_id]
    assert find_granted_key(memory_services, foreigner, ungranted) is None
    assert find_granted_key(memory_services, _user(caller, USER, domain_id=OTHER_DOMAIN), key_id) is None
