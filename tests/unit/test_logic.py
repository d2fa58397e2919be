"""Operation logic against the in-memory fake store: rules of spec §3 op 1 and §4 ops 10/13."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from skms import errors
from skms.caller import Caller
from skms.crypto import blob
from skms.domain import KeyState
from skms.logic.create_key import create_key
from skms.logic.datakeys import create_datakey, decrypt_datakey
from skms.logic.keys import list_keys
from skms.models.datakeys import CreateDatakeyRequestBody, DecryptDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import ListKeysRequestBody
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID

SPECS_AND_USAGES = [
    ("AES_256", "ENCRYPT_DECRYPT"),
    ("SM4", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "SIGN_VERIFY"),
    ("EC_P256", "SIGN_VERIFY"),
    ("EC_P384", "SIGN_VERIFY"),
    ("SECP256K1", "SIGN_VERIFY"),
    ("SM2", "SIGN_VERIFY"),
    ("ED25519", "SIGN_VERIFY"),
]


def _new_key(services: Services, caller: Caller, alias: str = "k1", **fields: str) -> str:
    reply = create_key(CreateKeyRequestBody(key_alias=alias, **fields), caller, services)
    return reply.key_info.key_id


def _datakey(services: Services, caller: Caller, key_id: str, **fields: Any) -> tuple[str, str]:
    reply = create_datakey(CreateDatakeyRequestBody(key_id=key_id, **fields), caller, services)
    return reply.plain_text.get_secret_value(), reply.cipher_text


def _decrypt(services: Services, caller: Caller, key_id: str, cipher: str, length: int, **fields: Any) -> str:
    body = DecryptDatakeyRequestBody(
        key_id=key_id, cipher_text=cipher, datakey_cipher_length=str(length), **fields
    )
    return decrypt_datakey(body, caller, services).data_key.get_secret_value()


@pytest.mark.parametrize(("spec", "usage"), SPECS_AND_USAGES)
def test_create_key_stores_spec_usage_and_wrapped_material(
    memory_services: Services, caller: Caller, spec: str, usage: str
) -> None:
    key_id = _new_key(memory_services, caller, key_spec=spec)
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    assert (record.key_spec, record.key_usage, record.key_state) == (spec, usage, KeyState.ENABLED)
    assert record.domain_id == caller.domain_id
    assert (record.public_key_pem is None) == (spec in ("AES_256", "SM4"))
    material = memory_services.keyring.material(record, 0)
    assert material not in record.materials[0]


def test_create_key_defaults(memory_services: Services, caller: Caller) -> None:
    record = memory_services.stores.keys.get_key(caller.project_id, _new_key(memory_services, caller))
    assert record is not None
    assert (record.key_spec, record.enterprise_project_id, record.keystore_id, record.origin) == (
        "AES_256",
        "0",
        "0",
        "kms",
    )


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"key_alias": "svc/default"}, "KMS.1101"),
        ({"key_alias": "k", "key_spec": "AES_512"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "EC_P256", "key_usage": "ENCRYPT_DECRYPT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "AES_256", "key_usage": "SIGN_VERIFY"}, "KMS.1110"),
        ({"key_alias": "k", "key_usage": "WRAP"}, "KMS.1110"),
        ({"key_alias": "k", "origin": "hsm"}, "KMS.0308"),
        ({"key_alias": "k", "origin": "external", "key_spec": "SM2"}, "KMS.1110"),
        # KEY_AGREEMENT is ECDH on the EC curves only (SM2 key agreement is not plain ECDH)
        ({"key_alias": "k", "key_spec": "SM2", "key_usage": "KEY_AGREEMENT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "ED25519", "key_usage": "KEY_AGREEMENT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "RSA_2048", "key_usage": "KEY_AGREEMENT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "AES_256", "key_usage": "KEY_AGREEMENT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "HMAC_256", "key_usage": "KEY_AGREEMENT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "ED25519", "key_usage": "ENCRYPT_DECRYPT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "SECP256K1", "key_usage": "ENCRYPT_DECRYPT"}, "KMS.1110"),
        ({"key_alias": "k", "key_spec": "secp256k1"}, "KMS.1110"),
    ],
)
def test_create_key_rejects(
    memory_services: Services, caller: Caller, fields: dict[str, str], code: str
) -> None:
    with pytest.raises(errors.KmsError) as caught:
        create_key(CreateKeyRequestBody(**fields), caller, memory_services)
    assert caught.value.code == code


@pytest.mark.parametrize("spec", ["EC_P256", "EC_P384", "SECP256K1"])
def test_ec_keys_can_be_key_agreement_keys(memory_services: Services, caller: Caller, spec: str) -> None:
    key_id = _new_key(memory_services, caller, f"ka-{spec}", key_spec=spec, key_usage="KEY_AGREEMENT")
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    assert (record.key_spec, record.key_usage) == (spec, "KEY_AGREEMENT")
    assert record.public_key_pem is not None


def test_list_keys_filters_by_the_new_specs(memory_services: Services, caller: Caller) -> None:
    # Given keys of every asymmetric spec
    made = {
        spec: _new_key(memory_services, caller, f"f-{spec}", key_spec=spec) for spec, _ in SPECS_AND_USAGES
    }
    # Then the list-keys key_spec filter takes SECP256K1 and ED25519 like the other specs (§3 op 3)
    for spec in ("SECP256K1", "ED25519"):
        listed = list_keys(ListKeysRequestBody(key_spec=spec), caller, memory_services)
        assert (listed.keys, listed.total) == ([made[spec]], 1)
        assert [d.key_spec for d in listed.key_details] == [spec]
    everything = list_keys(ListKeysRequestBody(key_spec="ALL"), caller, memory_services)
    assert set(made.values()) <= set(everything.keys)


def test_alias_is_unique_per_project_only(memory_services: Services, caller: Caller) -> None:
    _new_key(memory_services, caller, "shared")
    with pytest.raises(errors.KmsError) as caught:
        _new_key(memory_services, caller, "shared")
    assert caught.value.code == "KMS.1104"
    other = Caller(OTHER_PROJECT_ID, caller.domain_id, "r")
    assert _new_key(memory_services, other, "shared")


def test_key_quota_is_enforced(memory_services: Services, caller: Caller) -> None:
    limited = Services(
        memory_services.settings.model_copy(update={"key_quota": 2}),
        memory_services.stores,
        memory_services.keyring,
    )
    _new_key(limited, caller, "a")
    _new_key(limited, caller, "b")
    with pytest.raises(errors.KmsError) as caught:
        _new_key(limited, caller, "c")
    assert caught.value.code == "KMS.1105"


def test_external_key_has_no_material_and_is_pending_import(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _new_key(memory_services, caller, origin="external")
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    assert (record.key_state, record.materials) == (KeyState.PENDING_IMPORT, {})
    with pytest.raises(errors.KmsError) as caught:
        _datakey(memory_services, caller, key_id)
    assert caught.value.code == "KMS.1301"


@pytest.mark.parametrize(
    ("fields", "bits"),
    [
        ({}, 256),
        ({"datakey_length": "512"}, 512),
        ({"datakey_length": "8"}, 8),
        ({"datakey_length": "8192"}, 8192),
        ({"key_spec": "AES_128"}, 128),
        ({"key_spec": "AES_256"}, 256),
        ({"datakey_length": "64", "key_spec": "AES_256"}, 64),
    ],
)
def test_datakey_lengths(
    memory_services: Services, caller: Caller, fields: dict[str, str], bits: int
) -> None:
    key_id = _new_key(memory_services, caller)
    plain, cipher = _datakey(memory_services, caller, key_id, **fields)
    assert len(plain) == bits // 4
    assert plain == plain.upper()
    assert cipher == cipher.upper()
    assert _decrypt(memory_services, caller, key_id, cipher, bits // 8) == plain


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"datakey_length": "0"}, "KMS.1901"),
        ({"datakey_length": "8200"}, "KMS.1901"),
        ({"datakey_length": "12"}, "KMS.1903"),
        ({"datakey_length": "-8"}, "KMS.1901"),
        ({"key_spec": "AES_512"}, "KMS.1902"),
    ],
)
def test_datakey_length_errors(
    memory_services: Services, caller: Caller, fields: dict[str, str], code: str
) -> None:
    key_id = _new_key(memory_services, caller)
    with pytest.raises(errors.KmsError) as caught:
        _datakey(memory_services, caller, key_id, **fields)
    assert caught.value.code == code


@pytest.mark.parametrize(("spec", "digest"), [("AES_256", hashes.SHA256()), ("SM4", hashes.SM3())])
def test_decrypt_datakey_digest(
    memory_services: Services, caller: Caller, spec: str, digest: hashes.HashAlgorithm
) -> None:
    key_id = _new_key(memory_services, caller, key_spec=spec)
    plain, cipher = _datakey(memory_services, caller, key_id, datakey_length="512")
    body = DecryptDatakeyRequestBody(key_id=key_id, cipher_text=cipher, datakey_cipher_length="64")
    reply = decrypt_datakey(body, caller, memory_services)
    h = hashes.Hash(digest)
    h.update(bytes.fromhex(plain))
    assert reply.datakey_dgst == h.finalize().hex().upper()
    assert reply.datakey_length == "64"


def test_spec_digest_example_of_64_zero_bytes() -> None:
    # §4 op 13 docs example: 64 zero bytes give this digest.
    assert hashlib.sha256(bytes(64)).hexdigest().upper() == (
        "F5A5FD42D16A20302798EF6ED309979B43003D2320D9F0E8EA9831A92759FB4B"
    )


def test_context_and_aad_are_bound(memory_services: Services, caller: Caller) -> None:
    key_id = _new_key(memory_services, caller)
    ctx = {"bucket": "b1", "object": "o1"}
    plain, cipher = _datakey(
        memory_services, caller, key_id, encryption_context=ctx, additional_authenticated_data="aad"
    )
    assert (
        _decrypt(
            memory_services,
            caller,
            key_id,
            cipher,
            32,
            encryption_context=dict(reversed(ctx.items())),
            additional_authenticated_data="aad",
        )
        == plain
    )
    for wrong in (
        {"encryption_context": ctx},
        {"additional_authenticated_data": "aad"},
        {"encryption_context": {"bucket": "b2", "object": "o1"}, "additional_authenticated_data": "aad"},
    ):
        with pytest.raises(errors.KmsError) as caught:
            _decrypt(memory_services, caller, key_id, cipher, 32, **wrong)
        assert caught.value.code == "KMS.2201"


def test_ciphertext_of_one_key_does_not_open_under_another(memory_services: Services, caller: Caller) -> None:
    first, second = _new_key(memory_services, caller, "a"), _new_key(memory_services, caller, "b")
    _, cipher = _datakey(memory_services, caller, first)
    with pytest.raises(errors.KmsError) as caught:
        _decrypt(memory_services, caller, second, cipher, 32)
    assert caught.value.code == "KMS.2201"
    # Even with the key id inside the blob rewritten (and the checksum fixed), the AEAD refuses it.
    raw = bytearray(bytes.fromhex(cipher))
    raw[-72:-36] = second.encode()
    framed = bytes(raw[:-32])
    forged = (framed + hashlib.sha256(framed).digest()).hex()
    with pytest.raises(errors.KmsError) as caught:
        _decrypt(memory_services, caller, second, forged, 32)
    assert caught.value.code == "KMS.2201"


def test_every_single_byte_change_of_a_datakey_blob_is_rejected(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _new_key(memory_services, caller)
    _, cipher = _datakey(memory_services, caller, key_id, datakey_length="64")
    raw = bytes.fromhex(cipher)
    for offset in range(len(raw)):
        tampered = bytearray(raw)
        tampered[offset] ^= 0x01
        with pytest.raises(errors.KmsError) as caught:
            _decrypt(memory_services, caller, key_id, bytes(tampered).hex(), 8)
        assert caught.value.status == 400, offset


def test_wrong_length_and_foreign_project(memory_services: Services, caller: Caller) -> None:
    key_id = _new_key(memory_services, caller)
    _, cipher = _datakey(memory_services, caller, key_id)
    with pytest.raises(errors.KmsError) as caught:
        _decrypt(memory_services, caller, key_id, cipher, 16)
    assert caught.value.code == "KMS.2204"
    with pytest.raises(errors.KmsError) as caught:
        _decrypt(memory_services, Caller(OTHER_PROJECT_ID, "d", "r"), key_id, cipher, 32)
    assert caught.value.code == "KMS.0207"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (KeyState.DISABLED, "KMS.0209"),
        (KeyState.PENDING_DELETION, "KMS.0210"),
        (KeyState.FROZEN, "KMS.0320"),
        (KeyState.PENDING_ACTIVATION, "KMS.1301"),
    ],
)
def test_key_state_is_checked(memory_services: Services, caller: Caller, state: KeyState, code: str) -> None:
    key_id = _new_key(memory_services, caller)
    _, cipher = _datakey(memory_services, caller, key_id)
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    memory_services.stores.keys.update_key(record.replace(key_state=state), record.revision)
    for attempt in (
        lambda: _datakey(memory_services, caller, key_id),
        lambda: _decrypt(memory_services, caller, key_id, cipher, 32),
    ):
        with pytest.raises(errors.KmsError) as caught:
            attempt()
        assert caught.value.code == code


def test_asymmetric_keys_cannot_make_data_keys(memory_services: Services, caller: Caller) -> None:
    key_id = _new_key(memory_services, caller, key_spec="EC_P256")
    with pytest.raises(errors.KmsError) as caught:
        _datakey(memory_services, caller, key_id)
    assert caught.value.code == "KMS.0325"


def test_blob_header_names_the_key_and_version(memory_services: Services, caller: Caller) -> None:
    key_id = _new_key(memory_services, caller)
    _, cipher = _datakey(memory_services, caller, key_id)
    header = blob.read_header(bytes.fromhex(cipher))
    assert (header.key_id, header.key_version, header.purpose) == (key_id, 0, blob.Purpose.DATA_KEY)
