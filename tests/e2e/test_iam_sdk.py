"""IAM users and policies through the official Huawei Cloud SDK against ``skms serve`` (issue 11).

Users, their access keys and policies are made with the management CLI (``skms user|access-key|policy``)
on the module's server; every request is then made by the SDK's KmsClient signing with the user's own
AK/SK (tokens by raw HTTP, as the SDK has no password flow). What is shown, each as access-control.md
§1.2 and §2 describe it:

- an IAM user with no policy is refused every operation (403, a KMS.03xx code, the action named);
- ``KMS CMKReadOnlyAccess`` allows describe and list only;
- a resource-scoped policy allows one key only;
- an explicit Deny beats an Allow;
- a ``kms:KeySpec`` condition is honoured at create-key;
- a disabled or deleted access key, and a disabled user's token, are refused within the cache time;
- the account's own key still does everything.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CancelGrantRequest,
    CancelSelfGrantRequest,
    CreateDatakeyRequest,
    CreateDatakeyRequestBody,
    CreateGrantRequest,
    CreateGrantRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DecryptDataRequest,
    DecryptDataRequestBody,
    DisableKeyRequest,
    EncryptDataRequest,
    EncryptDataRequestBody,
    KmsClient,
    ListKeyDetailRequest,
    ListKeysRequest,
    ListKeysRequestBody,
    OperateKeyRequestBody,
    RevokeGrantRequestBody,
    UpdateKeyDescriptionRequest,
    UpdateKeyDescriptionRequestBody,
)

from tests.e2e.conftest import Credentials, SkmsCli, SkmsServer, _skms_executable

pytestmark = pytest.mark.e2e

# Short caches, so that a disabled credential is refused within a second or two.
CACHE_SECONDS = 1.0
SERVER_ENV = {"KMS_ACCESS_KEY_CACHE_SECONDS": str(CACHE_SECONDS)}
# How long a change may take to be seen: the cache time, and slack for a loaded machine.
CHANGE_DEADLINE_S = CACHE_SECONDS + 10.0


# -- helpers -------------------------------------------------------------------------------------


def refused(call: Callable[[], Any]) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as raised:
        call()
    return raised.value


def assert_denied(call: Callable[[], Any], action: str) -> None:
    """403 with a KMS.03xx code whose message names the action."""
    error = refused(call)
    assert error.status_code == 403, (error.status_code, error.error_code, error.error_msg)
    assert error.error_code.startswith("KMS.03"), error.error_code
    assert action in error.error_msg, (action, error.error_msg)


def status_of(call: Callable[[], Any]) -> int:
    """200 if the SDK call succeeds, else the HTTP status it was refused with."""
    try:
        call()
    except ClientRequestException as error:
        return int(error.status_code)
    return 200


def wait_for_status(call: Callable[[], Any], status: int, what: str) -> None:
    """The call answers ``status`` within the cache time (it may answer otherwise just before)."""
    deadline = time.monotonic() + CHANGE_DEADLINE_S
    while (seen := status_of(call)) != status:
        assert time.monotonic() < deadline, f"{what}: still {seen} {CHANGE_DEADLINE_S:.0f} s after the change"
        time.sleep(0.2)


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_key(client: KmsClient, key_spec: str | None = None) -> str:
    body = CreateKeyRequestBody(key_alias=new_name("iam"), key_spec=key_spec)
    key_id = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    assert isinstance(key_id, str)
    return key_id


def describe(client: KmsClient, key_id: str) -> Any:
    return client.list_key_detail(ListKeyDetailRequest(body=OperateKeyRequestBody(key_id=key_id)))


def datakey(client: KmsClient, key_id: str) -> Any:
    body = CreateDatakeyRequestBody(key_id=key_id, datakey_length="256")
    return client.create_datakey(CreateDatakeyRequest(body=body))


def encrypt(client: KmsClient, key_id: str) -> str:
    body = EncryptDataRequestBody(key_id=key_id, plain_text="iam e2e")
    cipher = client.encrypt_data(EncryptDataRequest(body=body)).cipher_text
    assert isinstance(cipher, str)
    return cipher


def decrypt(client: KmsClient, cipher_text: str) -> Any:
    return client.decrypt_data(DecryptDataRequest(body=DecryptDataRequestBody(cipher_text=cipher_text)))


def list_keys(client: KmsClient) -> Any:
    return client.list_keys(ListKeysRequest(body=ListKeysRequestBody(limit="10")))


def set_description(client: KmsClient, key_id: str) -> Any:
    body = UpdateKeyDescriptionRequestBody(key_id=key_id, key_description="changed by an IAM user")
    return client.update_key_description(UpdateKeyDescriptionRequest(body=body))


def disable(client: KmsClient, key_id: str) -> Any:
    return client.disable_key(DisableKeyRequest(body=OperateKeyRequestBody(key_id=key_id)))


# -- fixtures ------------------------------------------------------------------------------------


class Iam:
    """Users, their keys and policies on the module's server, by the management CLI."""

    def __init__(
        self, server: SkmsServer, cli: SkmsCli, factory: Callable[..., KmsClient], project_id: str
    ) -> None:
        self.server, self.cli, self.factory, self.project_id = server, cli, factory, project_id
        self.documents = server.data_dir.parent / "policies"
        self.documents.mkdir(exist_ok=True)

    def user(self, *policies: str, password: str | None = None) -> dict[str, Any]:
        name = new_name("user")
        args = ["user", "create", "--name", name, "--project-id", self.project_id]
        for policy in policies:
            args += ["--policy", policy]
        created: dict[str, Any] = self.cli.run(
            self.server, *args, stdin=(password or f"Pw-{uuid.uuid4().hex}!") + "\n"
        )
        assert created["name"] == name, created
        assert len(created["user_id"]) == 32, created
        assert int(created["user_id"], 16) >= 0, created
        assert created["project_ids"] == [self.project_id], created
        return created

    def access_key(self, user: dict[str, Any]) -> tuple[str, KmsClient]:
        created = self.cli.run(self.server, "access-key", "create", "--user", user["name"])
        assert created["user_id"] == user["user_id"], created
        assert created["domain_id"] == user["domain_id"], created
        creds = Credentials(ak=created["access"], sk=created["secret"], project_id=self.project_id)
        return created["access"], self.factory(self.server.base_url, creds)

    def client_of(self, *policies: str) -> KmsClient:
        return self.access_key(self.user(*policies))[1]

    def policy(self, document: dict[str, Any]) -> str:
        name = new_name("policy")
        path: Path = self.documents / f"{name}.json"
        path.write_text(json.dumps(document))
        created = self.cli.run(self.server, "policy", "create", "--name", name, "--document", str(path))
        assert created["name"] == name, created
        assert created["policy_id"], created
        return name

    def attach(self, user: dict[str, Any], policy: str) -> None:
        self.cli.run(self.server, "policy", "attach", "--user", user["name"], "--policy", policy)


@pytest.fixture(scope="module")
def account(sdk_client_factory: Callable[..., KmsClient], module_server: Any) -> KmsClient:
    """The account's own (bootstrap) access key."""
    return sdk_client_factory(module_server.base_url)


@pytest.fixture(scope="module")
def iam(
    module_server: SkmsServer,
    skms_cli: SkmsCli,
    sdk_client_factory: Callable[..., KmsClient],
    credentials: Credentials,
) -> Iam:
    return Iam(module_server, skms_cli, sdk_client_factory, credentials.project_id)


@pytest.fixture(scope="module")
def key_id(account: KmsClient) -> str:
    return create_key(account)


# -- policies ------------------------------------------------------------------------------------


def test_a_user_with_no_policy_is_refused_everything(iam: Iam, account: KmsClient, key_id: str) -> None:
    # Given an IAM user with an access key and no policy, and a key of its project
    user = iam.client_of()
    cipher = encrypt(account, key_id)
    # Then every operation is refused, naming its action
    assert_denied(lambda: create_key(user), "kms:cmk:create")
    assert_denied(lambda: list_keys(user), "kms:cmk:list")
    assert_denied(lambda: describe(user, key_id), "kms:cmk:get")
    assert_denied(lambda: datakey(user, key_id), "kms:cmk:createDataKey")
    assert_denied(lambda: encrypt(user, key_id), "kms:cmk:encryptData")
    assert_denied(lambda: decrypt(user, cipher), "kms:cmk:decryptData")
    assert_denied(lambda: disable(user, key_id), "kms:cmk:disable")
    # And a denial on a key names the key's URN, never more than the caller asked about
    error = refused(lambda: datakey(user, key_id))
    assert f"KeyId:{key_id}" in error.error_msg, error.error_msg
    # And the key is untouched
    assert describe(account, key_id).key_info.key_state == "2"


def test_the_read_only_system_policy_allows_describe_and_list_only(
    iam: Iam, account: KmsClient, key_id: str
) -> None:
    reader = iam.client_of("KMS CMKReadOnlyAccess")
    assert describe(reader, key_id).key_info.key_id == key_id
    assert key_id in list_keys(reader).keys
    assert_denied(lambda: create_key(reader), "kms:cmk:create")
    assert_denied(lambda: datakey(reader, key_id), "kms:cmk:createDataKey")
    assert_denied(lambda: encrypt(reader, key_id), "kms:cmk:encryptData")
    assert_denied(lambda: set_description(reader, key_id), "kms:cmk:")


def test_the_administrator_system_policy_allows_everything(iam: Iam, account: KmsClient) -> None:
    admin = iam.client_of("KMS Administrator")
    mine = create_key(admin)
    assert decrypt(admin, encrypt(admin, mine)).plain_text == "iam e2e"
    assert datakey(admin, mine).plain_text
    # And the account sees the key its user made: same domain, same project
    assert describe(account, mine).key_info.key_id == mine


def test_a_resource_scoped_policy_allows_one_key_only(iam: Iam, account: KmsClient) -> None:
    one, other = create_key(account), create_key(account)
    policy = iam.policy(
        {
            "Version": "1.1",
            "Statement": [
                {"Effect": "Allow", "Action": ["kms:cmk:list", "kms:cmk:get"]},
                {
                    "Effect": "Allow",
                    "Action": ["kms:dek:create", "kms:dek:crypto", "kms:cmk:crypto"],
                    "Resource": [f"KMS:*:*:KeyId:{one}"],
                },
            ],
        }
    )
    user = iam.user(policy)
    client = iam.access_key(user)[1]
    assert datakey(client, one).plain_text
    assert decrypt(client, encrypt(client, one)).plain_text == "iam e2e"
    assert_denied(lambda: datakey(client, other), "kms:cmk:createDataKey")
    assert_denied(lambda: encrypt(client, other), "kms:cmk:encryptData")
    assert describe(client, other).key_info.key_id == other  # kms:cmk:get on every key


def test_an_explicit_deny_beats_an_allow(iam: Iam, account: KmsClient, key_id: str) -> None:
    deny = iam.policy(
        {
            "Version": "5.0",
            "Statement": [
                {
                    "Sid": "NoDataKeys",
                    "Effect": "Deny",
                    "Action": ["kms:cmk:createDataKey"],
                    "Resource": ["*"],
                }
            ],
        }
    )
    user = iam.user("KMS Administrator", deny)
    client = iam.access_key(user)[1]
    assert describe(client, key_id).key_info.key_id == key_id
    assert decrypt(client, encrypt(client, key_id)).plain_text == "iam e2e"
    assert_denied(lambda: datakey(client, key_id), "kms:cmk:createDataKey")


def test_a_key_spec_condition_is_honoured_at_create_key(iam: Iam) -> None:
    only_aes = iam.policy(
        {
            "Version": "5.0",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["kms:cmk:create"],
                    "Resource": ["*"],
                    "Condition": {"StringEquals": {"kms:KeySpec": ["AES_256"]}},
                }
            ],
        }
    )
    client = iam.client_of(only_aes)
    assert create_key(client, "AES_256")
    assert create_key(client)  # the default spec is AES_256
    assert_denied(lambda: create_key(client, "RSA_2048"), "kms:cmk:create")
    assert_denied(lambda: create_key(client, "HMAC_256"), "kms:cmk:create")


def test_a_policy_attached_later_takes_effect_within_the_cache_time(iam: Iam, key_id: str) -> None:
    user = iam.user()
    client = iam.access_key(user)[1]
    assert_denied(lambda: describe(client, key_id), "kms:cmk:get")
    iam.attach(user, "KMS CMKReadOnlyAccess")
    wait_for_status(lambda: describe(client, key_id), 200, "an attached policy")
    assert describe(client, key_id).key_info.key_id == key_id
    iam.cli.run(iam.server, "policy", "detach", "--user", user["name"], "--policy", "KMS CMKReadOnlyAccess")
    wait_for_status(lambda: describe(client, key_id), 403, "a detached policy")


# -- credential lifecycle ------------------------------------------------------------------------


def test_a_disabled_then_deleted_access_key_is_refused(iam: Iam, key_id: str) -> None:
    user = iam.user("KMS Administrator")
    access, client = iam.access_key(user)
    assert describe(client, key_id).key_info.key_id == key_id
    iam.cli.run(iam.server, "access-key", "disable", "--access", access)
    wait_for_status(lambda: describe(client, key_id), 401, "a disabled access key")
    iam.cli.run(iam.server, "access-key", "enable", "--access", access)
    wait_for_status(lambda: describe(client, key_id), 200, "a re-enabled access key")
    iam.cli.run(iam.server, "access-key", "delete", "--access", access)
    wait_for_status(lambda: describe(client, key_id), 401, "a deleted access key")
    listed = iam.cli.run(iam.server, "access-key", "list")
    assert access not in json.dumps(listed)


def _token(base_url: str, name: str, password: str, domain_name: str, project_id: str) -> tuple[int, str]:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": name, "password": password, "domain": {"name": domain_name}}},
            },
            "scope": {"project": {"id": project_id}},
        }
    }
    conn.request(
        "POST", "/v3/auth/tokens", body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    reply = conn.getresponse()
    reply.read()
    conn.close()
    return reply.status, reply.getheader("X-Subject-Token") or ""


def _with_token(base_url: str, token: str, project_id: str, key_id: str) -> int:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    conn.request(
        "POST",
        f"/v1.0/{project_id}/kms/describe-key",
        body=json.dumps({"key_id": key_id}),
        headers={"Content-Type": "application/json", "X-Auth-Token": token},
    )
    reply = conn.getresponse()
    reply.read()
    conn.close()
    return reply.status


def test_a_disabled_users_token_and_access_key_are_refused(iam: Iam, key_id: str) -> None:
    password = f"Pw-{uuid.uuid4().hex}!"
    user = iam.user("KMS CMKReadOnlyAccess", password=password)
    _, client = iam.access_key(user)
    domain_name = user.get("domain_name") or user["domain_id"]
    status, token = _token(iam.server.base_url, user["name"], password, domain_name, iam.project_id)
    assert status == 201
    assert token
    assert _with_token(iam.server.base_url, token, iam.project_id, key_id) == 200
    # When the user is disabled
    iam.cli.run(iam.server, "user", "disable", "--name", user["name"])
    # Then its token and its access key stop working within the cache time
    deadline = time.monotonic() + CHANGE_DEADLINE_S
    while _with_token(iam.server.base_url, token, iam.project_id, key_id) == 200:
        assert time.monotonic() < deadline, "a disabled user's token still works"
        time.sleep(0.2)
    assert _with_token(iam.server.base_url, token, iam.project_id, key_id) == 401
    wait_for_status(lambda: describe(client, key_id), 401, "a disabled user's access key")
    # And it cannot get a new token
    assert _token(iam.server.base_url, user["name"], password, domain_name, iam.project_id)[0] == 401
    listed = iam.cli.run(iam.server, "user", "list")
    assert password not in json.dumps(listed)


def test_the_accounts_own_key_still_does_everything(account: KmsClient) -> None:
    key_id = create_key(account)
    assert datakey(account, key_id).plain_text
    assert decrypt(account, encrypt(account, key_id)).plain_text == "iam e2e"
    assert set_description(account, key_id)
    assert create_key(account, "RSA_2048")
    assert disable(account, key_id)


# -- tenancy -------------------------------------------------------------------------------------


def cli_failure(server: SkmsServer, *args: str, stdin: str = "") -> str:
    """Run ``skms <args>`` on the server's store, expecting a refusal: its stderr."""
    env = {name: value for name, value in server.env.items() if not name.startswith("HUAWEICLOUD_SDK_")}
    done = subprocess.run(
        [_skms_executable(), *args, "--data-dir", str(server.data_dir)],
        env=env,
        input=stdin.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0, (args, done.stdout)
    assert done.stdout.strip() == b"", "a refusal prints no JSON result"
    return done.stderr.decode(errors="replace")


def test_a_project_owned_by_one_domain_is_never_shared_with_another(iam: Iam, account: KmsClient) -> None:
    # Given the module's project, owned by the server's domain, with a key in it
    key_id = create_key(account)
    stranger = uuid.uuid4().hex
    # When another domain asks for credentials or users in that project / Then it is refused, clearly
    refusal = cli_failure(
        iam.server, "access-key", "create", "--project-id", iam.project_id, "--domain-id", stranger
    )
    assert iam.project_id in refusal
    assert key_id not in refusal
    refusal = cli_failure(
        iam.server,
        "user",
        "create",
        "--name",
        new_name("stranger"),
        "--project-id",
        iam.project_id,
        "--domain-id",
        stranger,
        stdin="Pw-a-long-password!\n",
    )
    assert iam.project_id in refusal
    # And the key is still only the account's
    assert describe(account, key_id).key_info.domain_id != stranger


# -- grants --------------------------------------------------------------------------------------


def grant(client: KmsClient, key_id: str, grantee: str, operations: list[str], **fields: Any) -> str:
    body = CreateGrantRequestBody(key_id=key_id, grantee_principal=grantee, operations=operations, **fields)
    grant_id = client.create_grant(CreateGrantRequest(body=body)).grant_id
    assert isinstance(grant_id, str)
    return grant_id


def revoke(client: KmsClient, key_id: str, grant_id: str) -> None:
    client.cancel_grant(CancelGrantRequest(body=RevokeGrantRequestBody(key_id=key_id, grant_id=grant_id)))


def retire(client: KmsClient, key_id: str, grant_id: str) -> Any:
    body = RevokeGrantRequestBody(key_id=key_id, grant_id=grant_id)
    return client.cancel_self_grant(CancelSelfGrantRequest(body=body))


def test_a_grant_lets_a_user_with_no_policy_do_its_operations_on_its_key_only(
    iam: Iam, account: KmsClient
) -> None:
    # Given a user with no policy, and a grant to it of three operations on one key
    key_id, other_key = create_key(account), create_key(account)
    user = iam.user()
    client = iam.access_key(user)[1]
    assert_denied(lambda: encrypt(client, key_id), "kms:cmk:encryptData")
    grant_id = grant(account, key_id, user["user_id"], ["describe-key", "encrypt-data", "decrypt-data"])
    # Then it may do those three on that key (within the cache time of grants)
    wait_for_status(lambda: encrypt(client, key_id), 200, "a new grant")
    assert describe(client, key_id).key_info.key_id == key_id
    assert decrypt(client, encrypt(client, key_id)).plain_text == "iam e2e"
    assert decrypt(account, encrypt(client, key_id)).plain_text == "iam e2e"  # the owner reads it
    # And nothing else: not another operation on it, nothing on any other key, no new key
    assert_denied(lambda: datakey(client, key_id), "kms:cmk:createDataKey")
    assert_denied(lambda: disable(client, key_id), "kms:cmk:disable")
    assert_denied(lambda: encrypt(client, other_key), "kms:cmk:encryptData")
    assert_denied(lambda: describe(client, other_key), "kms:cmk:get")
    assert_denied(lambda: create_key(client), "kms:cmk:create")
    # When the grant is revoked / Then it is refused again
    revoke(account, key_id, grant_id)
    wait_for_status(lambda: encrypt(client, key_id), 403, "a revoked grant")


def test_an_explicit_deny_beats_a_grant(iam: Iam, account: KmsClient) -> None:
    key_id = create_key(account)
    deny = iam.policy(
        {
            "Version": "5.0",
            "Statement": [{"Effect": "Deny", "Action": ["kms:cmk:encryptData"], "Resource": ["*"]}],
        }
    )
    user = iam.user(deny)
    client = iam.access_key(user)[1]
    grant(account, key_id, user["user_id"], ["describe-key", "encrypt-data"])
    wait_for_status(lambda: describe(client, key_id), 200, "a new grant")
    assert_denied(lambda: encrypt(client, key_id), "kms:cmk:encryptData")


def test_a_grant_is_retired_by_its_grantee_and_by_its_retiring_principal(
    iam: Iam, account: KmsClient
) -> None:
    key_id = create_key(account)
    grantee_user, retirer_user = iam.user(), iam.user()
    grantee, retirer = iam.access_key(grantee_user)[1], iam.access_key(retirer_user)[1]
    # A grant holding retire-grant: its grantee retires it (no policy needed)
    own = grant(account, key_id, grantee_user["user_id"], ["describe-key", "retire-grant"])
    # A grant without it, naming a retiring principal: the grantee may not, the retiring principal may
    named = grant(
        account, key_id, grantee_user["user_id"], ["describe-key"], retiring_principal=retirer_user["user_id"]
    )
    error = refused(lambda: retire(grantee, key_id, named))
    assert (error.status_code, error.error_code[:6]) == (403, "KMS.03"), error
    retire(grantee, key_id, own)
    retire(retirer, key_id, named)
    # And both are gone: the grantee is refused again
    wait_for_status(lambda: describe(grantee, key_id), 403, "retired grants")


def test_a_domain_grant_lets_another_account_use_the_key_by_its_bare_id(
    iam: Iam, account: KmsClient, sdk_client_factory: Callable[..., KmsClient]
) -> None:
    # Given another account (its own domain and project) and a key of this one
    other_domain, other_project = uuid.uuid4().hex, uuid.uuid4().hex
    created = iam.cli.run(
        iam.server, "access-key", "create", "--project-id", other_project, "--domain-id", other_domain
    )
    stranger = sdk_client_factory(
        iam.server.base_url, Credentials(ak=created["access"], sk=created["secret"], project_id=other_project)
    )
    key_id = create_key(account)
    # Without a grant the key does not exist for it
    assert refused(lambda: encrypt(stranger, key_id)).status_code == 404
    # When the key's account grants that domain encrypt and decrypt
    grant(account, key_id, other_domain, ["encrypt-data", "decrypt-data"], grantee_principal_type="domain")
    # Then it encrypts and decrypts with the bare key id, under its own project
    wait_for_status(lambda: encrypt(stranger, key_id), 200, "a new domain grant")
    cipher = encrypt(stranger, key_id)
    assert decrypt(stranger, cipher).plain_text == "iam e2e"
    assert decrypt(account, cipher).plain_text == "iam e2e"  # bound to the key's project, not the caller's
    # And nothing the grant does not unlock (KMS.0306: no access to the key)
    error = refused(lambda: datakey(stranger, key_id))
    assert (error.status_code, error.error_code) == (403, "KMS.0306"), error.error_msg
    assert f"KeyId:{key_id}" in error.error_msg
