"""Sign, verify and get-publickey against the in-memory fake store: spec §5 ops 22-24, codes of §F2.

Every signature the service makes is checked by code independent of the service, with ONLY the PEM
that get-publickey returned: ``cryptography`` for RSA, ECDSA (P-256, P-384, secp256k1) and Ed25519,
for SM2 GmSSL's message-level verify (skms.crypto.sm2, which computes Z_A itself), and for Ed25519ph
RFC 8032's reference code (tests/support/rfc8032.py, reading the PEM by hand); the ``openssl``
command line checks each family it can (not Ed25519ph). DIGEST signatures are checked over the
original message, so they prove the digest was signed as a digest.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from skms import errors
from skms.caller import Caller
from skms.config import Settings
from skms.crypto import sm2
from skms.domain import KeyState
from skms.keyring import MaterialUnavailable
from skms.logic.create_key import create_key
from skms.logic.signing import show_public_key, sign, verify
from skms.models.base import parse_body
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody
from skms.models.signing import SignRequestBody, VerifyRequestBody
from skms.runtime import Services
from skms.storage import memory
from tests.conftest import DIRECT_PROJECTS, OTHER_PROJECT_ID, PROJECT_ID, REPO_ROOT, make_services
from tests.support.rfc8032 import ed25519_public_from_pem, ed25519ph_sign, ed25519ph_verify

MESSAGE = b"Pay 100 EUR to account 12345, reference \x00\xff\x10" * 5
HASHLIB = {"256": "sha256", "384": "sha384", "512": "sha512"}
HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
RSA_ALGORITHMS = [
    f"RSASSA_{scheme}_SHA_{bits}" for scheme in ("PSS", "PKCS1_V1_5") for bits in ("256", "384", "512")
]
ALGORITHMS = {
    "RSA_2048": RSA_ALGORITHMS,
    "RSA_3072": RSA_ALGORITHMS,
    "RSA_4096": RSA_ALGORITHMS,
    "EC_P256": ["ECDSA_SHA_256"],
    "EC_P384": ["ECDSA_SHA_384"],
    "SECP256K1": ["ECDSA_SHA_256"],
    "SM2": ["SM2DSA_SM3"],
    "ED25519": ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
}
RAW_ONLY = {"ED25519_SHA_512"}  # pure Ed25519 signs the message itself, never a digest
CASES = [
    (spec, algorithm, message_type)
    for spec, algorithms in ALGORITHMS.items()
    for algorithm in algorithms
    for message_type in ("RAW", "DIGEST")
    if not (message_type == "DIGEST" and algorithm in RAW_ONLY)
]
ALL_ALGORITHM_NAMES = [
    *RSA_ALGORITHMS,
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "SM2DSA_SM3",
    "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
]

# SM2 recommended curve (GB/T 32918.5): a, b, G. For computing e = SM3(Z_A || M) independently.
SM2_A = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
SM2_B = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
SM2_GX = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
SM2_GY = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"


# --- helpers and fixtures


def _create(services: Services, caller: Caller, spec: str, usage: str | None = None) -> str:
    fields = {"key_spec": spec} | ({"key_usage": usage} if usage else {})
    body = CreateKeyRequestBody(key_alias=f"k-{uuid.uuid4().hex[:12]}", **fields)
    return create_key(body, caller, services).key_info.key_id


@pytest.fixture(scope="module")
def module_services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """Services of its own for the module-wide keys (RSA_4096 generation is slow)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("signing") / "kms-data", direct_invocation_projects=DIRECT_PROJECTS
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_services(settings, memory.open_stores())


@pytest.fixture(scope="module")
def module_caller() -> Caller:
    return Caller(project_id=PROJECT_ID, domain_id="d" * 32, request_id="req-signing")


@pytest.fixture(scope="module")
def signing_keys(module_services: Services, module_caller: Caller) -> dict[str, str]:
    """One SIGN_VERIFY key per asymmetric spec: spec -> key_id."""
    return {spec: _create(module_services, module_caller, spec, "SIGN_VERIFY") for spec in ALGORITHMS}


@pytest.fixture(scope="module")
def public_pems(
    module_services: Services, module_caller: Caller, signing_keys: dict[str, str]
) -> dict[str, str]:
    """spec -> the PEM exactly as get-publickey returned it."""
    return {
        spec: _show(module_services, module_caller, key_id).public_key
        for spec, key_id in signing_keys.items()
    }


@pytest.fixture
def ctx(
    module_services: Services,
    module_caller: Caller,
    signing_keys: dict[str, str],
    public_pems: dict[str, str],
) -> tuple[Services, Caller, dict[str, str], dict[str, str]]:
    return module_services, module_caller, signing_keys, public_pems


def _sign(
    services: Services, caller: Caller, key_id: str, message: bytes, algorithm: str, **fields: Any
) -> bytes:
    body = parse_body(
        SignRequestBody,
        {"key_id": key_id, "message": _b64(message), "signing_algorithm": algorithm, **fields},
    )
    reply = sign(body, caller, services)
    assert reply.key_id == key_id
    return base64.b64decode(reply.signature, validate=True)


def _verify(
    services: Services,
    caller: Caller,
    key_id: str,
    message: bytes,
    algorithm: str,
    signature: bytes,
    **fields: Any,
) -> str:
    body = parse_body(
        VerifyRequestBody,
        {
            "key_id": key_id,
            "message": _b64(message),
            "signing_algorithm": algorithm,
            "signature": _b64(signature),
            **fields,
        },
    )
    reply = verify(body, caller, services)
    assert reply.key_id == key_id
    dumped = reply.model_dump(mode="json")
    assert dumped["signature_valid"] in ("true", "false")  # §5 op 23: a string, not a JSON bool
    return str(dumped["signature_valid"])


def _show(services: Services, caller: Caller, key_id: str) -> Any:
    return show_public_key(parse_body(OperateKeyRequestBody, {"key_id": key_id}), caller, services)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _code(action: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(errors.KmsError) as caught:
        action(*args, **kwargs)
    return caught.value.code


def _set_state(services: Services, caller: Caller, key_id: str, state: KeyState) -> None:
    record = services.stores.keys.get_key(caller.project_id, key_id)
    assert record is not None
    services.stores.keys.update_key(record.replace(key_state=state), record.revision)


def _flip(data: bytes, at: int | None = None) -> bytes:
    at = len(data) // 2 if at is None else at
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _sm2_point(pem: str) -> bytes:
    """X||Y from an SM2 SubjectPublicKeyInfo PEM (cryptography has no SM2 curve)."""
    der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
    return sm2.public_key_from_der(der)


def _sm2_e(point: bytes, message: bytes) -> bytes:
    """e = SM3(Z_A || M), Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), default id."""
    ident = b"1234567812345678"
    curve = bytes.fromhex(SM2_A + SM2_B + SM2_GX + SM2_GY)
    z = _sm3((len(ident) * 8).to_bytes(2, "big") + ident + curve + point)
    return _sm3(z + message)


def _digest(algorithm: str, pem: str, message: bytes) -> bytes:
    if algorithm == "SM2DSA_SM3":
        return _sm2_e(_sm2_point(pem), message)
    return hashlib.new(HASHLIB[algorithm[-3:]], message).digest()


def _input(algorithm: str, message_type: str, pem: str, message: bytes = MESSAGE) -> bytes:
    return message if message_type == "RAW" else _digest(algorithm, pem, message)


def _independent_verify(pem: str, algorithm: str, message: bytes, signature: bytes) -> bool:
    """Verify over the ORIGINAL message using only the PEM, without skms's signing code."""
    if algorithm == "SM2DSA_SM3":
        return sm2.verify(_sm2_point(pem), message, signature)
    if algorithm == "ED25519_PH_SHA_512":
        return ed25519ph_verify(ed25519_public_from_pem(pem), message, signature)
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    digest = HASHES[algorithm[-3:]]
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        elif isinstance(public, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                if "_PSS_" in algorithm
                else padding.PKCS1v15()
            )
            public.verify(signature, message, pad, digest)
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(signature, message, ec.ECDSA(digest))
    except Exception:
        return False
    return True


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], check=False, capture_output=True, text=True, timeout=30
    )


# --- every spec, algorithm and message type


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), CASES)
def test_signature_verifies_outside_with_only_the_public_pem(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], spec: str, algorithm: str, message_type: str
) -> None:
    services, caller, keys, pems = ctx
    pem = pems[spec]
    # Given a signature by the service over MESSAGE (RAW) or its digest (DIGEST)
    data = _input(algorithm, message_type, pem)
    signature = _sign(services, caller, keys[spec], data, algorithm, message_type=message_type)
    # Then independent code holding only the get-publickey PEM verifies it over MESSAGE itself
    assert _independent_verify(pem, algorithm, MESSAGE, signature)
    assert not _independent_verify(pem, algorithm, _flip(MESSAGE), signature)


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), CASES)
def test_service_verify_is_true_for_its_signature_and_false_after_one_bit_flips(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], spec: str, algorithm: str, message_type: str
) -> None:
    services, caller, keys, pems = ctx
    key_id, data = keys[spec], _input(algorithm, message_type, pems[spec])
    signature = _sign(services, caller, key_id, data, algorithm, message_type=message_type)
    check = {"message_type": message_type}
    assert _verify(services, caller, key_id, data, algorithm, signature, **check) == "true"
    assert _verify(services, caller, key_id, data, algorithm, _flip(signature), **check) == "false"
    assert _verify(services, caller, key_id, _flip(data), algorithm, signature, **check) == "false"
    assert _verify(services, caller, key_id, data, algorithm, _flip(signature, 0), **check) == "false"


@pytest.mark.parametrize("spec", list(ALGORITHMS))
def test_service_verifies_a_signature_made_outside_with_the_private_key(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], spec: str
) -> None:
    # The reverse direction: a signature made by a third party's code with this key's private half.
    services, caller, keys, _ = ctx
    record = services.stores.keys.get_key(caller.project_id, keys[spec])
    assert record is not None
    material = services.keyring.material(record, record.current_version)
    algorithm = ALGORITHMS[spec][0]
    if spec == "SM2":
        signature = sm2.sign(material, MESSAGE)
    else:
        private = serialization.load_der_private_key(
            material, password=None, unsafe_skip_rsa_key_validation=True
        )
        digest = HASHES[algorithm[-3:]]
        if isinstance(private, ed25519.Ed25519PrivateKey):
            signature = private.sign(MESSAGE)
        elif isinstance(private, rsa.RSAPrivateKey):
            signature = private.sign(MESSAGE, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
        else:
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            signature = private.sign(MESSAGE, ec.ECDSA(digest))
    assert _verify(services, caller, keys[spec], MESSAGE, algorithm, signature, message_type="RAW") == "true"


def test_message_type_defaults_to_digest(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]],
) -> None:
    services, caller, keys, pems = ctx
    digest = hashlib.sha256(MESSAGE).digest()
    signature = _sign(services, caller, keys["EC_P256"], digest, "ECDSA_SHA_256")
    assert _independent_verify(pems["EC_P256"], "ECDSA_SHA_256", MESSAGE, signature)
    assert _verify(services, caller, keys["EC_P256"], digest, "ECDSA_SHA_256", signature) == "true"
    # JSON null is the default too
    signature = _sign(services, caller, keys["EC_P256"], digest, "ECDSA_SHA_256", message_type=None)
    assert (
        _verify(services, caller, keys["EC_P256"], digest, "ECDSA_SHA_256", signature, message_type=None)
        == "true"
    )
    # A RAW message of digest length is not mistaken for a digest when RAW is said
    assert (
        _verify(services, caller, keys["EC_P256"], digest, "ECDSA_SHA_256", signature, message_type="RAW")
        == "false"
    )


def test_docs_example_digest_with_non_canonical_base64_is_accepted(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]],
) -> None:
    # The docs' DIGEST example "...FYK=" has non-zero trailing bits; it still decodes to 32 bytes.
    services, caller, keys, _ = ctx
    body = parse_body(
        SignRequestBody,
        {
            "key_id": keys["RSA_2048"],
            "message": "iNQmb9TmM40TuEX88olXnSCciXgjuSF9o+Fhk28DFYK=",
            "signing_algorithm": "RSASSA_PSS_SHA_256",
            "message_type": "DIGEST",
        },
    )
    assert len(base64.b64decode(sign(body, caller, services).signature)) == 256


# --- interoperability with the OpenSSL command line


@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_openssl_verifies_sm2_signatures_with_the_published_pem(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], tmp_path: Path, message_type: str
) -> None:
    services, caller, keys, pems = ctx
    data = _input("SM2DSA_SM3", message_type, pems["SM2"])
    signature = _sign(services, caller, keys["SM2"], data, "SM2DSA_SM3", message_type=message_type)
    (tmp_path / "pub.pem").write_bytes(pems["SM2"].encode("ascii"))  # as served: CRLF line breaks
    for name, message in [("msg", MESSAGE), ("bad", _flip(MESSAGE))]:
        (tmp_path / name).write_bytes(message)
    (tmp_path / "sig").write_bytes(signature)

    def run(message_file: str) -> subprocess.CompletedProcess[str]:
        return _openssl(
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", tmp_path / "pub.pem",
            "-in", tmp_path / message_file, "-sigfile", tmp_path / "sig",
            "-pkeyopt", "distid:1234567812345678",
        )  # fmt: skip

    good = run("msg")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Signature Verified Successfully" in good.stdout
    assert run("bad").returncode != 0


@pytest.mark.parametrize(
    ("spec", "algorithm", "options"),
    [
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"],
        ),
        (
            "RSA_3072",
            "RSASSA_PSS_SHA_512",
            ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"],
        ),
        ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_384", []),
        ("EC_P256", "ECDSA_SHA_256", []),
        ("EC_P384", "ECDSA_SHA_384", []),
        ("SECP256K1", "ECDSA_SHA_256", []),
    ],
)
def test_openssl_verifies_rsa_and_ecdsa_signatures_with_the_published_pem(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]],
    tmp_path: Path,
    spec: str,
    algorithm: str,
    options: list[str],
) -> None:
    services, caller, keys, pems = ctx
    signature = _sign(services, caller, keys[spec], MESSAGE, algorithm, message_type="RAW")
    (tmp_path / "pub.pem").write_bytes(pems[spec].encode("ascii"))
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "sig").write_bytes(signature)
    result = _openssl(
        "dgst", f"-sha{algorithm[-3:]}", "-verify", tmp_path / "pub.pem", *options,
        "-signature", tmp_path / "sig", tmp_path / "msg",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verified OK" in result.stdout


def test_openssl_verifies_ed25519_signatures_with_the_published_pem(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    services, caller, keys, pems = ctx
    signature = _sign(services, caller, keys["ED25519"], MESSAGE, "ED25519_SHA_512", message_type="RAW")
    (tmp_path / "pub.pem").write_bytes(pems["ED25519"].encode("ascii"))  # as served: CRLF line breaks
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "bad").write_bytes(_flip(MESSAGE))
    (tmp_path / "sig").write_bytes(signature)

    def run(message_file: str) -> subprocess.CompletedProcess[str]:
        return _openssl(
            "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "pub.pem", "-rawin",
            "-in", tmp_path / message_file, "-sigfile", tmp_path / "sig",
        )  # fmt: skip

    good = run("msg")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Signature Verified Successfully" in good.stdout
    assert run("bad").returncode != 0


# --- get-publickey


@pytest.mark.parametrize("spec", list(ALGORITHMS))
def test_public_key_is_crlf_pem_spki_of_the_stored_key(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], spec: str
) -> None:
    services, caller, keys, pems = ctx
    pem = pems[spec]
    record = services.stores.keys.get_key(caller.project_id, keys[spec])
    assert record is not None
    assert record.public_key_pem is not None
    lines = pem.split("\r\n")
    assert lines[0] == "-----BEGIN PUBLIC KEY-----"
    assert lines[-2:] == ["-----END PUBLIC KEY-----", ""]  # every line CRLF-terminated, as in the docs
    assert "\n" not in pem.replace("\r\n", "")
    assert all(len(line) <= 64 for line in lines)
    assert pem.replace("\r\n", "\n") == record.public_key_pem
    if spec == "SM2":
        assert _sm2_point(pem) == sm2.split(services.keyring.material(record, 0))[1]
    else:
        loaded = serialization.load_pem_public_key(pem.encode("ascii"))
        private = serialization.load_der_private_key(
            services.keyring.material(record, 0), password=None, unsafe_skip_rsa_key_validation=True
        )
        assert loaded.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def test_public_key_of_encrypt_decrypt_keys_is_served(memory_services: Services, caller: Caller) -> None:
    for spec in ("RSA_2048", "SM2"):
        key_id = _create(memory_services, caller, spec, "ENCRYPT_DECRYPT")
        reply = _show(memory_services, caller, key_id)
        assert reply.key_id == key_id
        assert reply.public_key.startswith("-----BEGIN PUBLIC KEY-----\r\n")


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_public_key_of_a_symmetric_key_is_kms_0331(
    memory_services: Services, caller: Caller, spec: str
) -> None:
    key_id = _create(memory_services, caller, spec)
    assert _code(_show, memory_services, caller, key_id) == "KMS.0331"


# --- refusals


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_symmetric_keys_cannot_sign_or_verify_kms_1115(
    memory_services: Services, caller: Caller, spec: str
) -> None:
    key_id = _create(memory_services, caller, spec)
    digest = hashlib.sha256(MESSAGE).digest()
    assert _code(_sign, memory_services, caller, key_id, digest, "ECDSA_SHA_256") == "KMS.1115"
    assert _code(_verify, memory_services, caller, key_id, digest, "ECDSA_SHA_256", b"sig") == "KMS.1115"


@pytest.mark.parametrize(("spec", "algorithm"), [("RSA_2048", "RSASSA_PSS_SHA_256"), ("SM2", "SM2DSA_SM3")])
def test_encrypt_decrypt_keys_cannot_sign_or_verify_kms_0334(
    memory_services: Services, caller: Caller, spec: str, algorithm: str
) -> None:
    key_id = _create(memory_services, caller, spec, "ENCRYPT_DECRYPT")
    digest = b"\x01" * 32
    assert _code(_sign, memory_services, caller, key_id, digest, algorithm) == "KMS.0334"
    assert _code(_verify, memory_services, caller, key_id, digest, algorithm, b"sig") == "KMS.0334"


@pytest.mark.parametrize("spec", list(ALGORITHMS))
def test_algorithms_a_key_does_not_support_are_kms_0332(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], spec: str
) -> None:
    services, caller, keys, _ = ctx
    unsupported = [name for name in ALL_ALGORITHM_NAMES if name not in ALGORITHMS[spec]]
    assert unsupported
    assert ("ED25519_PH_SHA_512" in unsupported) is (spec != "ED25519")
    for algorithm in unsupported:
        for message_type in ("RAW", "DIGEST"):
            message = b"\x01" * 32
            assert _code(
                _sign, services, caller, keys[spec], message, algorithm, message_type=message_type
            ) == ("KMS.0332"), algorithm
            assert _code(
                _verify, services, caller, keys[spec], message, algorithm, b"sig", message_type=message_type
            ) == ("KMS.0332"), algorithm


@pytest.mark.parametrize(("spec", "algorithm"), [(s, a) for s, a, t in CASES if t == "DIGEST"])
def test_digest_length_must_match_the_hash_kms_0329(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], spec: str, algorithm: str
) -> None:
    services, caller, keys, _ = ctx
    expected = {"256": 32, "384": 48, "512": 64, "SM3": 32}[algorithm[-3:]]
    for length in {1, 20, 32, 48, 64, expected - 1, expected + 1, 4095} - {expected}:
        digest = b"\x01" * length
        assert (
            _code(_sign, services, caller, keys[spec], digest, algorithm, message_type="DIGEST") == "KMS.0329"
        )
        assert (
            _code(_verify, services, caller, keys[spec], digest, algorithm, b"sig", message_type="DIGEST")
            == "KMS.0329"
        )


@pytest.mark.parametrize("message_type", ["DIGEST", None])
def test_ed25519_signs_raw_messages_only_kms_0308(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], message_type: str | None
) -> None:
    # Pure Ed25519 cannot sign a digest. DIGEST is also the default message_type, so it must be said.
    services, caller, keys, _ = ctx
    key_id, digest = keys["ED25519"], hashlib.sha512(MESSAGE).digest()
    fields = {"message_type": message_type}
    assert _code(_sign, services, caller, key_id, digest, "ED25519_SHA_512", **fields) == "KMS.0308"
    assert _code(_verify, services, caller, key_id, digest, "ED25519_SHA_512", b"s" * 64, **fields) == (
        "KMS.0308"
    )
    with pytest.raises(errors.KmsError) as caught:
        _sign(services, caller, key_id, digest, "ED25519_SHA_512", **fields)
    assert "RAW" in caught.value.message


# --- Ed25519ph (ED25519_PH_SHA_512): DIGEST is the 64-byte SHA-512 of the message, RAW is hashed here


@pytest.mark.parametrize("signed_as", ["RAW", "DIGEST"])
def test_ed25519ph_digest_and_raw_are_the_same_signature(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], signed_as: str
) -> None:
    services, caller, keys, pems = ctx
    key_id, digest = keys["ED25519"], hashlib.sha512(MESSAGE).digest()
    data = {"RAW": MESSAGE, "DIGEST": digest}
    # Given a signature over SHA-512(M) as DIGEST, or over M as RAW
    signature = _sign(services, caller, key_id, data[signed_as], "ED25519_PH_SHA_512", message_type=signed_as)
    # Then it is the same deterministic signature either way, an Ed25519ph signature over M
    other = "DIGEST" if signed_as == "RAW" else "RAW"
    assert signature == _sign(services, caller, key_id, data[other], "ED25519_PH_SHA_512", message_type=other)
    assert ed25519ph_verify(ed25519_public_from_pem(pems["ED25519"]), MESSAGE, signature)
    # And the service verifies it given either form
    for message_type, message in data.items():
        fields = {"message_type": message_type}
        assert _verify(services, caller, key_id, message, "ED25519_PH_SHA_512", signature, **fields) == "true"
    # DIGEST is the default message_type, so a bare 64-byte digest works too
    assert _verify(services, caller, key_id, digest, "ED25519_PH_SHA_512", signature) == "true"


def test_ed25519ph_digest_must_be_64_bytes_kms_0329(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]],
) -> None:
    services, caller, keys, _ = ctx
    key_id, digest = keys["ED25519"], hashlib.sha512(MESSAGE).digest()
    for wrong in (digest[:32], digest[:63], digest + b"\x00", hashlib.sha256(MESSAGE).digest()):
        fields = {"message_type": "DIGEST"}
        assert _code(_sign, services, caller, key_id, wrong, "ED25519_PH_SHA_512", **fields) == "KMS.0329"
        assert (
            _code(_verify, services, caller, key_id, wrong, "ED25519_PH_SHA_512", b"s" * 64, **fields)
            == "KMS.0329"
        )


def test_service_verifies_an_ed25519ph_signature_made_outside(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]],
) -> None:
    # The reverse direction: RFC 8032's reference signer, holding this key's seed, signs M
    services, caller, keys, _ = ctx
    record = services.stores.keys.get_key(caller.project_id, keys["ED25519"])
    assert record is not None
    private = serialization.load_der_private_key(
        services.keyring.material(record, record.current_version), password=None
    )
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    signature = ed25519ph_sign(seed, MESSAGE)
    key_id, fields = keys["ED25519"], {"message_type": "RAW"}
    assert _verify(services, caller, key_id, MESSAGE, "ED25519_PH_SHA_512", signature, **fields) == "true"
    assert _verify(services, caller, key_id, MESSAGE, "ED25519_SHA_512", signature, **fields) == "false"
    assert (
        _verify(services, caller, key_id, _flip(MESSAGE), "ED25519_PH_SHA_512", signature, **fields)
        == "false"
    )


def test_pycryptodome_is_imported_only_by_an_ed25519ph_request() -> None:
    """Cold starts: importing the signing logic (and the sign handler) leaves pycryptodome unloaded;
    the first Ed25519ph signature loads it."""
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'functions' / 'sign')!r})\n"
        "import app, skms.logic.signing\n"
        "from skms.crypto import material, signing\n"
        "from skms.crypto.keyspec import KeySpec\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] == 'Crypto')\n"
        "before = loaded()\n"
        "key = material.generate(KeySpec.ED25519)\n"
        "signing.sign(KeySpec.ED25519, key, signing.SigningAlgorithm.ED25519_SHA_512, b'm', 'RAW')\n"
        "pure = loaded()\n"
        "signing.sign(KeySpec.ED25519, key, signing.SigningAlgorithm.ED25519_PH_SHA_512, b'm', 'RAW')\n"
        "print(len(before), len(pure), 'Crypto.Signature.eddsa' in loaded())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    ).stdout
    assert out.split() == ["0", "0", "True"]


@pytest.mark.parametrize("spec", ["EC_P256", "EC_P384", "SECP256K1"])
def test_key_agreement_keys_cannot_sign_or_verify_kms_0332(
    memory_services: Services, caller: Caller, spec: str
) -> None:
    key_id = _create(memory_services, caller, spec, "KEY_AGREEMENT")
    algorithm = {"EC_P384": "ECDSA_SHA_384"}.get(spec, "ECDSA_SHA_256")
    fields = {"message_type": "RAW"}
    assert _code(_sign, memory_services, caller, key_id, MESSAGE, algorithm, **fields) == "KMS.0332"
    assert _code(_verify, memory_services, caller, key_id, MESSAGE, algorithm, b"sig", **fields) == "KMS.0332"
    # But its public key is served: it is what the peer of derive-shared-secret needs
    pem = _show(memory_services, caller, key_id).public_key
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(public, ec.EllipticCurvePublicKey)


def test_bad_base64_is_kms_0308(ctx: tuple[Services, Caller, dict[str, str], dict[str, str]]) -> None:
    _, _, keys, _ = ctx
    base = {"key_id": keys["EC_P256"], "signing_algorithm": "ECDSA_SHA_256", "message_type": "RAW"}
    for bad in ["not base64!", "YWJj\n", "YWJ", "YW=j", "-_-_", "YWJj ZA=="]:
        assert _code(parse_body, SignRequestBody, {**base, "message": bad}) == "KMS.0308", bad
        assert (
            _code(parse_body, VerifyRequestBody, {**base, "message": bad, "signature": "AA=="}) == "KMS.0308"
        )
        assert (
            _code(parse_body, VerifyRequestBody, {**base, "message": "AA==", "signature": bad}) == "KMS.0308"
        )


def test_message_must_be_1_to_4095_bytes(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]],
) -> None:
    services, caller, keys, pems = ctx
    longest = bytes(range(256)) * 16
    signature = _sign(services, caller, keys["EC_P384"], longest[:4095], "ECDSA_SHA_384", message_type="RAW")
    assert _independent_verify(pems["EC_P384"], "ECDSA_SHA_384", longest[:4095], signature)
    base = {"key_id": keys["EC_P384"], "signing_algorithm": "ECDSA_SHA_384", "message_type": "RAW"}
    assert _code(parse_body, SignRequestBody, {**base, "message": _b64(longest)}) == "KMS.0308"
    assert _code(parse_body, SignRequestBody, {**base, "message": ""}) == "KMS.0308"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"message": "AA==", "signing_algorithm": "ECDSA_SHA_256"}, "KMS.0204"),
        ({"key_id": "K", "signing_algorithm": "ECDSA_SHA_256"}, "KMS.0204"),
        ({"key_id": "K", "message": "AA=="}, "KMS.0204"),
        ({"key_id": "not-a-key", "message": "AA==", "signing_algorithm": "ECDSA_SHA_256"}, "KMS.0205"),
        (
            {
                "key_id": "0D0466B0-E727-4D9C-B35D-F84BB474A37F",
                "message": "AA==",
                "signing_algorithm": "ECDSA_SHA_256",
            },
            "KMS.0205",
        ),
        (
            {
                "key_id": "zd0466b0-e727-4d9c-b35d-f84bb474a37f",
                "message": "AA==",
                "signing_algorithm": "ECDSA_SHA_256",
            },
            "KMS.0205",
        ),
        ({"key_id": "K", "message": "AA==", "signing_algorithm": "ECDSA_SHA_1"}, "KMS.0308"),
        ({"key_id": "K", "message": "AA==", "signing_algorithm": "ecdsa_sha_256"}, "KMS.0308"),
        (
            {"key_id": "K", "message": "AA==", "signing_algorithm": "ECDSA_SHA_256", "message_type": "raw"},
            "KMS.0308",
        ),
        (
            {"key_id": "K", "message": "AA==", "signing_algorithm": "ECDSA_SHA_256", "message_type": 1},
            "KMS.0308",
        ),
        ({"key_id": "K", "message": 1, "signing_algorithm": "ECDSA_SHA_256"}, "KMS.0308"),
        (
            {"key_id": "K", "message": "AA==", "signing_algorithm": "ECDSA_SHA_256", "sequence": "s" * 37},
            "KMS.0206",
        ),
    ],
)
def test_wire_validation_maps_to_f2_codes(raw: dict[str, Any], code: str) -> None:
    key_id = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
    fields = {k: (key_id if v == "K" else v) for k, v in raw.items()}
    assert _code(parse_body, SignRequestBody, fields) == code
    assert _code(parse_body, VerifyRequestBody, {**fields, "signature": "AA=="}) == code


def test_verify_needs_a_signature(ctx: tuple[Services, Caller, dict[str, str], dict[str, str]]) -> None:
    _, _, keys, _ = ctx
    base = {"key_id": keys["EC_P256"], "message": "AA==", "signing_algorithm": "ECDSA_SHA_256"}
    assert _code(parse_body, VerifyRequestBody, base) == "KMS.0204"
    assert _code(parse_body, VerifyRequestBody, {**base, "signature": ""}) == "KMS.0308"
    assert _code(parse_body, VerifyRequestBody, {**base, "signature": "A" * 4100}) == "KMS.0308"


@pytest.mark.parametrize("spec", list(ALGORITHMS))
def test_malformed_signatures_are_false_not_errors(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]], spec: str
) -> None:
    services, caller, keys, _ = ctx
    algorithm = ALGORITHMS[spec][0]
    for signature in [
        b"\x00",
        b"garbage",
        b"\x30\x00",
        b"\x30\x06\x02\x01\x00\x02\x01\x00",
        b"\xff" * 512,
        b"\x01" * 3000,
    ]:
        assert (
            _verify(services, caller, keys[spec], MESSAGE, algorithm, signature, message_type="RAW")
            == "false"
        )


def test_signature_of_another_key_is_false(
    ctx: tuple[Services, Caller, dict[str, str], dict[str, str]],
) -> None:
    services, caller, keys, _ = ctx
    other = _create(services, caller, "EC_P256", "SIGN_VERIFY")
    signature = _sign(services, caller, other, MESSAGE, "ECDSA_SHA_256", message_type="RAW")
    assert _verify(services, caller, other, MESSAGE, "ECDSA_SHA_256", signature, message_type="RAW") == "true"
    assert (
        _verify(services, caller, keys["EC_P256"], MESSAGE, "ECDSA_SHA_256", signature, message_type="RAW")
        == "false"
    )


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (KeyState.DISABLED, "KMS.0209"),
        (KeyState.PENDING_DELETION, "KMS.0210"),
        (KeyState.FROZEN, "KMS.0320"),
        (KeyState.PENDING_ACTIVATION, "KMS.1301"),
    ],
)
def test_key_state_is_checked_by_every_operation(
    memory_services: Services, caller: Caller, state: KeyState, code: str
) -> None:
    key_id = _create(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    digest = hashlib.sha256(MESSAGE).digest()
    signature = _sign(memory_services, caller, key_id, digest, "ECDSA_SHA_256")
    _set_state(memory_services, caller, key_id, state)
    assert _code(_sign, memory_services, caller, key_id, digest, "ECDSA_SHA_256") == code
    assert _code(_verify, memory_services, caller, key_id, digest, "ECDSA_SHA_256", signature) == code
    assert _code(_show, memory_services, caller, key_id) == code
    _set_state(memory_services, caller, key_id, KeyState.ENABLED)
    assert _verify(memory_services, caller, key_id, digest, "ECDSA_SHA_256", signature) == "true"


def test_unknown_keys_and_keys_of_other_projects_are_kms_0207(
    memory_services: Services, caller: Caller
) -> None:
    key_id = _create(memory_services, caller, "EC_P256", "SIGN_VERIFY")
    stranger = Caller(project_id=OTHER_PROJECT_ID, domain_id="e" * 32, request_id="req-2")
    digest = hashlib.sha256(MESSAGE).digest()
    for who, which in [(stranger, key_id), (caller, str(uuid.uuid4()))]:
        assert _code(_sign, memory_services, who, which, digest, "ECDSA_SHA_256") == "KMS.0207"
        assert _code(_verify, memory_services, who, which, digest, "ECDSA_SHA_256", b"sig") == "KMS.0207"
        assert _code(_show, memory_services, who, which) == "KMS.0207"


def test_verify_and_get_publickey_trust_the_public_key_only_once_the_material_unwraps(
    memory_services: Services, caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stored public key is proven by unwrapping the material bound to it (skms.keyring): when
    # the material cannot be unwrapped, verify and get-publickey fail closed instead of trusting it.
    key_id = _create(memory_services, caller, "SM2", "SIGN_VERIFY")
    signature = _sign(memory_services, caller, key_id, MESSAGE, "SM2DSA_SM3", message_type="RAW")
    assert (
        _verify(memory_services, caller, key_id, MESSAGE, "SM2DSA_SM3", signature, message_type="RAW")
        == "true"
    )

    def unavailable(*_: object) -> bytes:
        raise MaterialUnavailable

    monkeypatch.setattr(memory_services.keyring, "material", unavailable)
    with pytest.raises(errors.InternalError):
        _verify(memory_services, caller, key_id, MESSAGE, "SM2DSA_SM3", signature, message_type="RAW")
    with pytest.raises(errors.InternalError):
        _show(memory_services, caller, key_id)


def test_refusals_happen_before_the_material_is_unwrapped(
    memory_services: Services, caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = _create(memory_services, caller, "EC_P256", "SIGN_VERIFY")

    def unavailable(*_: object) -> bytes:
        raise AssertionError("the key material was unwrapped")

    monkeypatch.setattr(memory_services.keyring, "material", unavailable)
    assert _code(_sign, memory_services, caller, key_id, b"\x01" * 31, "ECDSA_SHA_256") == "KMS.0329"
    assert _code(_sign, memory_services, caller, key_id, b"\x01" * 32, "ECDSA_SHA_384") == "KMS.0332"


def test_wire_shapes(ctx: tuple[Services, Caller, dict[str, str], dict[str, str]]) -> None:
    services, caller, keys, _ = ctx
    body = parse_body(
        SignRequestBody,
        {
            "key_id": keys["SM2"],
            "message": _b64(MESSAGE),
            "signing_algorithm": "SM2DSA_SM3",
            "message_type": "RAW",
        },
    )
    signed = sign(body, caller, services).model_dump(mode="json")
    assert set(signed) == {"key_id", "signature"}
    body = parse_body(VerifyRequestBody, {**body.model_dump(), "signature": signed["signature"]})
    assert verify(body, caller, services).model_dump(mode="json") == {
        "key_id": keys["SM2"],
        "signature_valid": "true",
    }
    assert set(_show(services, caller, keys["SM2"]).model_dump(mode="json")) == {"key_id", "public_key"}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.DigestLengthMismatch, "KMS.0329"),
        (errors.SigningAlgorithmUnsupported, "KMS.0332"),
        (errors.KeyIsEncryptDecrypt, "KMS.0334"),
        (errors.SymmetricKeyCannotSign, "KMS.1115"),
    ],
)
def test_new_errors_carry_their_f2_code_and_400(error: type[errors.KmsError], code: str) -> None:
    raised = error()
    assert (raised.code, raised.status) == (code, 400)
    assert raised.body() == {"error": {"error_code": code, "error_msg": raised.message}}
