"""Import of key material (spec §10 ops 43-45; access-control §6): every error code, the round
trips, expiry and the sweep, with the client side written with ``cryptography`` alone."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import importing as wrapping
from skms.domain import KeyRecord, KeyState
from skms.logic import gate, keys
from skms.logic import importing as logic
from skms.logic.create_key import create_key
from skms.logic.data import decrypt_data, encrypt_data
from skms.logic.keys import describe_key, disable_key, list_keys, schedule_key_deletion
from skms.logic.mac import generate_mac
from skms.logic.rotation import enable_key_rotation, rotate_on_demand
from skms.logic.signing import show_public_key, sign
from skms.logic.sweep import sweep
from skms.models.base import parse_body
from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody
from skms.models.importing import (
    GetParametersForImportRequestBody,
    ImportKeyMaterialRequestBody,
)
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import ListKeysRequestBody, OperateKeyRequestBody, ScheduleKeyDeletionRequestBody
from skms.models.mac import GenerateMacRequestBody
from skms.models.rotation import RotateOnDemandRequestBody
from skms.models.signing import ShowPublicKeyRequestBody, SignRequestBody
from skms.runtime import Services
from tests.support.importing import oaep_wrap, pkcs8_der, wrap_private_key


def _key(
    services: Services, caller: Caller, spec: str = "AES_256", origin: str = "external", **more: Any
) -> str:
    body = CreateKeyRequestBody(key_alias=f"k-{os.urandom(4).hex()}", key_spec=spec, origin=origin, **more)
    return create_key(body, caller, services).key_info.key_id


def _params(services: Services, caller: Caller, key_id: str, algorithm: str = "RSAES_OAEP_SHA_256") -> Any:
    body = GetParametersForImportRequestBody(key_id=key_id, wrapping_algorithm=algorithm)
    return logic.get_parameters_for_import(body, caller, services)


def _import(services: Services, caller: Caller, key_id: str, **fields: Any) -> None:
    body = parse_body(ImportKeyMaterialRequestBody, {"key_id": key_id, **fields})
    logic.import_key_material(body, caller, services)


def _import_symmetric(
    services: Services, caller: Caller, key_id: str, material: bytes, **fields: Any
) -> None:
    params = _params(services, caller, key_id)
    _import(
        services,
        caller,
        key_id,
        import_token=params.import_token,
        encrypted_key_material=oaep_wrap(params.public_key, material),
        **fields,
    )


def _import_private(
    services: Services, caller: Caller, key_id: str, private_der: bytes, **fields: Any
) -> None:
    params = _params(services, caller, key_id)
    temporary, wrapped = wrap_private_key(params.public_key, private_der)
    _import(
        services,
        caller,
        key_id,
        import_token=params.import_token,
        encrypted_key_material=temporary,
        encrypted_privatekey=wrapped,
        **fields,
    )


def _code(action: Callable[[], object]) -> str:
    with pytest.raises(errors.KmsError) as raised:
        action()
    return raised.value.code


def _okb(key_id: str) -> OperateKeyRequestBody:
    return OperateKeyRequestBody(key_id=key_id)


def _record(services: Services, caller: Caller, key_id: str) -> KeyRecord:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    return record


def _encrypt(services: Services, caller: Caller, key_id: str, text: str = "hello") -> str:
    body = EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr(text))
    return encrypt_data(body, caller, services).cipher_text


def _decrypt(services: Services, caller: Caller, cipher_text: str) -> str:
    return decrypt_data(
        DecryptDataRequestBody(cipher_text=cipher_text), caller, services
    ).plain_text.get_secret_value()


def _at(monkeypatch: pytest.MonkeyPatch, moment_ms: int) -> None:
    """Move the clock the gate and the import logic read."""
    for module in (gate, logic, keys):
        monkeypatch.setattr(module, "now_ms", lambda: moment_ms)


# -- get-parameters-for-import ---------------------------------------------------------------------


def test_parameters_give_a_fresh_rsa_2048_wrapping_key_and_a_token_valid_24_hours(
    memory_services: Services, caller: Caller
) -> None:
    # Given an external key pending import
    key_id = _key(memory_services, caller)
    assert _record(memory_services, caller, key_id).key_state is KeyState.PENDING_IMPORT
    # When its import parameters are asked twice
    before = int(time.time())
    first, second = _params(memory_services, caller, key_id), _params(memory_services, caller, key_id)
    # Then each carries its own RSA-2048 public key (DER SubjectPublicKeyInfo) and a token of the
    # SDK's form, expiring in 24 h (epoch seconds)
    public = serialization.load_der_public_key(base64.b64decode(first.public_key))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert first.public_key != second.public_key
    assert first.key_id == key_id
    assert before + 86_400 <= first.expiration_time <= int(time.time()) + 86_400
    parse_body(
        ImportKeyMaterialRequestBody,
        {"key_id": key_id, "import_token": first.import_token, "encrypted_key_material": "A" * 344},
    )
    # And the wrapping private key is not in the token in clear
    private_marker = base64.b64decode(first.public_key)[-64:]
    assert private_marker not in base64.b64decode(first.import_token)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed on this machine")
def test_openssl_reads_the_wrapping_key_and_its_oaep_sha256_wraps_import(
    memory_services: Services, caller: Caller, tmp_path: Path
) -> None:
    # Given the public key, as the OTC guide uses it: Base64-decoded to a DER file
    key_id = _key(memory_services, caller)
    params = _params(memory_services, caller, key_id)
    (tmp_path / "wrap.der").write_bytes(base64.b64decode(params.public_key))
    material = os.urandom(32)
    (tmp_path / "material.bin").write_bytes(material)
    # When openssl wraps the material with RSA-OAEP-SHA256
    command = ["openssl", "pkeyutl", "-encrypt", "-pubin", "-keyform", "der"]
    command += ["-inkey", str(tmp_path / "wrap.der"), "-in", str(tmp_path / "material.bin")]
    command += ["-out", str(tmp_path / "wrapped.bin"), "-pkeyopt", "rsa_padding_mode:oaep"]
    command += ["-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"]
    subprocess.run(command, check=True, capture_output=True)
    wrapped = base64.b64encode((tmp_path / "wrapped.bin").read_bytes()).decode("ascii")
    # Then the import takes it, and the key encrypts with that material
    _import(memory_services, caller, key_id, import_token=params.import_token, encrypted_key_material=wrapped)
    assert _record(memory_services, caller, key_id).key_state is KeyState.ENABLED
    assert _decrypt(memory_services, caller, _encrypt(memory_services, caller, key_id)) == "hello"


def test_parameters_refuse_kms_keys_keys_not_pending_import_and_unknown_algorithms(
    memory_services: Services, caller: Caller
) -> None:
    kms_key = _key(memory_services, caller, origin="kms")
    assert _code(lambda: _params(memory_services, caller, kms_key)) == "KMS.0309"
    imported = _key(memory_services, caller)
    _import_symmetric(memory_services, caller, imported, os.urandom(32))
    assert _code(lambda: _params(memory_services, caller, imported)) == "KMS.0310"
    fresh = _key(memory_services, caller)
    assert _code(lambda: _params(memory_services, caller, fresh, "SM2_ENCRYPT")) == "KMS.0308"
    assert _code(lambda: _params(memory_services, caller, fresh, "RSAES_PKCS1_V1_5")) == "KMS.0308"
    assert (
        _code(lambda: _params(memory_services, caller, "0" * 8 + "-0000-0000-0000-" + "0" * 12)) == "KMS.0207"
    )


def test_oaep_sha1_wrapping_of_the_older_api_is_offered(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    params = _params(memory_services, caller, key_id, "RSAES_OAEP_SHA_1")
    wrapped = oaep_wrap(params.public_key, os.urandom(32), hashes.SHA1())
    _import(memory_services, caller, key_id, import_token=params.import_token, encrypted_key_material=wrapped)
    assert _record(memory_services, caller, key_id).key_state is KeyState.ENABLED


# -- the import token ----------------------------------------------------------------------------


def _tampered(token: str, index: int) -> str:
    raw = bytearray(base64.b64decode(token))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


def test_tampered_tokens_are_kms_2605(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    params = _params(memory_services, caller, key_id)
    wrapped = oaep_wrap(params.public_key, os.urandom(32))

    def attempt(token: str) -> str:
        return _code(
            lambda: _import(
                memory_services, caller, key_id, import_token=token, encrypted_key_material=wrapped
            )
        )

    # the sealed part, a later expiry in clear, the version byte, and something else entirely
    assert attempt(_tampered(params.import_token, -5)) == "KMS.2605"
    assert attempt(_tampered(params.import_token, 9)) == "KMS.2605"
    assert attempt(_tampered(params.import_token, 0)) == "KMS.2605"
    assert attempt("A" * 400) == "KMS.2605"
    assert attempt("not base64!") == "KMS.2605"  # the SDK's regex, on the model
    assert _record(memory_services, caller, key_id).key_state is KeyState.PENDING_IMPORT


def test_a_token_of_another_key_is_kms_2603(memory_services: Services, caller: Caller) -> None:
    key_id, other = _key(memory_services, caller), _key(memory_services, caller)
    params = _params(memory_services, caller, other)
    wrapped = oaep_wrap(params.public_key, os.urandom(32))
    code = _code(
        lambda: _import(
            memory_services, caller, key_id, import_token=params.import_token, encrypted_key_material=wrapped
        )
    )
    assert code == "KMS.2603"


def test_a_token_of_another_project_does_not_open(memory_services: Services, caller: Caller) -> None:
    # The token is bound to its project: sealed for one, it does not unwrap for another.
    key_id = _key(memory_services, caller)
    private, _ = wrapping.new_wrapping_key()
    token = wrapping.seal_token(
        memory_services.keyring.root,
        "another-project",
        key_id,
        algorithm=wrapping.WrappingAlgorithm.RSAES_OAEP_SHA_256,
        expires=int(time.time()) + 3600,
        private=private,
    )
    with pytest.raises(wrapping.TokenInvalid):
        wrapping.open_token(memory_services.keyring.root, caller.project_id, wrapping.parse_token(token))


def test_an_expired_token_is_kms_2601(
    memory_services: Services, caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = _key(memory_services, caller)
    params = _params(memory_services, caller, key_id)
    wrapped = oaep_wrap(params.public_key, os.urandom(32))
    _at(monkeypatch, params.expiration_time * 1000)
    code = _code(
        lambda: _import(
            memory_services, caller, key_id, import_token=params.import_token, encrypted_key_material=wrapped
        )
    )
    assert code == "KMS.2601"


# -- import-key-material: symmetric ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [("AES_256", 32, 16), ("SM4", 16, 32), ("HMAC_256", 32, 31), ("HMAC_384", 48, 32), ("HMAC_512", 64, 48)],
)
def test_symmetric_material_of_the_wrong_length_is_kms_2604(
    memory_services: Services, caller: Caller, spec: str, good: int, bad: int
) -> None:
    key_id = _key(memory_services, caller, spec)
    assert _code(lambda: _import_symmetric(memory_services, caller, key_id, os.urandom(bad))) == "KMS.2604"
    _import_symmetric(memory_services, caller, key_id, os.urandom(good))
    assert _record(memory_services, caller, key_id).key_state is KeyState.ENABLED


def test_imported_hmac_material_makes_the_macs_of_that_material(
    memory_services: Services, caller: Caller
) -> None:
    import hmac as std_hmac

    key_id = _key(memory_services, caller, "HMAC_256")
    material = os.urandom(32)
    _import_symmetric(memory_services, caller, key_id, material)
    message = base64.b64encode(b"message").decode("ascii")
    body = GenerateMacRequestBody(key_id=key_id, mac_algorithm="HMAC_SHA_256", message=message)
    mac = generate_mac(body, caller, memory_services).mac
    assert base64.b64decode(mac) == std_hmac.new(material, b"message", "sha256").digest()


def test_a_wrapped_value_that_does_not_decrypt_is_kms_0308(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    params = _params(memory_services, caller, key_id)
    other = _params(memory_services, caller, key_id)  # another wrapping key
    wrapped = oaep_wrap(other.public_key, os.urandom(32))
    code = _code(
        lambda: _import(
            memory_services, caller, key_id, import_token=params.import_token, encrypted_key_material=wrapped
        )
    )
    assert code == "KMS.0308"


def test_round_trip_delete_and_reimport_of_the_same_material(
    memory_services: Services, caller: Caller
) -> None:
    # Given an AES_256 key with imported material and a ciphertext under it
    key_id = _key(memory_services, caller)
    material = os.urandom(32)
    _import_symmetric(memory_services, caller, key_id, material)
    cipher_text = _encrypt(memory_services, caller, key_id, "before deletion")
    # When the material is deleted, Then the key is pending import and cannot decrypt
    logic.delete_imported_key_material(_okb(key_id), caller, memory_services)
    record = _record(memory_services, caller, key_id)
    assert record.key_state is KeyState.PENDING_IMPORT
    assert record.versions.primary_version is None
    assert _code(lambda: _decrypt(memory_services, caller, cipher_text)) == "KMS.1301"
    # When other material is imported, Then it is refused (KMS.2606)
    assert _code(lambda: _import_symmetric(memory_services, caller, key_id, os.urandom(32))) == "KMS.2606"
    # When the same material is imported again, Then the old ciphertext decrypts
    _import_symmetric(memory_services, caller, key_id, material)
    assert _decrypt(memory_services, caller, cipher_text) == "before deletion"


def test_imported_material_is_stored_only_wrapped(services: Services, caller: Caller, settings: Any) -> None:
    key_id = _key(services, caller)
    material = os.urandom(32)
    _import_symmetric(services, caller, key_id, material)
    stored = b"".join(p.read_bytes() for p in Path(settings.data_dir).rglob("*") if p.is_file())
    assert material not in stored
    assert base64.b64encode(material) not in stored
    assert _record(services, caller, key_id).material_fingerprint is not None


def test_importing_twice_is_kms_0310(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _import_symmetric(memory_services, caller, key_id, os.urandom(32))
    assert _code(lambda: _import_symmetric(memory_services, caller, key_id, os.urandom(32))) == "KMS.0310"


def test_material_expiry_in_the_past_is_kms_2602(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    past = int(time.time()) - 1
    code = _code(
        lambda: _import_symmetric(memory_services, caller, key_id, os.urandom(32), expiration_time=past)
    )
    assert code == "KMS.2602"
    with pytest.raises(errors.KmsError) as raised:
        parse_body(
            ImportKeyMaterialRequestBody,
            {
                "key_id": key_id,
                "import_token": "A" * 200,
                "encrypted_key_material": "A" * 344,
                "expiration_time": "1",
            },
        )
    assert raised.value.code == "KMS.0308"


# -- import-key-material: asymmetric --------------------------------------------------------------


def test_an_imported_ec_key_signs_and_its_public_key_verifies(
    memory_services: Services, caller: Caller
) -> None:
    # Given an EC_P256 private key made outside KMS, imported
    key_id = _key(memory_services, caller, "EC_P256", key_usage="SIGN_VERIFY")
    private = ec.generate_private_key(ec.SECP256R1())
    _import_private(memory_services, caller, key_id, pkcs8_der(private))
    # When KMS signs a message with it
    message = base64.b64encode(b"imported").decode("ascii")
    body = SignRequestBody(
        key_id=key_id, message=message, signing_algorithm="ECDSA_SHA_256", message_type="RAW"
    )
    signature = base64.b64decode(sign(body, caller, memory_services).signature)
    # Then the caller's own public key verifies it, and get-publickey is that key
    private.public_key().verify(signature, b"imported", ec.ECDSA(hashes.SHA256()))
    pem = show_public_key(ShowPublicKeyRequestBody(key_id=key_id), caller, memory_services).public_key
    shown = serialization.load_pem_public_key(pem.encode("ascii"))
    assert shown.public_numbers() == private.public_key().public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "usage", "make"),
    [
        (
            "RSA_2048",
            "ENCRYPT_DECRYPT",
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ),
        ("EC_P384", "SIGN_VERIFY", lambda: ec.generate_private_key(ec.SECP384R1())),
        ("SECP256K1", "SIGN_VERIFY", lambda: ec.generate_private_key(ec.SECP256K1())),
        ("ED25519", "SIGN_VERIFY", ed25519.Ed25519PrivateKey.generate),
    ],
)
def test_other_asymmetric_specs_import(
    memory_services: Services, caller: Caller, spec: str, usage: str, make: Callable[[], Any]
) -> None:
    key_id = _key(memory_services, caller, spec, key_usage=usage)
    _import_private(memory_services, caller, key_id, pkcs8_der(make()))
    assert _record(memory_services, caller, key_id).key_state is KeyState.ENABLED


def test_asymmetric_import_errors(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller, "EC_P256", key_usage="SIGN_VERIFY")
    p384 = pkcs8_der(ec.generate_private_key(ec.SECP384R1()))
    p256 = pkcs8_der(ec.generate_private_key(ec.SECP256R1()))
    params = _params(memory_services, caller, key_id)

    def attempt(**fields: Any) -> str:
        return _code(
            lambda: _import(memory_services, caller, key_id, import_token=params.import_token, **fields)
        )

    temporary, _ = wrap_private_key(params.public_key, p256)
    # no private key (2608); a private key of another curve (2609); not a key at all (2609)
    assert attempt(encrypted_key_material=temporary) == "KMS.2608"
    other_curve = wrap_private_key(params.public_key, p384)
    assert attempt(encrypted_key_material=other_curve[0], encrypted_privatekey=other_curve[1]) == "KMS.2609"
    garbage = base64.b64encode(os.urandom(160)).decode("ascii")
    assert attempt(encrypted_key_material=temporary, encrypted_privatekey=garbage) == "KMS.2609"
    not_a_key = wrap_private_key(params.public_key, os.urandom(140))
    assert attempt(encrypted_key_material=not_a_key[0], encrypted_privatekey=not_a_key[1]) == "KMS.2609"
    # a temporary key of 24 bytes (2610)
    odd = wrap_private_key(params.public_key, p256, temporary_key=os.urandom(24))
    assert attempt(encrypted_key_material=odd[0], encrypted_privatekey=odd[1]) == "KMS.2610"
    # And after all that, the right key imports with the same token
    good = wrap_private_key(params.public_key, p256)
    fields = {"encrypted_key_material": good[0], "encrypted_privatekey": good[1]}
    _import(memory_services, caller, key_id, import_token=params.import_token, **fields)
    assert _record(memory_services, caller, key_id).key_state is KeyState.ENABLED


def test_sm2_keys_cannot_be_external(memory_services: Services, caller: Caller) -> None:
    assert _code(lambda: _key(memory_services, caller, "SM2", key_usage="SIGN_VERIFY")) == "KMS.1110"


# -- delete-imported-key-material -----------------------------------------------------------------


def test_delete_errors(memory_services: Services, caller: Caller) -> None:
    kms_key = _key(memory_services, caller, origin="kms")
    assert (
        _code(lambda: logic.delete_imported_key_material(_okb(kms_key), caller, memory_services))
        == "KMS.0309"
    )
    pending = _key(memory_services, caller)
    assert (
        _code(lambda: logic.delete_imported_key_material(_okb(pending), caller, memory_services))
        == "KMS.2701"
    )
    ec_key = _key(memory_services, caller, "EC_P256", key_usage="SIGN_VERIFY")
    _import_private(memory_services, caller, ec_key, pkcs8_der(ec.generate_private_key(ec.SECP256R1())))
    assert (
        _code(lambda: logic.delete_imported_key_material(_okb(ec_key), caller, memory_services)) == "KMS.2702"
    )
    # a key pending deletion: 2701
    doomed = _key(memory_services, caller)
    _import_symmetric(memory_services, caller, doomed, os.urandom(32))
    schedule_key_deletion(
        ScheduleKeyDeletionRequestBody(key_id=doomed, pending_days="7"), caller, memory_services
    )
    assert (
        _code(lambda: logic.delete_imported_key_material(_okb(doomed), caller, memory_services)) == "KMS.2701"
    )


def test_disabled_keys_may_lose_their_material(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _import_symmetric(memory_services, caller, key_id, os.urandom(32))
    disable_key(_okb(key_id), caller, memory_services)
    logic.delete_imported_key_material(_okb(key_id), caller, memory_services)
    assert _record(memory_services, caller, key_id).key_state is KeyState.PENDING_IMPORT


def test_imported_keys_refuse_rotation(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    _import_symmetric(memory_services, caller, key_id, os.urandom(32))
    assert _code(lambda: enable_key_rotation(_okb(key_id), caller, memory_services)) == "KMS.0312"
    code = _code(lambda: rotate_on_demand(RotateOnDemandRequestBody(key_id=key_id), caller, memory_services))
    assert code == "KMS.0312"


# -- expiry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory_services", "services"])
def test_expired_material_is_unusable_at_once_and_erased_by_the_sweep(
    request: pytest.FixtureRequest, caller: Caller, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    services: Services = request.getfixturevalue(backend)
    # Given a key whose imported material expires in an hour, and a ciphertext under it
    key_id = _key(services, caller)
    material = os.urandom(32)
    expires = int(time.time()) + 3600
    _import_symmetric(services, caller, key_id, material, expiration_time=expires)
    cipher_text = _encrypt(services, caller, key_id)
    assert describe_key(_okb(key_id), caller, services).key_info.expiration_time == str(expires * 1000)
    # When that moment comes (before any sweep), Then the key is pending import and unusable
    _at(monkeypatch, expires * 1000)
    assert describe_key(_okb(key_id), caller, services).key_info.key_state == "5"
    listed = list_keys(ListKeysRequestBody(), caller, services).key_details
    assert [d.key_state for d in listed if d.key_id == key_id] == ["5"]
    assert _code(lambda: _decrypt(services, caller, cipher_text)) == "KMS.1301"
    assert _code(lambda: _encrypt(services, caller, key_id)) == "KMS.1301"
    # And the sweep erases the material (once)
    assert sweep(services, now=expires * 1000 - 1).expired == 0
    result = sweep(services, now=expires * 1000)
    assert (result.expired, result.deleted) == (1, 0)
    assert sweep(services, now=expires * 1000 + 1).expired == 0
    record = _record(services, caller, key_id)
    assert record.key_state is KeyState.PENDING_IMPORT
    assert record.materials == {}
    # And the same material imported again opens the old ciphertext
    _import_symmetric(services, caller, key_id, material)
    assert _decrypt(services, caller, cipher_text) == "hello"
