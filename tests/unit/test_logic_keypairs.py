"""Data key pairs against the in-memory fake store: spec §4 ops 17 (RSA) and 18 (EC, SM2).

The pairs are checked with independent code (``cryptography``, or GmSSL for SM2), and their
``private_key_cipher_text`` with the decrypt-data and re-encrypt logic (§F5).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from skms import errors
from skms.caller import Caller
from skms.crypto import keypairs, sm2
from skms.domain import KeyState
from skms.logic.create_key import create_key
from skms.logic.data import decrypt_data, re_encrypt
from skms.logic.keypairs import create_ec_datakey_pair, create_rsa_datakey_pair
from skms.models.base import parse_body
from skms.models.data import DecryptDataRequestBody, ReEncryptRequestBody
from skms.models.keypairs import (
    CreateEcDatakeyPairRequestBody,
    CreateRsaDatakeyPairRequestBody,
    DatakeyPairResponseBody,
)
from skms.models.keys import CreateKeyRequestBody
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID

DATA_CIPHER = re.compile(r"^[0-9a-zA-Z+/=]{128,5648}$")  # §4 op 15: decrypt-data's input
RSA_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
EC_SPECS = ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SM2"]
EC_CURVES = {
    "ECC_NIST_P256": "secp256r1",
    "ECC_NIST_P384": "secp384r1",
    "ECC_NIST_P521": "secp521r1",
    "ECC_SECG_P256K1": "secp256k1",
}
MESSAGE = b"signed outside the KMS with a data key pair"
AAD = "invoice-2025-0042"
PairFn = Callable[[Any, Caller, Services], DatakeyPairResponseBody]


# --- helpers


def _key(services: Services, caller: Caller, spec: str = "AES_256", usage: str | None = None) -> str:
    fields = {"key_spec": spec} | ({"key_usage": usage} if usage else {})
    body = CreateKeyRequestBody(key_alias=f"kp-{uuid.uuid4().hex[:12]}", **fields)
    return create_key(body, caller, services).key_info.key_id


def _set_state(services: Services, caller: Caller, key_id: str, state: KeyState) -> None:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    services.stores.keys.update_key(record.replace(key_state=state), record.revision)


def _pair(
    services: Services, caller: Caller, key_id: str, key_spec: str, **fields: Any
) -> DatakeyPairResponseBody:
    """Create a pair through the op that takes ``key_spec``, from a wire-shaped body."""
    raw = {"key_id": key_id, "key_spec": key_spec, **fields}
    if key_spec.startswith("RSA"):
        return create_rsa_datakey_pair(parse_body(CreateRsaDatakeyPairRequestBody, raw), caller, services)
    return create_ec_datakey_pair(parse_body(CreateEcDatakeyPairRequestBody, raw), caller, services)


def _decrypt(services: Services, caller: Caller, cipher_text: str, **fields: Any) -> tuple[str, bytes]:
    """(key_id, plaintext bytes) that decrypt-data gives for ``cipher_text``."""
    reply = decrypt_data(
        parse_body(DecryptDataRequestBody, {"cipher_text": cipher_text, **fields}), caller, services
    )
    return reply.key_id, base64.b64decode(reply.plain_text_base64.get_secret_value(), validate=True)


def _code(action: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(errors.KmsError) as caught:
        action(*args, **kwargs)
    return caught.value.code


def _assert_pair_works(key_spec: str, public_der: bytes, private_der: bytes) -> None:
    """The halves belong together: independent code signs with one and verifies with the other."""
    if key_spec == "SM2":
        private, public = keypairs.sm2_from_pkcs8(private_der)
        assert sm2.public_key_der(public) == public_der
        assert sm2.verify(sm2.public_key_from_der(public_der), MESSAGE, sm2.sign(private + public, MESSAGE))
        return
    private_key = serialization.load_der_private_key(private_der, password=None)
    public_key = serialization.load_der_public_key(public_der)
    derived = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert derived == public_der
    if key_spec.startswith("RSA"):
        assert isinstance(private_key, rsa.RSAPrivateKey)
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert private_key.key_size == int(key_spec.removeprefix("RSA_"))
        pkcs1 = padding.PKCS1v15()
        public_key.verify(private_key.sign(MESSAGE, pkcs1, hashes.SHA256()), MESSAGE, pkcs1, hashes.SHA256())
    else:
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert public_key.curve.name == EC_CURVES[key_spec]
        ecdsa = ec.ECDSA(hashes.SHA256())
        public_key.verify(private_key.sign(MESSAGE, ecdsa), MESSAGE, ecdsa)


# --- the pair and its ciphertext


@pytest.mark.parametrize("key_spec", RSA_SPECS + EC_SPECS)
def test_pair_is_usable_and_its_cipher_text_decrypts_to_the_private_key(
    memory_services: Services, caller: Caller, key_spec: str
) -> None:
    # Given an AES_256 CMK
    key_id = _key(memory_services, caller)
    # When a pair is created with AAD
    reply = _pair(memory_services, caller, key_id, key_spec, additional_authenticated_data=AAD)
    # Then the reply names the CMK and the spec, and carries exactly the four documented fields
    wire = reply.model_dump(mode="json", exclude_none=True)
    assert set(wire) == {
        "key_id",
        "key_spec",
        "public_key",
        "private_key_cipher_text",
        "private_key_plain_text",
    }
    assert (reply.key_id, reply.key_spec) == (key_id, key_spec)
    # And the public key (Base64 DER SPKI) and private key (Base64 DER PKCS#8) belong together
    public_der = base64.b64decode(reply.public_key, validate=True)
    private_der = base64.b64decode(wire["private_key_plain_text"], validate=True)
    _assert_pair_works(key_spec, public_der, private_der)
    # And decrypt-data, given the same AAD, opens the cipher text to that very private key
    assert DATA_CIPHER.fullmatch(reply.private_key_cipher_text)
    assert _decrypt(
        memory_services, caller, reply.private_key_cipher_text, additional_authenticated_data=AAD
    ) == (
        key_id,
        private_der,
    )


def test_an_sm4_cmk_wraps_pairs_too(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller, "SM4")
    reply = _pair(memory_services, caller, key_id, "SM2")
    private_der = base64.b64decode(reply.model_dump(mode="json")["private_key_plain_text"])
    assert _decrypt(memory_services, caller, reply.private_key_cipher_text) == (key_id, private_der)


@pytest.mark.parametrize("key_spec", ["RSA_2048", "ECC_NIST_P256"])
def test_each_call_makes_a_new_pair(memory_services: Services, caller: Caller, key_spec: str) -> None:
    key_id = _key(memory_services, caller)
    first, second = (_pair(memory_services, caller, key_id, key_spec) for _ in range(2))
    assert first.public_key != second.public_key
    assert first.private_key_cipher_text != second.private_key_cipher_text


@pytest.mark.parametrize(
    "fields",
    [
        {},  # no AAD at all
        {"additional_authenticated_data": AAD + "!"},
        {"additional_authenticated_data": AAD, "encryption_context": {"k": "v"}},
    ],
    ids=["missing", "altered", "extra-context"],
)
def test_the_cipher_text_is_bound_to_its_aad(
    memory_services: Services, caller: Caller, fields: dict[str, Any]
) -> None:
    key_id = _key(memory_services, caller)
    reply = _pair(memory_services, caller, key_id, "ECC_NIST_P256", additional_authenticated_data=AAD)
    assert _code(_decrypt, memory_services, caller, reply.private_key_cipher_text, **fields) == "KMS.2201"


def test_the_cipher_text_is_bound_to_the_project(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    reply = _pair(memory_services, caller, key_id, "ECC_NIST_P256")
    stranger = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="req-2")
    assert _code(_decrypt, memory_services, stranger, reply.private_key_cipher_text) == "KMS.0207"


def test_encryption_context_is_bound_like_aad(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    reply = _pair(memory_services, caller, key_id, "SM2", encryption_context={"purpose": "tls"})
    cipher = reply.private_key_cipher_text
    assert _code(_decrypt, memory_services, caller, cipher) == "KMS.2201"
    assert _decrypt(memory_services, caller, cipher, encryption_context={"purpose": "tls"})[0] == key_id


def test_re_encrypt_moves_the_private_key_to_another_cmk(memory_services: Services, caller: Caller) -> None:
    source, destination = _key(memory_services, caller), _key(memory_services, caller, "SM4")
    reply = _pair(memory_services, caller, source, "ECC_NIST_P384", additional_authenticated_data=AAD)
    body = parse_body(
        ReEncryptRequestBody,
        {
            "cipher_text": reply.private_key_cipher_text,
            "destination_key_id": destination,
            "source_additional_authenticated_data": AAD,
        },
    )
    moved = re_encrypt(body, caller, memory_services).cipher_text
    private_der = base64.b64decode(reply.model_dump(mode="json")["private_key_plain_text"])
    assert _decrypt(memory_services, caller, moved) == (destination, private_der)


# --- with_plain_text


@pytest.mark.parametrize("key_spec", ["RSA_2048", "SM2"])
def test_without_plain_text_the_private_key_is_only_returned_wrapped(
    memory_services: Services, caller: Caller, key_spec: str
) -> None:
    key_id = _key(memory_services, caller)
    reply = _pair(memory_services, caller, key_id, key_spec, with_plain_text=False)
    wire = reply.model_dump(mode="json", exclude_none=True)
    assert set(wire) == {"key_id", "key_spec", "public_key", "private_key_cipher_text"}
    # And the wrapped private key still matches the public key
    _, private_der = _decrypt(memory_services, caller, reply.private_key_cipher_text)
    _assert_pair_works(key_spec, base64.b64decode(reply.public_key), private_der)


@pytest.mark.parametrize("value", [True, None], ids=["true", "null"])
def test_plain_text_is_returned_by_default(
    memory_services: Services, caller: Caller, value: bool | None
) -> None:
    key_id = _key(memory_services, caller)
    reply = _pair(memory_services, caller, key_id, "ECC_NIST_P256", with_plain_text=value)
    assert reply.private_key_plain_text is not None


def test_the_plaintext_private_key_never_prints(memory_services: Services, caller: Caller) -> None:
    key_id = _key(memory_services, caller)
    reply = _pair(memory_services, caller, key_id, "ECC_NIST_P256")
    revealed = reply.model_dump(mode="json")["private_key_plain_text"]
    assert revealed not in repr(reply)
    assert revealed not in str(reply.model_dump())
    assert "**********" in repr(reply)


# --- refused requests


@pytest.mark.parametrize(
    ("model", "fields", "code"),
    [
        (CreateRsaDatakeyPairRequestBody, {"key_spec": "RSA_1024"}, "KMS.1110"),
        (CreateRsaDatakeyPairRequestBody, {"key_spec": "ECC_NIST_P256"}, "KMS.1110"),
        (CreateRsaDatakeyPairRequestBody, {"key_spec": "rsa_2048"}, "KMS.1110"),
        (CreateEcDatakeyPairRequestBody, {"key_spec": "RSA_2048"}, "KMS.1110"),
        (CreateEcDatakeyPairRequestBody, {"key_spec": "EC_P256"}, "KMS.1110"),  # a CMK spec, not a pair spec
        (CreateEcDatakeyPairRequestBody, {"key_spec": 256}, "KMS.1110"),
        (CreateRsaDatakeyPairRequestBody, {"key_spec": None}, "KMS.0204"),
        (CreateEcDatakeyPairRequestBody, {"key_spec": None}, "KMS.0204"),
        (CreateRsaDatakeyPairRequestBody, {"key_id": None}, "KMS.0204"),
        (CreateRsaDatakeyPairRequestBody, {"key_id": "not-a-key-id"}, "KMS.0205"),
        (CreateRsaDatakeyPairRequestBody, {"with_plain_text": "false"}, "KMS.0308"),  # a JSON bool only
        (CreateEcDatakeyPairRequestBody, {"with_plain_text": 0}, "KMS.0308"),
        (CreateEcDatakeyPairRequestBody, {"additional_authenticated_data": "a" * 129}, "KMS.0308"),
        (CreateEcDatakeyPairRequestBody, {"encryption_context": {"k": 1}}, "KMS.0208"),
        (CreateEcDatakeyPairRequestBody, {"sequence": "s" * 37}, "KMS.0206"),
    ],
)
def test_invalid_bodies_get_their_codes(model: type[Any], fields: dict[str, Any], code: str) -> None:
    valid_spec = "RSA_2048" if model is CreateRsaDatakeyPairRequestBody else "SM2"
    raw = {"key_id": "0d0466b0-e727-4d9c-b35d-f84bb474a37f", "key_spec": valid_spec, **fields}
    raw = {name: value for name, value in raw.items() if value is not None}
    assert _code(parse_body, model, raw) == code


def test_pin_and_sequence_are_accepted_on_ec_pairs(memory_services: Services, caller: Caller) -> None:
    # We have no PIN feature: pin / pin_type are accepted and ignored (spec: "A generic server can accept
    # and ignore them"); sequence is only traced
    key_id = _key(memory_services, caller)
    reply = _pair(
        memory_services,
        caller,
        key_id,
        "ECC_NIST_P256",
        pin="123456",
        pin_type="PlainText",
        sequence="919c82d4-8046-4722-9094-35c3c6524cff",
    )
    assert reply.key_id == key_id


@pytest.mark.parametrize(
    ("spec", "usage", "code"),
    [
        ("RSA_2048", "ENCRYPT_DECRYPT", "KMS.0325"),
        ("RSA_2048", "SIGN_VERIFY", "KMS.0325"),
        ("EC_P256", None, "KMS.0325"),
        ("SM2", "ENCRYPT_DECRYPT", "KMS.0325"),
        ("HMAC_256", None, "KMS.0341"),
    ],
)
def test_only_symmetric_cmks_wrap_pairs(
    memory_services: Services,
    caller: Caller,
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    usage: str | None,
    code: str,
) -> None:
    # Given a CMK that is not a symmetric encryption key, and generation that must not happen
    key_id = _key(memory_services, caller, spec, usage)
    monkeypatch.setattr(keypairs, "generate", _must_not_generate)
    # Then both ops refuse it with the code the other data-key ops give
    for key_spec in ("RSA_4096", "SM2"):
        assert _code(_pair, memory_services, caller, key_id, key_spec) == code


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (KeyState.DISABLED, "KMS.0209"),
        (KeyState.PENDING_DELETION, "KMS.0210"),
        (KeyState.PENDING_IMPORT, "KMS.1301"),
    ],
)
def test_a_cmk_that_is_not_enabled_is_refused(
    memory_services: Services, caller: Caller, monkeypatch: pytest.MonkeyPatch, state: KeyState, code: str
) -> None:
    key_id = _key(memory_services, caller)
    _set_state(memory_services, caller, key_id, state)
    monkeypatch.setattr(keypairs, "generate", _must_not_generate)
    assert _code(_pair, memory_services, caller, key_id, "RSA_2048") == code
    assert _code(_pair, memory_services, caller, key_id, "ECC_NIST_P521") == code


def test_an_unknown_or_foreign_cmk_is_not_found(memory_services: Services, caller: Caller) -> None:
    stranger = Caller(project_id=OTHER_PROJECT_ID, domain_id=caller.domain_id, request_id="req-2")
    foreign = _key(memory_services, stranger)
    for key_id in (foreign, "0d0466b0-e727-4d9c-b35d-f84bb474a37f"):
        assert _code(_pair, memory_services, caller, key_id, "ECC_NIST_P256") == "KMS.0207"


def _must_not_generate(spec: keypairs.PairSpec) -> keypairs.KeyPair:
    raise AssertionError(f"a {spec} pair was generated for a refused CMK")
