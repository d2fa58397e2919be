"""generate-mac / verify-mac against the in-memory fake store: spec §6 ops 26-27, codes of §F2.

Every MAC the service makes is recomputed independently of the service from the raw key material
(read through the keyring): Python's stdlib ``hmac`` for HMAC-SHA-2, ``cryptography``'s HMAC for SM3.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from skms import errors
from skms.caller import Caller
from skms.domain import KeyState
from skms.logic.create_key import create_key
from skms.logic.data import encrypt_data
from skms.logic.datakeys import create_datakey
from skms.logic.mac import generate_mac, verify_mac
from skms.logic.signing import show_public_key, sign, verify
from skms.models.base import parse_body
from skms.models.data import EncryptDataRequestBody
from skms.models.datakeys import CreateDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody
from skms.models.mac import GenerateMacRequestBody, VerifyMacRequestBody
from skms.models.signing import SignRequestBody, VerifyRequestBody
from skms.runtime import Services
from tests.conftest import OTHER_PROJECT_ID

MESSAGE = b"Transfer 100 EUR, ref \x00\xff\x10 " * 4
ALGORITHM_OF = {
    "HMAC_256": "HMAC_SHA_256",
    "HMAC_384": "HMAC_SHA_384",
    "HMAC_512": "HMAC_SHA_512",
    "HMAC_SM3": "HMAC_SM3",
}
KEY_LEN = {"HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64, "HMAC_SM3": 32}


# --- helpers


def _create(services: Services, caller: Caller, spec: str, usage: str | None = None, **extra: str) -> str:
    fields = {"key_spec": spec} | ({"key_usage": usage} if usage else {}) | extra
    body = CreateKeyRequestBody(key_alias=f"k-{uuid.uuid4().hex[:12]}", **fields)
    return create_key(body, caller, services).key_info.key_id


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _code(action: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(errors.KmsError) as caught:
        action(*args, **kwargs)
    return caught.value.code


def _material(services: Services, caller: Caller, key_id: str) -> bytes:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    return services.keyring.material(record, 0)


def _independent_mac(spec: str, key: bytes, message: bytes) -> bytes:
    if spec == "HMAC_SM3":
        h = crypto_hmac.HMAC(key, hashes.SM3())
        h.update(message)
        return h.finalize()
    digest = {"HMAC_256": hashlib.sha256, "HMAC_384": hashlib.sha384, "HMAC_512": hashlib.sha512}[spec]
    return hmac.new(key, message, digest).digest()


def _generate(services: Services, caller: Caller, fields: dict[str, Any]) -> Any:
    return generate_mac(parse_body(GenerateMacRequestBody, fields), caller, services)


def _verify(services: Services, caller: Caller, fields: dict[str, Any]) -> Any:
    return verify_mac(parse_body(VerifyMacRequestBody, fields), caller, services)


def _mac_fields(key_id: str, algorithm: str, message: bytes = MESSAGE) -> dict[str, Any]:
    return {"key_id": key_id, "mac_algorithm": algorithm, "message": _b64(message)}


def _set_state(services: Services, caller: Caller, key_id: str, state: KeyState) -> None:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    services.stores.keys.update_key(record.replace(key_state=state), record.revision)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# --- create-key rules for HMAC specs


@pytest.mark.parametrize("spec", list(ALGORITHM_OF))
@pytest.mark.parametrize("usage", [None, "GENERATE_VERIFY_MAC"])
def test_create_hmac_key(memory_services: Services, caller: Caller, spec: str, usage: str | None) -> None:
    key_id = _create(memory_services, caller, spec, usage)
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    assert record.key_spec == spec
    assert record.key_usage == "GENERATE_VERIFY_MAC"
    assert record.key_state is KeyState.ENABLED
    assert record.public_key_pem is None
    assert len(_material(memory_services, caller, key_id)) == KEY_LEN[spec]


@pytest.mark.parametrize("spec", list(ALGORITHM_OF))
@pytest.mark.parametrize("usage", ["ENCRYPT_DECRYPT", "SIGN_VERIFY"])
def test_create_hmac_key_with_another_usage_is_1110(
    memory_services: Services, caller: Caller, spec: str, usage: str
) -> None:
    assert _code(_create, memory_services, caller, spec, usage) == "KMS.1110"


@pytest.mark.parametrize("spec", ["AES_256", "SM4", "RSA_2048", "EC_P256", "SECP256K1", "SM2", "ED25519"])
def test_non_hmac_key_with_mac_usage_is_1110(memory_services: Services, caller: Caller, spec: str) -> None:
    assert _code(_create, memory_services, caller, spec, "GENERATE_VERIFY_MAC") == "KMS.1110"


def test_hmac_key_can_be_external_pending_import(memory_services: Services, caller: Caller) -> None:
    # HMAC material is importable (access-control §6.2; tests/unit/test_importing.py)
    key_id = _create(memory_services, caller, "HMAC_256", origin="external")
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    assert (record.key_state, record.materials) == (KeyState.PENDING_IMPORT, {})


# --- generate and verify


@pytest.mark.parametrize("spec", list(ALGORITHM_OF))
@pytest.mark.parametrize("message", [b"\x00", MESSAGE, bytes(range(256)) * 16])
def test_generate_matches_independent_hmac_and_verifies(
    memory_services: Services, caller: Caller, spec: str, message: bytes
) -> None:
    key_id = _create(memory_services, caller, spec)
    algorithm = ALGORITHM_OF[spec]
    reply = _generate(memory_services, caller, _mac_fields(key_id, algorithm, message))
    assert reply.key_id == key_id
    assert reply.mac_algorithm == algorithm
    tag = base64.b64decode(reply.mac, validate=True)
    assert tag == _independent_mac(spec, _material(memory_services, caller, key_id), message)

    fields = _mac_fields(key_id, algorithm, message)
    good = _verify(memory_services, caller, fields | {"mac": reply.mac})
    assert good.key_id == key_id
    assert good.mac_algorithm == algorithm
    assert good.mac_valid is True
    dumped = json.loads(good.model_dump_json())
    assert dumped["mac_valid"] is True  # §6 op 27: a real JSON boolean, not a string

    for at in (0, len(tag) // 2, len(tag) - 1):
        bad = _verify(memory_services, caller, fields | {"mac": _b64(_flip(tag, at))})
        assert bad.mac_valid is False
        assert json.loads(bad.model_dump_json())["mac_valid"] is False
    for at in (0, len(message) - 1):
        changed = _mac_fields(key_id, algorithm, _flip(message, at)) | {"mac": reply.mac}
        assert _verify(memory_services, caller, changed).mac_valid is False


def test_mac_is_deterministic_and_key_bound(memory_services: Services, caller: Caller) -> None:
    one, two = (_create(memory_services, caller, "HMAC_256") for _ in range(2))
    mac_one = _generate(memory_services, caller, _mac_fields(one, "HMAC_SHA_256")).mac
    assert _generate(memory_services, caller, _mac_fields(one, "HMAC_SHA_256")).mac == mac_one
    assert _generate(memory_services, caller, _mac_fields(two, "HMAC_SHA_256")).mac != mac_one
    other = _mac_fields(two, "HMAC_SHA_256") | {"mac": mac_one}
    assert _verify(memory_services, caller, other).mac_valid is False


@pytest.mark.parametrize("mac", [_b64(b""), _b64(b"short"), _b64(bytes(32)), _b64(bytes(64))])
def test_wrong_length_or_garbage_mac_is_false(memory_services: Services, caller: Caller, mac: str) -> None:
    key_id = _create(memory_services, caller, "HMAC_256")
    fields = _mac_fields(key_id, "HMAC_SHA_256") | {"mac": mac}
    if mac == "":
        assert _code(_verify, memory_services, caller, fields) == "KMS.0308"  # min_length 1
    else:
        assert _verify(memory_services, caller, fields).mac_valid is False


# --- error codes


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [(s, a) for s in ALGORITHM_OF for a in ALGORITHM_OF.values() if a != ALGORITHM_OF[s]],
)
def test_algorithm_of_another_spec_is_0332(
    memory_services: Services, caller: Caller, spec: str, algorithm: str
) -> None:
    key_id = _create(memory_services, caller, spec)
    fields = _mac_fields(key_id, algorithm)
    assert _code(_generate, memory_services, caller, fields) == "KMS.0332"
    assert _code(_verify, memory_services, caller, fields | {"mac": _b64(bytes(32))}) == "KMS.0332"


@pytest.mark.parametrize(
    ("spec", "usage", "code"),
    [
        ("AES_256", None, "KMS.0334"),
        ("SM4", None, "KMS.0334"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "KMS.0334"),
        ("SM2", "ENCRYPT_DECRYPT", "KMS.0334"),
        ("RSA_2048", "SIGN_VERIFY", "KMS.0335"),
        ("EC_P256", None, "KMS.0335"),
        ("SM2", "SIGN_VERIFY", "KMS.0335"),
        ("SECP256K1", None, "KMS.0335"),
        ("ED25519", None, "KMS.0335"),
        ("EC_P256", "KEY_AGREEMENT", "KMS.0332"),
        ("SECP256K1", "KEY_AGREEMENT", "KMS.0332"),
    ],
)
def test_non_hmac_key_is_refused_by_usage(
    memory_services: Services, caller: Caller, spec: str, usage: str | None, code: str
) -> None:
    key_id = _create(memory_services, caller, spec, usage)
    fields = _mac_fields(key_id, "HMAC_SHA_256")
    assert _code(_generate, memory_services, caller, fields) == code
    assert _code(_verify, memory_services, caller, fields | {"mac": _b64(bytes(32))}) == code


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"mac_algorithm": "HMAC_SHA_1"}, "KMS.0308"),
        ({"mac_algorithm": "hmac_sha_256"}, "KMS.0308"),
        ({"message": "not base64!"}, "KMS.0308"),
        ({"message": "QUJD"[:3]}, "KMS.0308"),  # bad padding
        ({"message": ""}, "KMS.0308"),  # 0 bytes
        ({"message": _b64(bytes(4097))}, "KMS.0308"),
        ({"message": _b64(bytes(10_000))}, "KMS.0308"),
        ({"message": 123}, "KMS.0308"),
        ({"key_id": "not-a-key-id"}, "KMS.0205"),
        ({"key_id": str(uuid.uuid4()).upper()}, "KMS.0205"),
        ({"sequence": "x" * 37}, "KMS.0206"),
    ],
)
def test_bad_request_fields(
    memory_services: Services, caller: Caller, change: dict[str, Any], code: str
) -> None:
    key_id = _create(memory_services, caller, "HMAC_256")
    fields = _mac_fields(key_id, "HMAC_SHA_256") | change
    assert _code(_generate, memory_services, caller, fields) == code
    assert _code(_verify, memory_services, caller, fields | {"mac": _b64(bytes(32))}) == code


def test_message_of_4096_bytes_is_accepted(memory_services: Services, caller: Caller) -> None:
    key_id = _create(memory_services, caller, "HMAC_512")
    message = bytes(range(256)) * 16
    assert len(message) == 4096
    reply = _generate(memory_services, caller, _mac_fields(key_id, "HMAC_SHA_512", message))
    assert len(base64.b64decode(reply.mac)) == 64


@pytest.mark.parametrize("mac", ["not base64!", "QUJ", "QU=D"])
def test_bad_base64_mac_is_0308(memory_services: Services, caller: Caller, mac: str) -> None:
    key_id = _create(memory_services, caller, "HMAC_256")
    fields = _mac_fields(key_id, "HMAC_SHA_256") | {"mac": mac}
    assert _code(_verify, memory_services, caller, fields) == "KMS.0308"


@pytest.mark.parametrize("missing", ["key_id", "mac_algorithm", "message", "mac"])
def test_missing_field_is_0204(memory_services: Services, caller: Caller, missing: str) -> None:
    key_id = _create(memory_services, caller, "HMAC_256")
    fields = _mac_fields(key_id, "HMAC_SHA_256") | {"mac": _b64(bytes(32))}
    del fields[missing]
    assert _code(_verify, memory_services, caller, fields) == "KMS.0204"
    if missing != "mac":
        fields.pop("mac")
        assert _code(_generate, memory_services, caller, fields) == "KMS.0204"


def test_unknown_and_foreign_keys_are_0207(memory_services: Services, caller: Caller) -> None:
    fields = _mac_fields(str(uuid.uuid4()), "HMAC_SHA_256")
    assert _code(_generate, memory_services, caller, fields) == "KMS.0207"
    key_id = _create(memory_services, caller, "HMAC_256")
    stranger = Caller(project_id=OTHER_PROJECT_ID, domain_id="e" * 32, request_id="req-2")
    assert _code(_generate, memory_services, stranger, _mac_fields(key_id, "HMAC_SHA_256")) == "KMS.0207"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (KeyState.DISABLED, "KMS.0209"),
        (KeyState.PENDING_DELETION, "KMS.0210"),
        (KeyState.FROZEN, "KMS.0320"),
    ],
)
def test_key_not_enabled(memory_services: Services, caller: Caller, state: KeyState, code: str) -> None:
    key_id = _create(memory_services, caller, "HMAC_256")
    mac = _generate(memory_services, caller, _mac_fields(key_id, "HMAC_SHA_256")).mac
    _set_state(memory_services, caller, key_id, state)
    assert _code(_generate, memory_services, caller, _mac_fields(key_id, "HMAC_SHA_256")) == code
    assert _code(_verify, memory_services, caller, _mac_fields(key_id, "HMAC_SHA_256") | {"mac": mac}) == code


# --- HMAC keys refused by the other crypto operations (KMS.0341)


@pytest.mark.parametrize("spec", list(ALGORITHM_OF))
def test_hmac_key_refused_elsewhere_with_0341(memory_services: Services, caller: Caller, spec: str) -> None:
    key_id = _create(memory_services, caller, spec)
    s = memory_services
    datakey = parse_body(CreateDatakeyRequestBody, {"key_id": key_id})
    assert _code(create_datakey, datakey, caller, s) == "KMS.0341"
    encrypt = parse_body(EncryptDataRequestBody, {"key_id": key_id, "plain_text": "hello"})
    assert _code(encrypt_data, encrypt, caller, s) == "KMS.0341"
    sign_fields = {"key_id": key_id, "message": _b64(bytes(32)), "signing_algorithm": "ECDSA_SHA_256"}
    assert _code(sign, parse_body(SignRequestBody, sign_fields), caller, s) == "KMS.0341"
    verify_body = parse_body(VerifyRequestBody, sign_fields | {"signature": _b64(b"sig")})
    assert _code(verify, verify_body, caller, s) == "KMS.0341"
    okb = parse_body(OperateKeyRequestBody, {"key_id": key_id})
    assert _code(show_public_key, okb, caller, s) == "KMS.0341"
