"""Key metadata is bound to the wrapped material: a row changed by whoever can write the table (but
does not hold the root key) fails closed instead of making verify accept forged signatures."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import material
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.crypto.root_key import material_context
from skms.domain import KeyRecord, KeyVersions
from skms.keyring import version_context
from skms.logic.create_key import create_key
from skms.logic.data import encrypt_data
from skms.logic.signing import show_public_key, sign, verify
from skms.models.data import EncryptDataRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody
from skms.models.signing import SignRequestBody, VerifyRequestBody
from skms.runtime import Services

MESSAGE = base64.b64encode(b"pay 100 to alice").decode("ascii")


def _key(services: Services, caller: Caller, spec: str, usage: str) -> KeyRecord:
    created = create_key(
        CreateKeyRequestBody(key_alias=f"bound-{spec}-{usage}", key_spec=spec, key_usage=usage),
        caller,
        services,
    )
    record = services.stores.keys.get_key(caller.project_id, created.key_info.key_id)
    assert record is not None
    return record


def _tamper(services: Services, record: KeyRecord, **changes: object) -> None:
    services.stores.keys.update_key(record.replace(**changes), record.revision)
    services.keyring.cache.clear()  # a new process: nothing unwrapped yet


def _verify(services: Services, caller: Caller, key_id: str, signature: str) -> str:
    body = VerifyRequestBody(
        key_id=key_id,
        message=MESSAGE,
        signature=signature,
        signing_algorithm="ECDSA_SHA_256",
        message_type="RAW",
    )
    return verify(body, caller, services).signature_valid


def _forged() -> tuple[str, str]:
    """An attacker's own P-256 key: its PEM and its signature over MESSAGE."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    pem = (
        attacker.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    signature = attacker.sign(base64.b64decode(MESSAGE), ec.ECDSA(hashes.SHA256()))
    return pem, base64.b64encode(signature).decode("ascii")


def test_a_tampered_public_key_makes_verify_fail_closed(memory_services: Services, caller: Caller) -> None:
    # Given a signing key, and an attacker's signature that only the attacker's public key accepts
    record = _key(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    attacker_pem, forged = _forged()
    assert _verify(memory_services, caller, record.key_id, forged) == "false"
    # When the attacker writes their public key into the key's row
    _tamper(memory_services, record, public_key_pem=attacker_pem)
    # Then neither verify nor get-publickey trusts it: the request fails, it never says "true"
    with pytest.raises(errors.InternalError):
        _verify(memory_services, caller, record.key_id, forged)
    with pytest.raises(errors.InternalError):
        show_public_key(OperateKeyRequestBody(key_id=record.key_id), caller, memory_services)


def test_a_tampered_usage_or_spec_fails_closed(memory_services: Services, caller: Caller) -> None:
    # Given an RSA signing key, rewritten in the table as an encryption key
    record = _key(memory_services, caller, "RSA_2048", "SIGN_VERIFY")
    _tamper(memory_services, record, key_usage=KeyUsage.ENCRYPT_DECRYPT)
    # When it is used for what the row now says / Then its material refuses to unwrap
    body = EncryptDataRequestBody(
        key_id=record.key_id, plain_text=SecretStr("x"), encryption_algorithm="RSAES_OAEP_SHA_256"
    )
    with pytest.raises(errors.InternalError):
        encrypt_data(body, caller, memory_services)
    # And an AES key relabelled SM4 cannot encrypt either
    aes = _key(memory_services, caller, "AES_256", "ENCRYPT_DECRYPT")
    _tamper(memory_services, aes, key_spec=KeySpec.SM4)
    with pytest.raises(errors.InternalError):
        encrypt_data(
            EncryptDataRequestBody(key_id=aes.key_id, plain_text=SecretStr("x")), caller, memory_services
        )


def test_an_untampered_key_signs_and_verifies(memory_services: Services, caller: Caller) -> None:
    record = _key(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    memory_services.keyring.cache.clear()
    body = SignRequestBody(
        key_id=record.key_id, message=MESSAGE, signing_algorithm="ECDSA_SHA_256", message_type="RAW"
    )
    signature = sign(body, caller, memory_services).signature
    assert _verify(memory_services, caller, record.key_id, signature) == "true"


def test_material_is_wrapped_under_the_keys_spec_usage_and_public_key(
    memory_services: Services, caller: Caller
) -> None:
    record = _key(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    primary = record.versions.primary_version
    assert primary is not None
    assert primary.bound
    assert record.public_key_pem is not None
    context = version_context(record, primary)
    assert context["key_spec"] == "EC_P256"
    assert context["key_usage"] == "SIGN_VERIFY"
    assert context["public_key_sha256"] == hashlib.sha256(record.public_key_pem.encode()).hexdigest()


def test_keys_wrapped_before_the_binding_are_checked_by_deriving_their_public_key(
    memory_services: Services, caller: Caller
) -> None:
    # Given a key whose material was wrapped under the old context (no binding), as older stores hold
    record = _key(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    primary = record.versions.primary_version
    assert primary is not None
    secret = memory_services.keyring.root.unwrap(primary.wrapped, version_context(record, primary))
    old_context = material_context(record.project_id, record.key_id, primary.number)  # no binding
    rewrapped = memory_services.keyring.root.wrap(secret, old_context)
    record = _key_with(memory_services, record, KeyVersions.of_materials({0: rewrapped}, bound=False))
    pem = material.public_key_pem(KeySpec.EC_P256, secret)
    assert pem == record.public_key_pem
    attacker_pem, forged = _forged()
    # When its row is untouched, Then it still verifies; when its public key is replaced, it fails closed
    assert _verify(memory_services, caller, record.key_id, forged) == "false"
    _tamper(memory_services, record, public_key_pem=attacker_pem)
    with pytest.raises(errors.InternalError):
        _verify(memory_services, caller, record.key_id, forged)


def _key_with(services: Services, record: KeyRecord, versions: KeyVersions) -> KeyRecord:
    return services.stores.keys.update_key(record.replace(versions=versions), record.revision)
