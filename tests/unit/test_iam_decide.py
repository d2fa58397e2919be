"""Authorization of IAM users through the logic (the gate) and before it (operations on no key),
with a fake PolicySource (tests/support/policies.py): skms.iam.decide."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

import pytest

from skms import errors
from skms.caller import AuthMethod, Caller, Identity, PrincipalKind
from skms.iam.decide import authorize_request
from skms.logic.create_key import create_key
from skms.logic.data import encrypt_data, re_encrypt
from skms.logic.datakeys import create_datakey
from skms.logic.keys import describe_key, disable_key
from skms.logic.tags import create_kms_tag
from skms.models.base import WireModel, parse_body
from skms.models.data import EncryptDataRequestBody, ReEncryptRequestBody
from skms.models.datakeys import CreateDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import ListKeysRequestBody, OperateKeyRequestBody
from skms.models.tags import CreateKmsTagRequestBody
from skms.runtime import Services
from tests.conftest import PROJECT_ID
from tests.support.policies import FakePolicySource, document

DOMAIN = "d" * 32
USER_ID = "0d04a1b2c3d4e5f60718293a4b5c6d7e"
REGION = "local"  # Settings' default region_id


@pytest.fixture
def policies() -> FakePolicySource:
    return FakePolicySource()


@pytest.fixture
def iam(memory_services: Services, policies: FakePolicySource) -> Services:
    return dataclasses.replace(memory_services, policies=policies)


def account(operation: str = "") -> Caller:
    identity = Identity("AKACCOUNT", PrincipalKind.ACCOUNT, DOMAIN, AuthMethod.AKSK)
    return Caller(PROJECT_ID, DOMAIN, "req-account", principal=identity, operation=operation)


def user(operation: str) -> Caller:
    identity = Identity("AKUSER", PrincipalKind.USER, DOMAIN, AuthMethod.AKSK, user_id=USER_ID)
    return Caller(PROJECT_ID, DOMAIN, "req-user", principal=identity, operation=operation)


def body(model: type[WireModel], **fields: Any) -> Any:
    return parse_body(model, fields)


def new_key(services: Services, **fields: str) -> str:
    made = create_key(
        body(CreateKeyRequestBody, key_alias=f"k-{uuid.uuid4().hex[:8]}", **fields),
        account("create-key"),
        services,
    )
    return made.key_info.key_id


def urn(key_id: str) -> str:
    return f"kms:{REGION}:{DOMAIN}:KeyId:{key_id}"


def describe(services: Services, caller: Caller, key_id: str) -> Any:
    return describe_key(body(OperateKeyRequestBody, key_id=key_id), caller, services)


def datakey(services: Services, key_id: str) -> Any:
    return create_datakey(
        body(CreateDatakeyRequestBody, key_id=key_id, datakey_length="256"), user("create-datakey"), services
    )


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(errors.KmsError) as raised:
        call(*args)
    assert (raised.value.status, raised.value.code) == (403, "KMS.0307"), raised.value.message
    return raised.value.message


# -- a user with no policy ---------------------------------------------------------------------


def test_a_user_with_no_policy_is_refused_everything(iam: Services) -> None:
    key_id = new_key(iam)
    # On a key: the message names the user, the v5 action and the key's URN
    message = refused(describe, iam, user("describe-key"), key_id)
    assert (
        message
        == f"User {USER_ID} is not authorized to perform kms:cmk:get on {urn(key_id)}: no policy allows it."
    )
    refused(datakey, iam, key_id)
    # On no key: on *
    message = refused(authorize_request, iam, user("create-key"), body(CreateKeyRequestBody, key_alias="k"))
    assert message.endswith("perform kms:cmk:create on *: no policy allows it.")
    refused(authorize_request, iam, user("list-keys"), body(ListKeysRequestBody))


def test_without_a_policy_source_users_are_refused(memory_services: Services) -> None:
    assert memory_services.policies is None
    key_id = new_key(memory_services)
    refused(describe, memory_services, user("describe-key"), key_id)
    refused(authorize_request, memory_services, user("gen-random"), None)


def test_a_user_outside_a_known_operation_is_refused(iam: Services, policies: FakePolicySource) -> None:
    policies.attach(DOMAIN, USER_ID, "KMS Administrator")
    key_id = new_key(iam)
    for operation in ("", "no-such-operation"):
        refused(describe, iam, user(operation), key_id)
        refused(authorize_request, iam, user(operation), None)


def test_a_refused_user_learns_nothing_of_the_key_state(iam: Services) -> None:
    # Given a disabled key (describe would say KMS.0209 to whoever may use it)
    key_id = new_key(iam)
    disable_key(body(OperateKeyRequestBody, key_id=key_id), account("disable-key"), iam)
    # Then a user without rights gets 403, not the state's error
    refused(datakey, iam, key_id)


# -- system policies -----------------------------------------------------------------------------


def test_read_only_access_allows_describe_and_list_only(iam: Services, policies: FakePolicySource) -> None:
    policies.attach(DOMAIN, USER_ID, "KMS CMKReadOnlyAccess")
    key_id = new_key(iam)
    assert describe(iam, user("describe-key"), key_id).key_info.key_id == key_id
    authorize_request(iam, user("list-keys"), body(ListKeysRequestBody))
    refused(datakey, iam, key_id)
    refused(disable_key, body(OperateKeyRequestBody, key_id=key_id), user("disable-key"), iam)
    refused(authorize_request, iam, user("create-key"), body(CreateKeyRequestBody, key_alias="k"))
    refused(authorize_request, iam, user("gen-random"), None)


def test_administrator_allows_everything(iam: Services, policies: FakePolicySource) -> None:
    policies.attach(DOMAIN, USER_ID, "KMS Administrator")
    key_id = new_key(iam)
    assert datakey(iam, key_id).key_id == key_id
    authorize_request(iam, user("create-key"), body(CreateKeyRequestBody, key_alias="k", key_spec="SM4"))


# -- resource-scoped, explicit deny ------------------------------------------------------------------


def test_a_resource_scoped_policy_allows_one_key_only(iam: Services, policies: FakePolicySource) -> None:
    mine, other = new_key(iam), new_key(iam)
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {
                "Effect": "Allow",
                "Action": ["kms:dek:create", "kms:cmk:get"],
                "Resource": [f"KMS:*:*:KeyId:{mine}"],
            },
            version="1.1",
        ),
    )
    assert datakey(iam, mine).key_id == mine
    assert describe(iam, user("describe-key"), mine).key_info.key_id == mine
    message = refused(datakey, iam, other)
    assert f"kms:cmk:createDataKey on {urn(other)}" in message


def test_an_explicit_deny_beats_an_allow(
    iam: Services, policies: FakePolicySource, caplog: pytest.LogCaptureFixture
) -> None:
    key_id = new_key(iam)
    policies.attach(DOMAIN, USER_ID, "KMS CMKFullAccess")
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {"Sid": "NoDataKeys", "Effect": "Deny", "Action": ["kms:cmk:createDataKey"], "Resource": ["*"]}
        ),
    )
    assert describe(iam, user("describe-key"), key_id).key_info.key_id == key_id
    with caplog.at_level(logging.INFO, logger="skms"):
        message = refused(datakey, iam, key_id)
    assert message.endswith("an explicit deny applies.")
    # The refusal is logged at INFO with who, what, on what, and the deciding statement
    [record] = [r for r in caplog.records if r.getMessage() == "authorization denied"]
    assert record.levelno == logging.INFO
    fields = {
        name: getattr(record, name)
        for name in ("principal_id", "user_id", "operation", "action", "resource", "statement")
    }
    assert fields == {
        "principal_id": "AKUSER",
        "user_id": USER_ID,
        "operation": "create-datakey",
        "action": "kms:cmk:createDataKey",
        "resource": urn(key_id),
        "statement": "statement 1 (NoDataKeys)",
    }


# -- conditions ---------------------------------------------------------------------------------------


def test_a_key_spec_condition_on_create_key_reads_the_request(
    iam: Services, policies: FakePolicySource
) -> None:
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {"Effect": "Allow", "Action": ["kms:*:*"], "Resource": ["*"]},
            {
                "Effect": "Deny",
                "Action": ["kms:cmk:create"],
                "Resource": ["*"],
                "Condition": {"StringNotEquals": {"kms:KeySpec": "AES_256"}},
            },
        ),
    )
    authorize_request(
        iam, user("create-key"), body(CreateKeyRequestBody, key_alias="k")
    )  # AES_256 by default
    authorize_request(iam, user("create-key"), body(CreateKeyRequestBody, key_alias="k", key_spec="AES_256"))
    refused(
        authorize_request,
        iam,
        user("create-key"),
        body(CreateKeyRequestBody, key_alias="k", key_spec="RSA_2048"),
    )


def test_create_key_usage_and_origin_conditions_apply_the_defaults(
    iam: Services, policies: FakePolicySource
) -> None:
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {
                "Effect": "Allow",
                "Action": ["kms:cmk:create"],
                "Condition": {"StringEquals": {"kms:KeyUsage": "SIGN_VERIFY", "kms:KeyOrigin": "kms"}},
            }
        ),
    )
    authorize_request(iam, user("create-key"), body(CreateKeyRequestBody, key_alias="k", key_spec="EC_P256"))
    refused(authorize_request, iam, user("create-key"), body(CreateKeyRequestBody, key_alias="k"))
    refused(
        authorize_request,
        iam,
        user("create-key"),
        body(CreateKeyRequestBody, key_alias="k", key_spec="EC_P256", origin="external"),
    )


def test_a_key_spec_condition_on_a_key_reads_the_key(iam: Services, policies: FakePolicySource) -> None:
    aes, sm4 = new_key(iam), new_key(iam, key_spec="SM4")
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {
                "Effect": "Allow",
                "Action": ["kms:cmk:*"],
                "Condition": {"StringEquals": {"kms:KeySpec": "SM4"}},
            }
        ),
    )
    assert datakey(iam, sm4).key_id == sm4
    refused(datakey, iam, aes)


def tag(services: Services, key_id: str, key: str, value: str) -> None:
    create_kms_tag(
        body(CreateKmsTagRequestBody, key_id=key_id, tag={"key": key, "value": value}),
        account("create-kms-tag"),
        services,
    )


def count_tag_reads(monkeypatch: pytest.MonkeyPatch, services: Services) -> list[str]:
    """The key ids whose tags are read from now on."""
    reads: list[str] = []
    real = services.stores.tags.get_tags

    def get_tags(project_id: str, key_id: str) -> dict[str, str]:
        reads.append(key_id)
        return real(project_id, key_id)

    monkeypatch.setattr(services.stores.tags, "get_tags", get_tags)
    return reads


def test_a_resource_tag_condition_reads_the_key_tags(
    iam: Services, policies: FakePolicySource, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod, dev, untagged = new_key(iam), new_key(iam), new_key(iam)
    tag(iam, prod, "env", "prod")
    tag(iam, dev, "env", "dev")
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {"Effect": "Allow", "Action": ["kms:*:*"], "Resource": ["*"]},
            {
                "Effect": "Deny",
                "Action": ["kms:*:*"],
                "Resource": ["kms:*:*:KeyId:*"],
                "Condition": {"StringEquals": {"g:ResourceTag/env": "prod"}},
            },
        ),
    )
    reads = count_tag_reads(monkeypatch, iam)
    refused(datakey, iam, prod)
    assert datakey(iam, dev).key_id == dev
    assert datakey(iam, untagged).key_id == untagged
    assert reads == [prod, dev, untagged]


def test_tags_are_not_read_when_no_statement_looks_at_them(
    iam: Services, policies: FakePolicySource, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = new_key(iam)
    policies.attach(DOMAIN, USER_ID, "KMS Administrator")
    reads = count_tag_reads(monkeypatch, iam)
    assert datakey(iam, key_id).key_id == key_id
    assert reads == []


# -- several keys, aliases -------------------------------------------------------------------------


def test_re_encrypt_authorizes_both_keys(iam: Services, policies: FakePolicySource) -> None:
    source, destination = new_key(iam), new_key(iam)
    sealed = encrypt_data(
        body(EncryptDataRequestBody, key_id=source, plain_text="hello"), account("encrypt-data"), iam
    ).cipher_text
    request = body(ReEncryptRequestBody, cipher_text=sealed, destination_key_id=destination)
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {"Effect": "Allow", "Action": ["kms:cmk:reEncrypt"], "Resource": [f"kms:*:*:KeyId:{destination}"]}
        ),
    )
    assert f"on {urn(source)}" in refused(re_encrypt, request, user("re-encrypt"), iam)
    policies.detach_all(DOMAIN, USER_ID)
    policies.attach(
        DOMAIN,
        USER_ID,
        document({"Effect": "Allow", "Action": ["kms:cmk:crypto"], "Resource": [f"kms:*:*:KeyId:{source}"]}),
    )
    assert f"on {urn(destination)}" in refused(re_encrypt, request, user("re-encrypt"), iam)
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {"Effect": "Allow", "Action": ["kms:cmk:crypto"], "Resource": [f"kms:*:*:KeyId:{destination}"]}
        ),
    )
    before = policies.total_calls
    assert re_encrypt(request, user("re-encrypt"), iam).key_id == destination
    assert policies.total_calls - before == 2  # one decision per key


def test_an_alias_is_a_request_alias_condition(iam: Services, policies: FakePolicySource) -> None:
    from skms.logic.aliases import create_alias
    from skms.models.aliases import CreateAliasRequestBody

    key_id = new_key(iam)
    create_alias(
        body(CreateAliasRequestBody, key_id=key_id, alias="alias/app-orders"), account("create-alias"), iam
    )
    policies.attach(
        DOMAIN,
        USER_ID,
        document(
            {
                "Effect": "Allow",
                "Action": ["kms:cmk:encryptData"],
                "Condition": {"StringLike": {"kms:RequestAlias": "alias/app-*"}},
            }
        ),
    )
    by_alias = body(EncryptDataRequestBody, key_id="alias/app-orders", plain_text="hello")
    assert encrypt_data(by_alias, user("encrypt-data"), iam).key_id == key_id
    by_id = body(EncryptDataRequestBody, key_id=key_id, plain_text="hello")
    refused(encrypt_data, by_id, user("encrypt-data"), iam)


# -- the account -----------------------------------------------------------------------------------------


def test_the_account_is_unaffected_and_reads_no_policies(iam: Services, policies: FakePolicySource) -> None:
    key_id = new_key(iam)
    assert describe(iam, account("describe-key"), key_id).key_info.key_id == key_id
    assert (
        create_datakey(
            body(CreateDatakeyRequestBody, key_id=key_id, datakey_length="256"),
            account("create-datakey"),
            iam,
        ).key_id
        == key_id
    )
    authorize_request(
        iam, account("create-key"), body(CreateKeyRequestBody, key_alias="k", key_spec="RSA_2048")
    )
    authorize_request(iam, account("no-such-operation"), None)
    # A caller built without a principal is a direct invocation: allowed too
    direct = Caller(PROJECT_ID, DOMAIN, "req-direct", operation="describe-key")
    assert describe(iam, direct, key_id).key_info.key_id == key_id
    assert policies.total_calls == 0


# -- users without a policy source ---------------------------------------------------------------


def token_user(operation: str) -> Caller:
    identity = Identity("alice", PrincipalKind.USER, DOMAIN, AuthMethod.TOKEN)
    return Caller(PROJECT_ID, DOMAIN, "req-token", principal=identity, operation=operation)


def test_a_user_is_refused_everything_where_no_policy_source_is_installed(
    memory_services: Services, iam: Services
) -> None:
    key_id = new_key(memory_services)
    # Without a PolicySource nothing can allow a user: fail closed, by token or by access key
    refused(describe, memory_services, token_user("describe-key"), key_id)
    refused(
        authorize_request,
        memory_services,
        token_user("create-key"),
        body(CreateKeyRequestBody, key_alias="k"),
    )
    aksk = Identity("AKX", PrincipalKind.USER, DOMAIN, AuthMethod.AKSK)
    refused(
        describe,
        memory_services,
        Caller(PROJECT_ID, DOMAIN, "r", principal=aksk, operation="describe-key"),
        key_id,
    )
    # With a PolicySource installed, the same user is decided by its (no) policies
    refused(describe, iam, token_user("describe-key"), key_id)
    refused(authorize_request, iam, token_user("create-key"), body(CreateKeyRequestBody, key_alias="k"))
