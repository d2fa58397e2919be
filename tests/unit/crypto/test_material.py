"""Key material per key spec, and the public half of asymmetric keys."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from skms.crypto import material, sm2
from skms.crypto.keyspec import ALLOWED_USAGES, KeySpec, KeyUsage, default_usage

RSA_BITS = {KeySpec.RSA_2048: 2048, KeySpec.RSA_3072: 3072, KeySpec.RSA_4096: 4096}
EC_CURVES = {KeySpec.EC_P256: "secp256r1", KeySpec.EC_P384: "secp384r1", KeySpec.SECP256K1: "secp256k1"}
ALL_SPECS = list(KeySpec)


@pytest.fixture(scope="module")
def generated() -> dict[KeySpec, bytes]:
    """One material per spec for the whole module (RSA_4096 takes about a second)."""
    return {spec: material.generate(spec) for spec in KeySpec}


def test_every_spec_is_covered_by_this_module() -> None:
    covered = (
        set(material.SYMMETRIC_LEN)
        | set(material.HMAC_LEN)
        | set(RSA_BITS)
        | set(EC_CURVES)
        | {KeySpec.SM2, KeySpec.ED25519}
    )
    assert covered == set(KeySpec)


@pytest.mark.parametrize(("spec", "length"), [(KeySpec.AES_256, 32), (KeySpec.SM4, 16)])
def test_symmetric_material_is_random_bytes_of_the_key_length(
    generated: dict[KeySpec, bytes], spec: KeySpec, length: int
) -> None:
    assert type(generated[spec]) is bytes
    assert len(generated[spec]) == length
    assert material.public_key_pem(spec, generated[spec]) is None


@pytest.mark.parametrize("spec", list(RSA_BITS))
def test_rsa_material_is_pkcs8_der_of_the_right_size(generated: dict[KeySpec, bytes], spec: KeySpec) -> None:
    der = generated[spec]
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == RSA_BITS[spec]
    assert private.private_numbers().public_numbers.e == 65537
    # PKCS#8, not traditional PKCS#1: re-serialising as PKCS#8 DER gives the same bytes
    assert der == private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize("spec", list(EC_CURVES))
def test_ec_material_is_pkcs8_der_on_the_right_curve(generated: dict[KeySpec, bytes], spec: KeySpec) -> None:
    der = generated[spec]
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == EC_CURVES[spec]
    assert der == private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_ed25519_material_is_pkcs8_der_and_its_pem_is_the_rfc_8410_spki(
    generated: dict[KeySpec, bytes],
) -> None:
    # Given Ed25519 material
    der = generated[KeySpec.ED25519]
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    # Then it is PKCS#8 (RFC 8410: id-Ed25519 1.3.101.112, the 32-byte seed in an OCTET STRING)
    assert der == bytes.fromhex("302e020100300506032b657004220420") + private.private_bytes_raw()
    # And its PEM is the SPKI of the same key (RFC 8410 §4: 302a300506032b6570032100 || A)
    pem = material.public_key_pem(KeySpec.ED25519, der)
    assert pem is not None
    spki = base64.b64decode("".join(pem.splitlines()[1:-1]))
    assert spki == bytes.fromhex("302a300506032b6570032100") + private.public_key().public_bytes_raw()
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(private.sign(b"m"), b"m")


def test_sm2_material_is_private_then_public_point(generated: dict[KeySpec, bytes]) -> None:
    data = generated[KeySpec.SM2]
    assert len(data) == 96
    private, public = sm2.split(data)
    assert (len(private), len(public)) == (32, 64)
    # the public half belongs to the private half: a signature made with both verifies under it
    assert sm2.verify(public, b"message", sm2.sign(data, b"message"))


@pytest.mark.parametrize(
    "spec",
    [
        KeySpec.AES_256,
        KeySpec.SM4,
        KeySpec.RSA_2048,
        KeySpec.EC_P256,
        KeySpec.EC_P384,
        KeySpec.SECP256K1,
        KeySpec.SM2,
        KeySpec.ED25519,
    ],
)
def test_two_generations_differ(generated: dict[KeySpec, bytes], spec: KeySpec) -> None:
    assert material.generate(spec) != generated[spec]


@pytest.mark.parametrize("spec", list(RSA_BITS))
def test_rsa_public_key_pem_matches_the_private_key(generated: dict[KeySpec, bytes], spec: KeySpec) -> None:
    # Given RSA material (validated in the test above) and its public PEM
    private = serialization.load_der_private_key(
        generated[spec], password=None, unsafe_skip_rsa_key_validation=True
    )
    assert isinstance(private, rsa.RSAPrivateKey)
    pem = material.public_key_pem(spec, generated[spec])
    assert pem is not None
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(public, rsa.RSAPublicKey)
    # Then it is the same key: a signature by the private key verifies under it
    assert public.public_numbers() == private.public_key().public_numbers()
    signature = private.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"m", padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("spec", list(EC_CURVES))
def test_ec_public_key_pem_matches_the_private_key(generated: dict[KeySpec, bytes], spec: KeySpec) -> None:
    private = serialization.load_der_private_key(generated[spec], password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    pem = material.public_key_pem(spec, generated[spec])
    assert pem is not None
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == EC_CURVES[spec]
    assert public.public_numbers() == private.public_key().public_numbers()
    public.verify(private.sign(b"m", ec.ECDSA(hashes.SHA256())), b"m", ec.ECDSA(hashes.SHA256()))


def test_sm2_public_key_pem_is_the_fixed_spki_prefix_and_the_point(generated: dict[KeySpec, bytes]) -> None:
    # Given SM2 material
    public = sm2.split(generated[KeySpec.SM2])[1]
    # When its PEM is produced
    pem = material.public_key_pem(KeySpec.SM2, generated[KeySpec.SM2])
    assert pem is not None
    lines = pem.splitlines()
    # Then it is a PEM SubjectPublicKeyInfo: id-ecPublicKey, sm2p256v1 (1.2.156.10197.1.301), 04||X||Y
    assert lines[0] == "-----BEGIN PUBLIC KEY-----"
    assert lines[-1] == "-----END PUBLIC KEY-----"
    assert pem.endswith("\n")
    assert all(len(line) <= 64 for line in lines[1:-1])
    der = base64.b64decode("".join(lines[1:-1]))
    assert der == bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004") + public
    assert sm2.public_key_from_der(der) == public


def test_sm2_der_helpers_reject_malformed_input() -> None:
    with pytest.raises(ValueError):
        sm2.public_key_der(bytes(63))
    with pytest.raises(ValueError):
        sm2.public_key_from_der(sm2.SPKI_PREFIX + bytes(63))
    with pytest.raises(ValueError):
        sm2.public_key_from_der(b"\x00" + sm2.SPKI_PREFIX[1:] + bytes(64))
    with pytest.raises(ValueError):
        sm2.split(bytes(95))


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_key_spec_flags_and_usages(spec: KeySpec) -> None:
    assert spec.is_symmetric == (spec in (KeySpec.AES_256, KeySpec.SM4))
    assert spec.is_rsa == (spec in RSA_BITS)
    assert spec.is_ec == (spec in EC_CURVES)
    assert default_usage(spec) in ALLOWED_USAGES[spec]
    if spec.is_hmac:
        assert not spec.is_symmetric
        assert ALLOWED_USAGES[spec] == {KeyUsage.GENERATE_VERIFY_MAC}
        assert default_usage(spec) is KeyUsage.GENERATE_VERIFY_MAC
    elif spec.is_symmetric:
        assert ALLOWED_USAGES[spec] == {KeyUsage.ENCRYPT_DECRYPT}
        assert default_usage(spec) is KeyUsage.ENCRYPT_DECRYPT
    else:
        assert KeyUsage.SIGN_VERIFY in ALLOWED_USAGES[spec]
        assert default_usage(spec) is KeyUsage.SIGN_VERIFY
    if spec.is_ec:
        assert KeyUsage.ENCRYPT_DECRYPT not in ALLOWED_USAGES[spec]
    # KEY_AGREEMENT (ECDH) only for the EC curves; never for SM2 or Ed25519, never a default
    assert (KeyUsage.KEY_AGREEMENT in ALLOWED_USAGES[spec]) == spec.is_ec
    assert default_usage(spec) is not KeyUsage.KEY_AGREEMENT
