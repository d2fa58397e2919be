"""The official Huawei Cloud SDK (huaweicloudsdkkms 3.1.219) against ``skms serve``: alias objects,
spec §9 ops 39-42 (create 201, delete as a DELETE with a JSON body 204, list by GET query, associate),
and an alias given as ``key_id`` to encrypt-data / decrypt-data (access-control.md §4).

The module runs its own server (``module_server``), so that listing sees only this module's aliases.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    AssociateAliasRequest,
    AssociateAliasRequestBody,
    CreateAliasRequest,
    CreateAliasRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DecryptDataRequest,
    DecryptDataRequestBody,
    DeleteAliasRequest,
    DeleteAliasRequestBody,
    EncryptDataRequest,
    EncryptDataRequestBody,
    KmsClient,
    ListAliasesRequest,
    ListKeyDetailRequest,
    OperateKeyRequestBody,
)

pytestmark = pytest.mark.e2e

ISO_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"  # as in conftest
ENTITY_FIELDS = {"domain_id", "key_id", "alias", "alias_urn", "create_time", "update_time"}


@pytest.fixture(scope="module")
def client(sdk_client_factory: Callable[..., KmsClient], module_server: Any) -> KmsClient:
    return sdk_client_factory(module_server.base_url)


@pytest.fixture(scope="module")
def other_client(
    sdk_client_factory: Callable[..., KmsClient], module_server: Any, skms_cli: Any
) -> KmsClient:
    """Credentials of another project of the same domain."""
    creds = skms_cli.create_access_key(module_server, OTHER_PROJECT_ID)
    return sdk_client_factory(module_server.base_url, creds)


def new_alias() -> str:
    return f"alias/sdk-{uuid.uuid4().hex[:12]}"


def create_key(client: KmsClient) -> str:
    body = CreateKeyRequestBody(key_alias=f"sdk-al-{uuid.uuid4().hex[:12]}")
    key_id = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    assert isinstance(key_id, str)
    return key_id


def create_alias(client: KmsClient, key_id: str, alias: str) -> Any:
    return client.create_alias(CreateAliasRequest(body=CreateAliasRequestBody(key_id=key_id, alias=alias)))


def list_aliases(client: KmsClient, **query: str) -> Any:
    response = client.list_aliases(ListAliasesRequest(**query))
    assert response.status_code == 200
    (page,) = response.body  # the SDK reads the one object as a one-element list
    return page


def encrypt(client: KmsClient, key_ref: str, text: str) -> Any:
    return client.encrypt_data(
        EncryptDataRequest(body=EncryptDataRequestBody(key_id=key_ref, plain_text=text))
    )


def decrypt(client: KmsClient, cipher_text: str, key_ref: str | None = None) -> Any:
    body = DecryptDataRequestBody(cipher_text=cipher_text, key_id=key_ref)
    return client.decrypt_data(DecryptDataRequest(body=body))


def expect_client_error(call: Callable[[], Any], status: int, code: str) -> None:
    with pytest.raises(ClientRequestException) as caught:
        call()
    assert (caught.value.status_code, caught.value.error_code) == (status, code), caught.value


def test_alias_lifecycle_through_the_sdk(client: KmsClient) -> None:
    # Given a key
    key_id, other_key = create_key(client), create_key(client)
    first, second = sorted([new_alias(), new_alias()])
    # When two aliases are created for it / Then each is a 201 with the flat AliasEntity
    created = create_alias(client, key_id, first)
    assert created.status_code == 201
    wire = json.loads(created.raw_content)
    assert set(wire) == ENTITY_FIELDS
    assert all(isinstance(value, str) for value in wire.values())
    assert (created.key_id, created.alias) == (key_id, first)
    assert created.alias_urn == f"kms:{created.alias_urn.split(':')[1]}:{created.domain_id}:alias:{first}"
    assert ISO_Z_RE.fullmatch(created.create_time)
    assert created.update_time == created.create_time
    created_second = create_alias(client, key_id, second)
    # And a name is taken once
    expect_client_error(lambda: create_alias(client, other_key, first), 400, "KMS.1104")
    expect_client_error(lambda: create_alias(client, key_id, "no-prefix"), 400, "KMS.1101")
    expect_client_error(lambda: create_alias(client, key_id, "alias/obs/default"), 400, "KMS.1101")

    # When they are listed by key, a page at a time
    one = list_aliases(client, key_id=key_id, limit="1")
    assert [a.alias for a in one.aliases] == [first]
    assert one.page_info.current_count == 1
    assert one.page_info.next_marker
    rest = list_aliases(client, key_id=key_id, limit="1", marker=one.page_info.next_marker)
    assert [a.alias for a in rest.aliases] == [second]
    assert rest.page_info.next_marker == ""
    expect_client_error(lambda: list_aliases(client, limit="0"), 400, "KMS.1601")

    # When one moves to the other key / Then associate answers 200 with the moved entity
    moved = client.associate_alias(
        AssociateAliasRequest(body=AssociateAliasRequestBody(alias=second, target_key_id=other_key))
    )
    assert moved.status_code == 200
    assert (moved.key_id, moved.alias, moved.create_time) == (other_key, second, created_second.create_time)
    assert [a.alias for a in list_aliases(client, key_id=key_id).aliases] == [first]
    assert [a.alias for a in list_aliases(client, key_id=other_key).aliases] == [second]

    # When they are deleted, each with its key / Then 204, and they are gone
    wrong = DeleteAliasRequestBody(aliases=[first, second], key_id=key_id)
    expect_client_error(lambda: client.delete_alias(DeleteAliasRequest(body=wrong)), 404, "KMS.0207")
    for alias, owner in ((first, key_id), (second, other_key)):
        deleted = client.delete_alias(
            DeleteAliasRequest(body=DeleteAliasRequestBody(aliases=[alias], key_id=owner))
        )
        assert deleted.status_code == 204
        assert deleted.raw_content in (b"", None)
    assert list_aliases(client, key_id=key_id).aliases == []
    assert list_aliases(client, key_id=other_key).aliases == []


def test_an_alias_as_key_id_in_encrypt_and_decrypt_data(client: KmsClient, other_client: KmsClient) -> None:
    key_id = create_key(client)
    alias = new_alias()
    create_alias(client, key_id, alias)
    # The reply names the real key
    sealed = encrypt(client, alias, "by alias")
    assert sealed.key_id == key_id
    opened = decrypt(client, sealed.cipher_text, alias)
    assert (opened.key_id, opened.plain_text) == (key_id, "by alias")
    # Only crypto operations take an alias
    describe = ListKeyDetailRequest(body=OperateKeyRequestBody(key_id=alias))
    expect_client_error(lambda: client.list_key_detail(describe), 400, "KMS.0205")
    # Another project of the domain does not see it
    expect_client_error(lambda: encrypt(other_client, alias, "x"), 404, "KMS.0207")
    assert alias not in [a.alias for a in list_aliases(other_client).aliases]
    expect_client_error(lambda: encrypt(client, new_alias(), "x"), 404, "KMS.0207")


def test_a_moved_alias_encrypts_under_the_new_key_and_old_ciphertexts_still_decrypt(
    client: KmsClient,
) -> None:
    # Given a ciphertext made through an alias of key A
    key_a, key_b = create_key(client), create_key(client)
    alias = new_alias()
    create_alias(client, key_a, alias)
    old = encrypt(client, alias, "before the move")
    assert old.key_id == key_a
    # When the alias moves to key B
    client.associate_alias(
        AssociateAliasRequest(body=AssociateAliasRequestBody(alias=alias, target_key_id=key_b))
    )
    # Then new encryptions use B
    new = encrypt(client, alias, "after the move")
    assert new.key_id == key_b
    # And the old ciphertext still decrypts under A (it names its key), the new one under B
    assert (decrypt(client, old.cipher_text).key_id, decrypt(client, old.cipher_text).plain_text) == (
        key_a,
        "before the move",
    )
    assert decrypt(client, old.cipher_text, key_a).plain_text == "before the move"
    assert decrypt(client, new.cipher_text, alias).key_id == key_b
    # but not through the alias, which names B now
    expect_client_error(lambda: decrypt(client, old.cipher_text, alias), 400, "KMS.2201")
