"""The GrantStore contract: grants on keys (spec §7, access-control.md §3), records of their own.

Every adapter (memory, SQLite, DynamoDB under moto) must pass all of it, the threaded tests on the
real engines (see tests/contract/conftest.py); the rules come from :mod:`skms.storage.port.grants`.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import pytest

from skms.storage.port import (
    GRANTEE_DOMAIN,
    GRANTEE_USER,
    GrantLimitExceeded,
    GrantRecord,
    GrantStore,
    Stores,
    domain_retirer,
    principal_retirer,
)
from tests.contract.conftest import run_threads

PROJECT = "p" * 32
OTHER_PROJECT = "q" * 32
DOMAIN = "d" * 32
OTHER_DOMAIN = "e" * 32
KEY_A = "aaaaaaaa-0000-4000-8000-000000000001"
KEY_B = "bbbbbbbb-0000-4000-8000-000000000002"
ISSUER = "1" * 32
GRANTEE = "2" * 32
RETIRER = "3" * 32


@pytest.fixture
def grants(stores: Stores) -> GrantStore:
    return stores.grants


def new_grant(key_id: str = KEY_A, project_id: str = PROJECT, **changes: Any) -> GrantRecord:
    grant = GrantRecord(
        grant_id=secrets.token_hex(32),
        key_id=key_id,
        project_id=project_id,
        domain_id=DOMAIN,
        name="a-grant",
        grantee_principal=GRANTEE,
        grantee_principal_type=GRANTEE_USER,
        operations=("describe-key", "encrypt-data"),
        issuing_principal=ISSUER,
        retiring_principal="",
        creation_date=1_700_000_000_000,
    )
    return dataclasses.replace(grant, **changes)


def add(store: GrantStore, *grants: GrantRecord, limit: int = 100) -> list[GrantRecord]:
    for grant in grants:
        store.create_grant(grant, max_per_key=limit)
    return list(grants)


def ids(grants: list[GrantRecord]) -> list[str]:
    return [grant.grant_id for grant in grants]


# -- one grant -------------------------------------------------------------------------------------


def test_a_grant_round_trips(grants: GrantStore) -> None:
    grant = new_grant(retiring_principal=RETIRER, operations=("create-grant", "retire-grant", "decrypt-data"))
    add(grants, grant)
    assert grants.get_grant(PROJECT, KEY_A, grant.grant_id) == grant
    assert grants.count_key_grants(PROJECT, KEY_A) == 1


def test_a_grant_is_found_only_on_its_own_key_and_project(grants: GrantStore) -> None:
    (grant,) = add(grants, new_grant())
    assert grants.get_grant(PROJECT, KEY_B, grant.grant_id) is None
    assert grants.get_grant(OTHER_PROJECT, KEY_A, grant.grant_id) is None
    assert grants.get_grant(PROJECT, KEY_A, "0" * 64) is None


def test_delete_grant_removes_it_and_its_count(grants: GrantStore) -> None:
    first, second = add(grants, new_grant(), new_grant())
    assert grants.delete_grant(PROJECT, KEY_A, first.grant_id) is True
    assert grants.get_grant(PROJECT, KEY_A, first.grant_id) is None
    assert grants.count_key_grants(PROJECT, KEY_A) == 1
    assert grants.delete_grant(PROJECT, KEY_A, first.grant_id) is False  # already gone
    assert grants.delete_grant(PROJECT, KEY_B, second.grant_id) is False  # not this key's
    assert ids(grants.grants_held(GRANTEE_USER, GRANTEE, KEY_A)) == [second.grant_id]


# -- by key ------------------------------------------------------------------------------------------


def test_list_key_grants_pages_in_grant_id_order(grants: GrantStore) -> None:
    made = add(grants, *(new_grant() for _ in range(5)))
    add(grants, new_grant(KEY_B), new_grant(project_id=OTHER_PROJECT))
    expected = sorted(ids(made))
    first = grants.list_key_grants(PROJECT, KEY_A, 2)
    assert ids(first.grants) == expected[:2]
    assert first.total == 5
    assert first.next_after == expected[1]
    second = grants.list_key_grants(PROJECT, KEY_A, 2, first.next_after)
    assert ids(second.grants) == expected[2:4]
    last = grants.list_key_grants(PROJECT, KEY_A, 2, second.next_after)
    assert ids(last.grants) == expected[4:]
    assert last.next_after is None
    whole = grants.list_key_grants(PROJECT, KEY_A, 5)
    assert ids(whole.grants) == expected
    assert whole.next_after is None


def test_a_key_without_grants_lists_none(grants: GrantStore) -> None:
    page = grants.list_key_grants(PROJECT, KEY_A, 10)
    assert (page.grants, page.next_after, page.total) == ([], None, 0)
    assert grants.count_key_grants(PROJECT, KEY_A) == 0


def test_the_limit_per_key_refuses_the_next_grant_and_writes_nothing(grants: GrantStore) -> None:
    add(grants, *(new_grant() for _ in range(3)), limit=3)
    refused = new_grant()
    with pytest.raises(GrantLimitExceeded):
        grants.create_grant(refused, max_per_key=3)
    assert grants.get_grant(PROJECT, KEY_A, refused.grant_id) is None
    assert grants.count_key_grants(PROJECT, KEY_A) == 3
    assert refused.grant_id not in ids(grants.grants_held(GRANTEE_USER, GRANTEE, KEY_A))
    add(grants, new_grant(KEY_B), limit=3)  # another key has its own count


def test_a_deleted_grant_frees_its_place_under_the_limit(grants: GrantStore) -> None:
    made = add(grants, new_grant(), new_grant(), limit=2)
    grants.delete_grant(PROJECT, KEY_A, made[0].grant_id)
    add(grants, new_grant(), limit=2)
    assert grants.count_key_grants(PROJECT, KEY_A) == 2


def test_delete_key_grants_removes_every_grant_of_the_key_only(grants: GrantStore) -> None:
    add(grants, *(new_grant(retiring_principal=RETIRER) for _ in range(3)))
    (kept,) = add(grants, new_grant(KEY_B, retiring_principal=RETIRER))
    assert grants.delete_key_grants(PROJECT, KEY_A) == 3
    assert grants.list_key_grants(PROJECT, KEY_A, 10).grants == []
    assert grants.count_key_grants(PROJECT, KEY_A) == 0
    assert grants.grants_held(GRANTEE_USER, GRANTEE, KEY_A) == []
    assert ids(grants.list_retirable([principal_retirer(RETIRER)], 10).grants) == [kept.grant_id]
    assert grants.delete_key_grants(PROJECT, KEY_A) == 0


def test_max_grants_per_key_is_the_fullest_key_of_the_project(grants: GrantStore) -> None:
    assert grants.max_grants_per_key(PROJECT) == 0
    add(grants, new_grant(KEY_A), *(new_grant(KEY_B) for _ in range(3)))
    add(grants, *(new_grant(project_id=OTHER_PROJECT) for _ in range(5)))
    assert grants.max_grants_per_key(PROJECT) == 3
    for grant in grants.list_key_grants(PROJECT, KEY_B, 10).grants:
        grants.delete_grant(PROJECT, KEY_B, grant.grant_id)
    assert grants.max_grants_per_key(PROJECT) == 1


# -- by grantee --------------------------------------------------------------------------------------


def test_grants_held_are_those_of_the_grantee_on_the_key_in_any_project(grants: GrantStore) -> None:
    mine = add(grants, new_grant(), new_grant(project_id=OTHER_PROJECT))
    add(grants, new_grant(grantee_principal=RETIRER), new_grant(KEY_B))
    (by_domain,) = add(
        grants, new_grant(grantee_principal=OTHER_DOMAIN, grantee_principal_type=GRANTEE_DOMAIN)
    )
    held = grants.grants_held(GRANTEE_USER, GRANTEE, KEY_A)
    assert ids(held) == sorted(ids(mine))
    assert {grant.project_id for grant in held} == {PROJECT, OTHER_PROJECT}
    assert grants.grants_held(GRANTEE_DOMAIN, OTHER_DOMAIN, KEY_A) == [by_domain]
    assert grants.grants_held(GRANTEE_USER, OTHER_DOMAIN, KEY_A) == []  # the type is part of the match


# -- who may retire ----------------------------------------------------------------------------------


def test_retirable_by_issuer_retiring_principal_and_grantee_with_retire_grant(grants: GrantStore) -> None:
    plain, with_retirer, self_retiring = add(
        grants,
        new_grant(),
        new_grant(retiring_principal=RETIRER),
        new_grant(operations=("encrypt-data", "retire-grant")),
    )
    issuer = grants.list_retirable([principal_retirer(ISSUER)], 10)
    assert ids(issuer.grants) == sorted(ids([plain, with_retirer, self_retiring]))
    assert issuer.total == 3
    assert ids(grants.list_retirable([principal_retirer(RETIRER)], 10).grants) == [with_retirer.grant_id]
    assert ids(grants.list_retirable([principal_retirer(GRANTEE)], 10).grants) == [self_retiring.grant_id]
    assert grants.retirable_grant([principal_retirer(GRANTEE)], plain.grant_id) is None
    assert grants.retirable_grant([principal_retirer(RETIRER)], with_retirer.grant_id) == with_retirer


def test_a_domain_grantee_with_retire_grant_is_retirable_by_its_domain(grants: GrantStore) -> None:
    (grant,) = add(
        grants,
        new_grant(
            grantee_principal=OTHER_DOMAIN,
            grantee_principal_type=GRANTEE_DOMAIN,
            operations=("retire-grant", "describe-key"),
        ),
    )
    assert grants.retirable_grant([domain_retirer(OTHER_DOMAIN)], grant.grant_id) == grant
    assert grants.retirable_grant([principal_retirer(OTHER_DOMAIN)], grant.grant_id) is None


def test_list_retirable_counts_each_grant_once_and_pages(grants: GrantStore) -> None:
    # the caller is both the issuer and the retiring principal of some: each once in the listing
    me = ISSUER
    made = add(
        grants,
        *(new_grant(retiring_principal=me) for _ in range(3)),
        new_grant(KEY_B, project_id=OTHER_PROJECT),
        new_grant(
            issuing_principal=RETIRER,
            grantee_principal=DOMAIN,
            grantee_principal_type=GRANTEE_DOMAIN,
            operations=("retire-grant", "encrypt-data"),
        ),
    )
    add(grants, new_grant(issuing_principal=RETIRER))  # not mine
    names = [principal_retirer(me), domain_retirer(DOMAIN)]
    expected = sorted(ids(made))
    first = grants.list_retirable(names, 3)
    assert ids(first.grants) == expected[:3]
    assert first.total == 5
    assert first.next_after == expected[2]
    rest = grants.list_retirable(names, 3, first.next_after)
    assert ids(rest.grants) == expected[3:]
    assert rest.next_after is None
    assert grants.list_retirable([], 3).grants == []


def test_a_deleted_grant_is_no_longer_retirable(grants: GrantStore) -> None:
    (grant,) = add(grants, new_grant(retiring_principal=RETIRER))
    grants.delete_grant(PROJECT, KEY_A, grant.grant_id)
    assert grants.retirable_grant([principal_retirer(RETIRER)], grant.grant_id) is None
    assert grants.list_retirable([principal_retirer(RETIRER), principal_retirer(ISSUER)], 10).total == 0


# -- concurrency -------------------------------------------------------------------------------------


def test_two_concurrent_creates_at_99_never_make_101(threaded_stores: Stores) -> None:
    store = threaded_stores.grants
    add(store, *(new_grant() for _ in range(99)))
    racing = [new_grant(), new_grant()]
    errors = run_threads(2, lambda index: store.create_grant(racing[index], max_per_key=100))
    assert len(errors) == 1
    assert isinstance(errors[0], GrantLimitExceeded)
    assert store.count_key_grants(PROJECT, KEY_A) == 100
    assert store.list_key_grants(PROJECT, KEY_A, 200).total == 100
    assert len(store.list_key_grants(PROJECT, KEY_A, 200).grants) == 100


def test_many_concurrent_creates_stop_exactly_at_the_limit(threaded_stores: Stores) -> None:
    store = threaded_stores.grants
    errors = run_threads(16, lambda _index: store.create_grant(new_grant(), max_per_key=10))
    assert len(errors) == 6
    assert all(isinstance(error, GrantLimitExceeded) for error in errors)
    assert len(store.list_key_grants(PROJECT, KEY_A, 100).grants) == 10


def test_the_limit_is_the_writes_condition_not_a_count_read_before_it(grants: GrantStore) -> None:
    # Every adapter (DynamoDB too, where moto cannot race threads) refuses at the limit even when
    # the count read just before said there was room: the check is part of the write.
    add(grants, *(new_grant() for _ in range(99)))
    assert grants.count_key_grants(PROJECT, KEY_A) == 99
    first, second = new_grant(), new_grant()
    grants.create_grant(first, max_per_key=100)
    with pytest.raises(GrantLimitExceeded):
        grants.create_grant(second, max_per_key=100)
    assert grants.count_key_grants(PROJECT, KEY_A) == 100
