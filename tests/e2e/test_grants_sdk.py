"""The official Huawei Cloud SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: grants, spec §7
ops 28-32 (create, revoke, retire, list, list-retirable), with the rules of access-control.md §3 and
the KMS.24xx/25xx codes of §F2, by the account. (Enforcement for a user holding only a grant comes
with the IAM users of issue 11.)

The module runs its own server, so list-retirable-grants sees only this module's grants.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CancelGrantRequest,
    CancelSelfGrantRequest,
    CreateGrantRequest,
    CreateGrantRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DisableKeyRequest,
    KmsClient,
    ListGrantsRequest,
    ListGrantsRequestBody,
    ListRetirableGrantsRequest,
    ListRetirableGrantsRequestBody,
    OperateKeyRequestBody,
    RevokeGrantRequestBody,
    ShowUserQuotasRequest,
)

pytestmark = pytest.mark.e2e

GRANTEE = "0d0466b00d0466b00d0466b00d0466b0"


@pytest.fixture(scope="module")
def client(sdk_client_factory: Callable[..., KmsClient], module_server: Any) -> KmsClient:
    return sdk_client_factory(module_server.base_url)


def create_key(client: KmsClient) -> tuple[str, str]:
    body = CreateKeyRequestBody(key_alias=f"sdk-grant-{uuid.uuid4().hex[:12]}")
    info = client.create_key(CreateKeyRequest(body=body)).key_info
    return info.key_id, info.domain_id


def grant(client: KmsClient, key_id: str, operations: list[str], **fields: Any) -> str:
    body = CreateGrantRequestBody(key_id=key_id, grantee_principal=GRANTEE, operations=operations, **fields)
    grant_id = client.create_grant(CreateGrantRequest(body=body)).grant_id
    assert isinstance(grant_id, str)
    return grant_id


def listed(client: KmsClient, key_id: str, limit: str | None = None, marker: str | None = None) -> Any:
    return client.list_grants(
        ListGrantsRequest(body=ListGrantsRequestBody(key_id=key_id, limit=limit, marker=marker))
    )


def refused(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientRequestException) as raised:
        call()
    return raised.value.status_code, raised.value.error_code


def test_the_grant_lifecycle_by_the_account(client: KmsClient) -> None:
    # Given a key and two grants on it, one retirable by the account itself
    key_id, domain_id = create_key(client)
    revoked = grant(client, key_id, ["describe-key", "encrypt-data", "decrypt-data"], name="app-1")
    retired = grant(client, key_id, ["create-datakey"], retiring_principal=domain_id)
    # When they are listed one per page
    first = listed(client, key_id, limit="1")
    second = listed(client, key_id, limit="1", marker=first.next_marker)
    # Then the pages hold both, in grant-id order, with the wire types of the SDK
    assert (first.truncated, first.total, second.truncated, second.next_marker) == ("true", 2, "false", "")
    by_id = {g.grant_id: g for g in first.grants + second.grants}
    assert sorted(by_id) == sorted([revoked, retired])
    assert [g.grant_id for g in first.grants + second.grants] == sorted(by_id)
    shown = by_id[revoked]
    assert (shown.key_id, shown.grantee_principal, shown.grantee_principal_type) == (key_id, GRANTEE, "user")
    assert shown.operations == ["describe-key", "encrypt-data", "decrypt-data"]
    assert (shown.issuing_principal, shown.name, shown.retiring_principal) == (domain_id, "app-1", None)
    assert shown.creation_date.isdigit()
    assert len(shown.creation_date) == 13  # epoch ms
    assert by_id[retired].retiring_principal == domain_id
    # And the account may retire both (it issued them)
    retirable = client.list_retirable_grants(
        ListRetirableGrantsRequest(body=ListRetirableGrantsRequestBody())
    )
    assert {revoked, retired} <= {g.grant_id for g in retirable.grants}
    assert retirable.total == len(retirable.grants)
    # When one is retired by its retiring principal and the other revoked
    client.cancel_self_grant(
        CancelSelfGrantRequest(body=RevokeGrantRequestBody(key_id=key_id, grant_id=retired))
    )
    client.cancel_grant(CancelGrantRequest(body=RevokeGrantRequestBody(key_id=key_id, grant_id=revoked)))
    # Then none is left, and doing either again is a mismatch
    after = listed(client, key_id)
    assert (after.grants, after.total, after.truncated) == ([], 0, "false")
    again = RevokeGrantRequestBody(key_id=key_id, grant_id=revoked)
    assert refused(lambda: client.cancel_grant(CancelGrantRequest(body=again))) == (400, "KMS.2502")
    assert refused(lambda: client.cancel_self_grant(CancelSelfGrantRequest(body=again))) == (400, "KMS.2502")


def test_the_101st_grant_is_refused_and_user_quotas_count_them(client: KmsClient) -> None:
    key_id, _ = create_key(client)
    for _ in range(100):
        grant(client, key_id, ["describe-key"])
    assert refused(lambda: grant(client, key_id, ["describe-key"])) == (400, "KMS.2404")
    assert listed(client, key_id).total == 100
    resources = client.show_user_quotas(ShowUserQuotasRequest()).quotas.resources
    quota = next(r for r in resources if r.type == "grant_per_CMK")
    assert (quota.used, quota.quota) == (100, 100)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"operations": ["create-grant"]}, (400, "KMS.2401")),
        ({"operations": []}, (400, "KMS.2401")),
        ({"operations": ["sign"]}, (400, "KMS.0308")),
        ({"grantee_principal": "not-an-id!"}, (400, "KMS.2402")),
        ({"retiring_principal": "x" * 65}, (400, "KMS.2402")),
    ],
)
def test_bad_grants_are_refused(client: KmsClient, fields: dict[str, Any], expected: tuple[int, str]) -> None:
    key_id, _ = create_key(client)
    body = CreateGrantRequestBody(
        **{"key_id": key_id, "grantee_principal": GRANTEE, "operations": ["describe-key"], **fields}
    )
    assert refused(lambda: client.create_grant(CreateGrantRequest(body=body))) == expected
    assert listed(client, key_id).total == 0


def test_a_disabled_key_cannot_be_granted_and_a_bad_grant_id_is_refused(client: KmsClient) -> None:
    key_id, _ = create_key(client)
    client.disable_key(DisableKeyRequest(body=OperateKeyRequestBody(key_id=key_id)))
    assert refused(lambda: grant(client, key_id, ["describe-key"])) == (400, "KMS.0209")
    bad = RevokeGrantRequestBody(key_id=key_id, grant_id="not-hex")
    assert refused(lambda: client.cancel_grant(CancelGrantRequest(body=bad))) == (400, "KMS.2501")
    bad_marker = ListGrantsRequestBody(key_id=key_id, marker="10")
    assert refused(lambda: client.list_grants(ListGrantsRequest(body=bad_marker))) == (400, "KMS.1602")
