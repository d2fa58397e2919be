"""Alias objects (spec §9 ops 39-42, access-control.md §4) and aliases as key ids in the gate.

Written from the wire's point of view: which §F2 code a caller sees, and which key an alias names.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from skms import errors
from skms.caller import Caller
from skms.domain import KeyState
from skms.logic.aliases import associate_alias, create_alias, delete_alias, list_aliases
from skms.logic.create_key import create_key
from skms.logic.data import decrypt_data, encrypt_data, re_encrypt
from skms.logic.datakeys import create_datakey, decrypt_datakey
from skms.logic.gate import ALIAS_USES, Use, open_key
from skms.logic.keys import schedule_key_deletion
from skms.logic.mac import generate_mac
from skms.logic.signing import show_public_key, sign
from skms.logic.sweep import sweep
from skms.models.aliases import (
    AssociateAliasRequestBody,
    CreateAliasRequestBody,
    DeleteAliasRequestBody,
    ListAliasesRequestBody,
)
from skms.models.base import parse_body
from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody, ReEncryptRequestBody
from skms.models.datakeys import CreateDatakeyRequestBody, DecryptDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import (
    OperateKeyRequestBody,
    ScheduleKeyDeletionRequestBody,
    UpdateKeyAliasRequestBody,
)
from skms.models.mac import GenerateMacRequestBody
from skms.models.signing import ShowPublicKeyRequestBody, SignRequestBody
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID


@pytest.fixture(params=["memory_services", "services"])
def any_services(request: pytest.FixtureRequest) -> Services:
    services: Services = request.getfixturevalue(request.param)
    return services


def _key(services: Services, caller: Caller, spec: str = "AES_256", usage: str | None = None) -> str:
    body = CreateKeyRequestBody(key_alias=f"k-{uuid.uuid4().hex[:12]}", key_spec=spec, key_usage=usage)
    return create_key(body, caller, services).key_info.key_id


def _alias(services: Services, caller: Caller, key_id: str, alias: str) -> Any:
    return create_alias(
        parse_body(CreateAliasRequestBody, {"key_id": key_id, "alias": alias}), caller, services
    )


def _code(action: Callable[[], object]) -> str:
    with pytest.raises(errors.KmsError) as caught:
        action()
    return caught.value.code


def _encrypt(services: Services, caller: Caller, key_ref: str, text: str = "hello") -> Any:
    body = parse_body(EncryptDataRequestBody, {"key_id": key_ref, "plain_text": text})
    return encrypt_data(body, caller, services)


def _decrypt(services: Services, caller: Caller, cipher_text: str, key_ref: str | None = None) -> Any:
    fields = {"cipher_text": cipher_text, **({} if key_ref is None else {"key_id": key_ref})}
    return decrypt_data(parse_body(DecryptDataRequestBody, fields), caller, services)


def _set_state(services: Services, caller: Caller, key_id: str, state: KeyState) -> None:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    services.stores.keys.update_key(record.replace(key_state=state), record.revision)


# --- create-alias (op 39)


def test_create_alias_answers_the_flat_alias_entity(any_services: Services, caller: Caller) -> None:
    key_id = _key(any_services, caller)
    entity = _alias(any_services, caller, key_id, "alias/orders-db")
    region = any_services.settings.region_id
    assert entity.model_dump() == {
        "domain_id": caller.domain_id,
        "key_id": key_id,
        "alias": "alias/orders-db",
        "alias_urn": f"kms:{region}:{caller.domain_id}:alias:alias/orders-db",
        "create_time": entity.create_time,
        "update_time": entity.create_time,
    }
    assert len(entity.create_time) == 20
    assert entity.create_time.endswith("Z")


def test_a_key_may_have_several_aliases_but_a_name_is_unique_in_the_domain(
    any_services: Services, caller: Caller
) -> None:
    key_id, other = _key(any_services, caller), _key(any_services, caller)
    _alias(any_services, caller, key_id, "alias/a")
    _alias(any_services, caller, key_id, "alias/b")
    assert _code(lambda: _alias(any_services, caller, other, "alias/a")) == "KMS.1104"
    # another project of the same domain cannot take it either (unique per account and region)
    neighbour = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="r")
    theirs = _key(any_services, neighbour)
    assert _code(lambda: _alias(any_services, neighbour, theirs, "alias/a")) == "KMS.1104"
    # another domain may
    stranger = Caller(project_id=OTHER_PROJECT_ID, domain_id="e" * 32, request_id="r")
    _alias(any_services, stranger, _key(any_services, stranger), "alias/a")


@pytest.mark.parametrize(
    "alias",
    [
        "orders",  # the alias/ prefix is mandatory
        "alias/",  # a name after it too
        "Alias/orders",  # case-sensitive
        "alias/orders db",
        "alias/ørders",
        "alias/" + "x" * 250,  # 256 characters in all
        "alias/obs/default",  # the /default suffix is reserved
        "alias/default",
    ],
)
def test_invalid_alias_names_are_1101(alias: str) -> None:
    key_id = str(uuid.uuid4())
    assert _code(lambda: parse_body(CreateAliasRequestBody, {"key_id": key_id, "alias": alias})) == "KMS.1101"
    associate = {"alias": alias, "target_key_id": key_id}
    delete = {"aliases": [alias], "key_id": key_id}
    if not alias.endswith("/default"):  # an existing alias never ends so: these just find none
        assert _code(lambda: parse_body(AssociateAliasRequestBody, associate)) == "KMS.1101"
        assert _code(lambda: parse_body(DeleteAliasRequestBody, delete)) == "KMS.1101"


def test_the_longest_alias_is_255_characters(memory_services: Services, caller: Caller) -> None:
    longest = "alias/" + "a:b/c_d-" * 31 + "x"
    assert len(longest) == 255
    _alias(memory_services, caller, _key(memory_services, caller), longest)


def test_create_alias_needs_a_key_id_of_a_usable_key(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _alias(memory_services, caller, key_id, "alias/first")
    # an alias does not name the key here (only crypto operations take one)
    assert _code(lambda: _alias(memory_services, caller, "alias/first", "alias/second")) == "KMS.0205"
    assert _code(lambda: _alias(memory_services, caller, str(uuid.uuid4()), "alias/x")) == "KMS.0207"
    _set_state(memory_services, caller, key_id, KeyState.DISABLED)
    _alias(memory_services, caller, key_id, "alias/of-a-disabled-key")
    _set_state(memory_services, caller, key_id, KeyState.PENDING_DELETION)
    assert _code(lambda: _alias(memory_services, caller, key_id, "alias/late")) == "KMS.0210"


# --- list-aliases (op 41)


def test_list_aliases_of_the_project_or_of_a_key_in_name_order_with_pages(
    any_services: Services, caller: Caller
) -> None:
    first, second = _key(any_services, caller), _key(any_services, caller)
    for name in ("alias/c", "alias/a", "alias/e"):
        _alias(any_services, caller, first, name)
    for name in ("alias/b", "alias/d"):
        _alias(any_services, caller, second, name)
    neighbour = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="r")
    _alias(any_services, neighbour, _key(any_services, neighbour), "alias/theirs")

    every = list_aliases(ListAliasesRequestBody(), caller, any_services)
    assert [a.alias for a in every.aliases] == ["alias/a", "alias/b", "alias/c", "alias/d", "alias/e"]
    assert (every.page_info.next_marker, every.page_info.current_count) == ("", 5)

    of_first = list_aliases(ListAliasesRequestBody(key_id=first), caller, any_services)
    assert [a.alias for a in of_first.aliases] == ["alias/a", "alias/c", "alias/e"]
    assert {a.key_id for a in of_first.aliases} == {first}

    seen: list[str] = []
    marker: str | None = None
    while True:
        page = list_aliases(ListAliasesRequestBody(limit="2", marker=marker), caller, any_services)
        seen += [a.alias for a in page.aliases]
        assert page.page_info.current_count == len(page.aliases) <= 2
        if not page.page_info.next_marker:
            break
        marker = page.page_info.next_marker
    assert seen == ["alias/a", "alias/b", "alias/c", "alias/d", "alias/e"]


def test_list_aliases_refuses_bad_limits_markers_and_keys(memory_services: Services, caller: Caller) -> None:
    def listed(**fields: str) -> object:
        return list_aliases(parse_body(ListAliasesRequestBody, fields), caller, memory_services)

    for limit in ("0", "101", "x", "-1"):
        assert _code(partial(listed, limit=limit)) == "KMS.1601"
    bad_marker = parse_body(ListAliasesRequestBody, {"marker": "not a cursor!"})
    assert _code(lambda: list_aliases(bad_marker, caller, memory_services)) == "KMS.1602"
    unknown = ListAliasesRequestBody(key_id=str(uuid.uuid4()))
    assert _code(lambda: list_aliases(unknown, caller, memory_services)) == "KMS.0207"
    assert _code(lambda: parse_body(ListAliasesRequestBody, {"key_id": "alias/x"})) == "KMS.0205"


# --- delete-alias (op 40)


def test_delete_alias_deletes_the_listed_aliases_of_the_key_or_none(
    any_services: Services, caller: Caller
) -> None:
    key_id, other = _key(any_services, caller), _key(any_services, caller)
    for name in ("alias/a", "alias/b", "alias/c"):
        _alias(any_services, caller, key_id, name)
    _alias(any_services, caller, other, "alias/other")

    def delete(names: list[str], key: str) -> None:
        delete_alias(DeleteAliasRequestBody(aliases=names, key_id=key), caller, any_services)

    def names() -> list[str]:
        return [a.alias for a in list_aliases(ListAliasesRequestBody(), caller, any_services).aliases]

    # one alias of another key, or an unknown one, in the list: nothing is deleted
    assert _code(lambda: delete(["alias/a", "alias/other"], key_id)) == "KMS.0207"
    assert _code(lambda: delete(["alias/a", "alias/nope"], key_id)) == "KMS.0207"
    assert names() == ["alias/a", "alias/b", "alias/c", "alias/other"]
    delete(["alias/a", "alias/b", "alias/a"], key_id)
    assert names() == ["alias/c", "alias/other"]
    # the name is free again
    _alias(any_services, caller, other, "alias/a")


def test_aliases_of_other_projects_are_invisible(memory_services: Services, caller: Caller) -> None:
    neighbour = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="r")
    theirs = _key(memory_services, neighbour)
    _alias(memory_services, neighbour, theirs, "alias/theirs")
    mine = _key(memory_services, caller)
    delete = DeleteAliasRequestBody(aliases=["alias/theirs"], key_id=theirs)
    assert _code(lambda: delete_alias(delete, caller, memory_services)) == "KMS.0207"
    move = AssociateAliasRequestBody(alias="alias/theirs", target_key_id=mine)
    assert _code(lambda: associate_alias(move, caller, memory_services)) == "KMS.0207"
    assert _code(lambda: _encrypt(memory_services, caller, "alias/theirs")) == "KMS.0207"
    assert list_aliases(ListAliasesRequestBody(), caller, memory_services).aliases == []


# --- associate-alias (op 42) and aliases as key ids


def test_a_moved_alias_names_the_new_key_and_old_ciphertexts_keep_theirs(
    any_services: Services, caller: Caller
) -> None:
    # Given an alias of key A and a ciphertext made through it
    key_a, key_b = _key(any_services, caller), _key(any_services, caller)
    created = _alias(any_services, caller, key_a, "alias/app")
    before = _encrypt(any_services, caller, "alias/app", "old secret")
    assert before.key_id == key_a  # responses carry the real key id
    # When the alias moves to key B
    moved = associate_alias(
        AssociateAliasRequestBody(alias="alias/app", target_key_id=key_b), caller, any_services
    )
    assert (moved.key_id, moved.alias, moved.create_time) == (key_b, "alias/app", created.create_time)
    # Then new encryptions use B, and the old ciphertext still opens under A (it names its key)
    after = _encrypt(any_services, caller, "alias/app", "new secret")
    assert after.key_id == key_b
    assert _decrypt(any_services, caller, before.cipher_text).key_id == key_a
    assert _decrypt(any_services, caller, before.cipher_text).plain_text.get_secret_value() == "old secret"
    assert _decrypt(any_services, caller, after.cipher_text, "alias/app").key_id == key_b
    # but not when the alias, now naming B, is given as its key
    assert _code(lambda: _decrypt(any_services, caller, before.cipher_text, "alias/app")) == "KMS.2201"
    # And the listings follow the move
    listed = list_aliases(ListAliasesRequestBody(key_id=key_a), caller, any_services)
    assert listed.aliases == []
    # Moving it where it is changes nothing
    again = associate_alias(
        AssociateAliasRequestBody(alias="alias/app", target_key_id=key_b), caller, any_services
    )
    assert again == moved


def test_associate_alias_needs_an_existing_alias_and_a_usable_target(
    memory_services: Services, caller: Caller
) -> None:
    key_id, target = _key(memory_services, caller), _key(memory_services, caller)
    _alias(memory_services, caller, key_id, "alias/x")

    def move(alias: str, to: str) -> Any:
        return associate_alias(
            AssociateAliasRequestBody(alias=alias, target_key_id=to), caller, memory_services
        )

    assert _code(lambda: move("alias/missing", target)) == "KMS.0207"
    assert _code(lambda: move("alias/x", str(uuid.uuid4()))) == "KMS.0207"
    fields = {"alias": "alias/x", "target_key_id": "alias/x"}
    assert _code(lambda: parse_body(AssociateAliasRequestBody, fields)) == "KMS.0205"
    _set_state(memory_services, caller, target, KeyState.PENDING_DELETION)
    assert _code(lambda: move("alias/x", target)) == "KMS.0210"


def test_an_alias_names_its_key_in_every_crypto_operation(memory_services: Services, caller: Caller) -> None:
    aes = _key(memory_services, caller)
    ec = _key(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    hmac_key = _key(memory_services, caller, "HMAC_256", "GENERATE_VERIFY_MAC")
    for key_id, alias in ((aes, "alias/aes"), (ec, "alias/ec"), (hmac_key, "alias/mac")):
        _alias(memory_services, caller, key_id, alias)

    datakey = create_datakey(
        parse_body(CreateDatakeyRequestBody, {"key_id": "alias/aes"}), caller, memory_services
    )
    assert datakey.key_id == aes
    opened = decrypt_datakey(
        parse_body(
            DecryptDatakeyRequestBody,
            {"key_id": "alias/aes", "cipher_text": datakey.cipher_text, "datakey_cipher_length": "32"},
        ),
        caller,
        memory_services,
    )
    assert opened.data_key.get_secret_value() == datakey.plain_text.get_secret_value()
    cipher = _encrypt(memory_services, caller, aes).cipher_text
    moved = re_encrypt(
        parse_body(
            ReEncryptRequestBody,
            {"cipher_text": cipher, "source_key_id": "alias/aes", "destination_key_id": "alias/aes"},
        ),
        caller,
        memory_services,
    )
    assert (moved.key_id, moved.source_key_id) == (aes, aes)
    digest = base64.b64encode(b"\x01" * 32).decode()
    signed = sign(
        parse_body(
            SignRequestBody, {"key_id": "alias/ec", "message": digest, "signing_algorithm": "ECDSA_SHA_256"}
        ),
        caller,
        memory_services,
    )
    assert signed.key_id == ec
    public = show_public_key(
        parse_body(ShowPublicKeyRequestBody, {"key_id": "alias/ec"}), caller, memory_services
    )
    assert public.key_id == ec
    mac = generate_mac(
        parse_body(
            GenerateMacRequestBody,
            {"key_id": "alias/mac", "mac_algorithm": "HMAC_SHA_256", "message": digest},
        ),
        caller,
        memory_services,
    )
    assert mac.key_id == hmac_key


def test_an_alias_is_checked_like_its_key(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    _alias(memory_services, caller, key_id, "alias/signer")
    assert _code(lambda: _encrypt(memory_services, caller, "alias/signer")) == "KMS.1114"
    _set_state(memory_services, caller, key_id, KeyState.DISABLED)
    assert _code(lambda: open_key(memory_services, caller, "alias/signer", Use.SIGN)) == "KMS.0209"
    assert _code(lambda: _encrypt(memory_services, caller, "alias/unknown")) == "KMS.0207"
    # an alias of the same name in another domain names nothing here
    stranger = Caller(project_id=caller.project_id, domain_id="e" * 32, request_id="r")
    assert _code(lambda: open_key(memory_services, stranger, "alias/signer", Use.SIGN)) == "KMS.0207"


NON_CRYPTO_USES = [use for use in Use if use not in ALIAS_USES]


@pytest.mark.parametrize("use", NON_CRYPTO_USES, ids=[use.value for use in NON_CRYPTO_USES])
def test_other_uses_refuse_an_alias_with_0205(memory_services: Services, caller: Caller, use: Use) -> None:
    _alias(memory_services, caller, _key(memory_services, caller), "alias/k")
    assert _code(lambda: open_key(memory_services, caller, "alias/k", use)) == "KMS.0205"


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (OperateKeyRequestBody, {}),
        (ScheduleKeyDeletionRequestBody, {"pending_days": "7"}),
        (UpdateKeyAliasRequestBody, {"key_alias": "renamed"}),
    ],
)
def test_management_operations_refuse_an_alias_with_0205(model: Any, fields: dict[str, str]) -> None:
    assert _code(lambda: parse_body(model, {"key_id": "alias/k", **fields})) == "KMS.0205"


def test_the_old_key_alias_is_a_display_name_only(memory_services: Services, caller: Caller) -> None:
    # A key's own key_alias (ops 1, 8) may look like an alias object's name but never names a key
    create_key(CreateKeyRequestBody(key_alias="alias/display"), caller, memory_services)
    assert _code(lambda: _encrypt(memory_services, caller, "alias/display")) == "KMS.0207"


# --- deletion


def test_the_sweep_deletes_a_deleted_keys_aliases_and_spares_a_cancelled_ones(
    any_services: Services, caller: Caller
) -> None:
    doomed, kept = _key(any_services, caller), _key(any_services, caller)
    for name in ("alias/d1", "alias/d2"):
        _alias(any_services, caller, doomed, name)
    _alias(any_services, caller, kept, "alias/kept")
    schedule_key_deletion(
        ScheduleKeyDeletionRequestBody(key_id=doomed, pending_days="7"), caller, any_services
    )
    record = any_services.stores.keys.get_key(caller.project_id, doomed)
    assert record is not None
    assert record.scheduled_deletion_date is not None
    # While pending deletion, the alias names the key but the key refuses (KMS.0210)
    assert _code(lambda: _encrypt(any_services, caller, "alias/d1")) == "KMS.0210"
    assert sweep(any_services, now=record.scheduled_deletion_date).deleted == 1
    listed = list_aliases(ListAliasesRequestBody(), caller, any_services)
    assert [a.alias for a in listed.aliases] == ["alias/kept"]
    assert _code(lambda: _encrypt(any_services, caller, "alias/d1")) == "KMS.0207"
    _alias(any_services, caller, kept, "alias/d1")  # the name is free again


def test_an_alias_left_on_a_deleted_key_stops_resolving_and_can_be_deleted(
    memory_services: Services, caller: Caller
) -> None:
    # Given an alias whose key became a tombstone without the sweep's alias removal (a crash)
    key_id = _key(memory_services, caller)
    _alias(memory_services, caller, key_id, "alias/left")
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    memory_services.stores.keys.update_key(record.replace(deleted_at=1), record.revision)
    # Then it names no key, and the caller can still delete it
    assert _code(lambda: _encrypt(memory_services, caller, "alias/left")) == "KMS.0207"
    delete_alias(DeleteAliasRequestBody(aliases=["alias/left"], key_id=key_id), caller, memory_services)
    assert list_aliases(ListAliasesRequestBody(), caller, memory_services).aliases == []
