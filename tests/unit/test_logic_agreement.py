"""derive-shared-secret against the in-memory fake store: spec §5 op 25, codes of §F2.

Every shared secret the service derives is checked against the peer's own ECDH, computed by
``cryptography`` with the peer's private key and ONLY the PEM that get-publickey returned.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from skms import errors
from skms.caller import Caller
from skms.crypto import sm2
from skms.domain import KeyState
from skms.logic.agreement import derive_shared_secret
from skms.logic.create_key import create_key
from skms.logic.signing import show_public_key
from skms.models.agreement import DeriveSharedSecretRequestBody
from skms.models.base import parse_body
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody
from skms.runtime import Services
from skms.sam_template import load_handler, routes_from_template
from tests.conftest import OTHER_PROJECT_ID, PROJECT_ID, REPO_ROOT, TEMPLATE

CURVES = {"EC_P256": ec.SECP256R1(), "EC_P384": ec.SECP384R1(), "SECP256K1": ec.SECP256K1()}


# --- helpers


def _create(services: Services, caller: Caller, spec: str, usage: str | None = "KEY_AGREEMENT") -> str:
    fields = {"key_spec": spec} | ({"key_usage": usage} if usage else {})
    body = CreateKeyRequestBody(key_alias=f"ka-{uuid.uuid4().hex[:12]}", **fields)
    return create_key(body, caller, services).key_info.key_id


def _spki_b64(public: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def _derive(
    services: Services, caller: Caller, key_id: str, public_key: str, **fields: Any
) -> dict[str, Any]:
    raw = {"key_id": key_id, "key_agreement_algorithm": "ECDH", "public_key": public_key, **fields}
    reply = derive_shared_secret(parse_body(DeriveSharedSecretRequestBody, raw), caller, services)
    return reply.model_dump(mode="json")


def _pem(services: Services, caller: Caller, key_id: str) -> str:
    body = parse_body(OperateKeyRequestBody, {"key_id": key_id})
    return show_public_key(body, caller, services).public_key


def _code(action: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(errors.KmsError) as caught:
        action(*args, **kwargs)
    assert caught.value.status == 400 or caught.value.code == "KMS.0207"
    return caught.value.code


def _peer(spec: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[spec])


# --- the shared secret


@pytest.mark.parametrize("spec", list(CURVES))
def test_shared_secret_is_what_the_peer_computes_with_only_the_public_pem(
    memory_services: Services, caller: Caller, spec: str
) -> None:
    # Given a KEY_AGREEMENT key and a peer holding only its get-publickey PEM
    key_id = _create(memory_services, caller, spec)
    cmk_public = serialization.load_pem_public_key(_pem(memory_services, caller, key_id).encode("ascii"))
    assert isinstance(cmk_public, ec.EllipticCurvePublicKey)
    peer = _peer(spec)
    # When the service derives with the peer's public key
    reply = _derive(memory_services, caller, key_id, _spki_b64(peer.public_key()))
    # Then the peer's own ECDH gives the same secret
    assert reply == {
        "key_id": key_id,
        "key_agreement_algorithm": "ECDH",
        "shared_secret": base64.b64encode(peer.exchange(ec.ECDH(), cmk_public)).decode("ascii"),
    }
    # And a one-bit change of the peer's private key gives another secret
    other = ec.derive_private_key(peer.private_numbers().private_value ^ 1, CURVES[spec])
    assert _derive(memory_services, caller, key_id, _spki_b64(other.public_key())) != reply


def test_the_secret_is_never_in_the_models_repr(memory_services: Services, caller: Caller) -> None:
    key_id = _create(memory_services, caller, "EC_P256")
    body = parse_body(
        DeriveSharedSecretRequestBody,
        {
            "key_id": key_id,
            "key_agreement_algorithm": "ECDH",
            "public_key": _spki_b64(_peer("EC_P256").public_key()),
        },
    )
    reply = derive_shared_secret(body, caller, memory_services)
    secret = reply.shared_secret.get_secret_value()
    assert len(base64.b64decode(secret, validate=True)) == 32
    assert secret not in repr(reply)
    assert secret not in str(reply.model_dump())  # only the JSON rendering reveals it


def test_a_null_recipient_is_absent(memory_services: Services, caller: Caller) -> None:
    key_id = _create(memory_services, caller, "SECP256K1")
    reply = _derive(
        memory_services, caller, key_id, _spki_b64(_peer("SECP256K1").public_key()), recipient=None
    )
    assert set(reply) == {"key_id", "key_agreement_algorithm", "shared_secret"}


# --- refusals


@pytest.mark.parametrize(
    "recipient",
    [
        {"attestation_document": base64.b64encode(b"\xd2\x84" + bytes(64)).decode()},
        {"attestation_document": "AA==", "key_encryption_algorithm": "RSAES_OAEP_SHA_256"},
        {},
    ],
)
def test_a_recipient_is_refused_kms_0308(
    memory_services: Services, caller: Caller, recipient: dict[str, str]
) -> None:
    key_id = _create(memory_services, caller, "EC_P256")
    peer = _spki_b64(_peer("EC_P256").public_key())
    with pytest.raises(errors.KmsError) as caught:
        _derive(memory_services, caller, key_id, peer, recipient=recipient)
    assert (caught.value.code, caught.value.status) == ("KMS.0308", 400)
    assert "recipient" in caught.value.message
    assert "attestation" in caught.value.message


@pytest.mark.parametrize(
    ("spec", "usage", "code"),
    [
        ("EC_P256", "SIGN_VERIFY", "KMS.0335"),
        ("EC_P384", None, "KMS.0335"),
        ("SECP256K1", "SIGN_VERIFY", "KMS.0335"),
        ("ED25519", None, "KMS.0335"),
        ("SM2", "SIGN_VERIFY", "KMS.0335"),
        ("SM2", "ENCRYPT_DECRYPT", "KMS.0334"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "KMS.0334"),
        ("RSA_2048", "SIGN_VERIFY", "KMS.0335"),
        ("AES_256", None, "KMS.0331"),
        ("SM4", None, "KMS.0331"),
        ("HMAC_256", None, "KMS.0341"),
    ],
)
def test_keys_without_key_agreement_usage_are_refused(
    memory_services: Services, caller: Caller, spec: str, usage: str | None, code: str
) -> None:
    key_id = _create(memory_services, caller, spec, usage)
    peer = _spki_b64(_peer("EC_P256").public_key())
    assert _code(_derive, memory_services, caller, key_id, peer) == code


def _off_curve_peers(spec: str) -> dict[str, str]:
    other = next(s for s in CURVES if s != spec)
    return {
        "another curve": _spki_b64(_peer(other).public_key()),
        "SM2": base64.b64encode(sm2.public_key_der(sm2.split(sm2.generate())[1])).decode(),
        "Ed25519": _spki_b64(ed25519.Ed25519PrivateKey.generate().public_key()),
        "not DER": base64.b64encode(b"definitely not a key").decode(),
        "bare point": base64.b64encode(
            _peer(spec)
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        ).decode(),
    }


@pytest.mark.parametrize("spec", list(CURVES))
def test_a_peer_key_off_the_keys_curve_is_kms_0308(
    memory_services: Services, caller: Caller, spec: str
) -> None:
    key_id = _create(memory_services, caller, spec)
    for name, public_key in _off_curve_peers(spec).items():
        with pytest.raises(errors.KmsError) as caught:
            _derive(memory_services, caller, key_id, public_key)
        assert caught.value.code == "KMS.0308", name
        assert spec in caught.value.message, name


def test_refusals_happen_before_the_material_is_unwrapped(
    memory_services: Services, caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = _create(memory_services, caller, "EC_P256")
    sign_key = _create(memory_services, caller, "EC_P256", "SIGN_VERIFY")

    def unavailable(*_: object) -> bytes:
        raise AssertionError("the key material was unwrapped")

    monkeypatch.setattr(memory_services.keyring, "material", unavailable)
    wrong_curve = _spki_b64(_peer("EC_P384").public_key())
    good = _spki_b64(_peer("EC_P256").public_key())
    assert _code(_derive, memory_services, caller, key_id, wrong_curve) == "KMS.0308"
    assert _code(_derive, memory_services, caller, sign_key, good) == "KMS.0335"
    assert _code(
        _derive, memory_services, caller, key_id, good, recipient={"attestation_document": "AA=="}
    ) == ("KMS.0308")


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
    key_id = _create(memory_services, caller, "SECP256K1")
    peer = _spki_b64(_peer("SECP256K1").public_key())
    record = memory_services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    memory_services.stores.keys.update_key(record.replace(key_state=state), record.revision)
    assert _code(_derive, memory_services, caller, key_id, peer) == code


def test_unknown_keys_and_keys_of_other_projects_are_kms_0207(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _create(memory_services, caller, "EC_P256")
    peer = _spki_b64(_peer("EC_P256").public_key())
    stranger = Caller(project_id=OTHER_PROJECT_ID, domain_id="e" * 32, request_id="req-2")
    assert _code(_derive, memory_services, stranger, key_id, peer) == "KMS.0207"
    assert _code(_derive, memory_services, caller, str(uuid.uuid4()), peer) == "KMS.0207"


KID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
PEER = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 88


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"key_agreement_algorithm": "ECDH", "public_key": PEER}, "KMS.0204"),
        ({"key_id": KID, "public_key": PEER}, "KMS.0204"),
        ({"key_id": KID, "key_agreement_algorithm": "ECDH"}, "KMS.0204"),
        ({"key_id": "not-a-key", "key_agreement_algorithm": "ECDH", "public_key": PEER}, "KMS.0205"),
        ({"key_id": KID.upper(), "key_agreement_algorithm": "ECDH", "public_key": PEER}, "KMS.0205"),
        ({"key_id": KID, "key_agreement_algorithm": "ecdh", "public_key": PEER}, "KMS.0308"),
        ({"key_id": KID, "key_agreement_algorithm": "ECDHE", "public_key": PEER}, "KMS.0308"),
        ({"key_id": KID, "key_agreement_algorithm": "SM2", "public_key": PEER}, "KMS.0308"),
        ({"key_id": KID, "key_agreement_algorithm": "ECDH", "public_key": ""}, "KMS.0308"),
        ({"key_id": KID, "key_agreement_algorithm": "ECDH", "public_key": "not base64!"}, "KMS.0308"),
        ({"key_id": KID, "key_agreement_algorithm": "ECDH", "public_key": PEER + "\n"}, "KMS.0308"),
        ({"key_id": KID, "key_agreement_algorithm": "ECDH", "public_key": "A" * 2052}, "KMS.0308"),
        ({"key_id": KID, "key_agreement_algorithm": "ECDH", "public_key": 1}, "KMS.0308"),
        (
            {"key_id": KID, "key_agreement_algorithm": "ECDH", "public_key": PEER, "recipient": "x"},
            "KMS.0308",
        ),
    ],
)
def test_wire_validation_maps_to_f2_codes(raw: dict[str, Any], code: str) -> None:
    assert _code(parse_body, DeriveSharedSecretRequestBody, raw) == code


# --- the Lambda handler and its sample events


def _sample(kind: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(
        (REPO_ROOT / "events" / "derive_shared_secret" / f"{kind}.json").read_text()
    )
    return sample


def test_sample_events_match_the_route_and_each_other() -> None:
    route = next(r for r in routes_from_template(TEMPLATE) if r.function == "DeriveSharedSecretFunction")
    assert (route.method, route.path) == ("POST", "/v1.0/{project_id}/kms/derive-shared-secret")
    api, direct = _sample("api"), _sample("direct")
    assert api["resource"] == api["requestContext"]["resourcePath"] == route.path
    assert api["path"] == route.path.replace("{project_id}", PROJECT_ID)
    assert json.loads(api["body"]) == direct["body"]
    assert direct["project_id"] == PROJECT_ID
    assert direct["body"]["key_id"] == "00000000-0000-0000-0000-000000000000"  # the placeholder


def test_handler_answers_the_direct_sample_event(
    memory_services: Services, caller: Caller, capsys: pytest.CaptureFixture[str]
) -> None:
    route = next(r for r in routes_from_template(TEMPLATE) if r.function == "DeriveSharedSecretFunction")
    handler = load_handler(route)
    event = _sample("direct")
    # As it is, the placeholder key id names no key
    assert handler(event, None)["error"]["error_code"] == "KMS.0207"
    # With a real KEY_AGREEMENT key of the project it derives the secret of the sample's P-256 peer
    event["body"]["key_id"] = _create(memory_services, caller, "EC_P256")
    reply = handler(event, None)
    assert set(reply) == {"key_id", "key_agreement_algorithm", "shared_secret"}
    assert len(base64.b64decode(reply["shared_secret"], validate=True)) == 32
    # And the secret is not in the logs
    captured = capsys.readouterr()
    assert reply["shared_secret"] not in captured.out + captured.err
    assert base64.b64decode(reply["shared_secret"]).hex() not in captured.out + captured.err


def test_sample_peer_key_is_a_p256_spki() -> None:
    der = base64.b64decode(_sample("direct")["body"]["public_key"], validate=True)
    public = serialization.load_der_public_key(der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)
    assert Path(REPO_ROOT / "functions" / "derive_shared_secret" / "app.py").is_file()
