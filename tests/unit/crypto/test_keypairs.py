"""Data key pair generation (spec §4 ops 17-18): standard DER that outside libraries read.

RSA and EC pairs are checked with ``cryptography``; SM2 pairs, which ``cryptography`` cannot load,
with the OpenSSL 3 command line (it must be on PATH: these tests fail, not skip, without it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from skms.crypto import keypairs, sm2
from skms.crypto.keypairs import PairSpec

MESSAGE = b"data key pairs sign outside the KMS\n"
RSA_CASES = [(PairSpec.RSA_2048, 2048), (PairSpec.RSA_3072, 3072), (PairSpec.RSA_4096, 4096)]
EC_CASES = [
    (PairSpec.ECC_NIST_P256, "secp256r1"),
    (PairSpec.ECC_NIST_P384, "secp384r1"),
    (PairSpec.ECC_NIST_P521, "secp521r1"),
    (PairSpec.ECC_SECG_P256K1, "secp256k1"),
]
DISTID = "distid:1234567812345678"


def _openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["openssl", *map(str, args)], input=stdin, capture_output=True, check=True, timeout=30
    )
    return done.stdout


def _load(pair: keypairs.KeyPair) -> tuple[object, object]:
    private = serialization.load_der_private_key(pair.private_der.reveal(), password=None)
    public = serialization.load_der_public_key(pair.public_der)
    return private, public


def _spki(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- RSA and EC: cryptography reads both halves ---------------------------------------------------


@pytest.mark.parametrize(("spec", "bits"), RSA_CASES, ids=str)
def test_rsa_pair_is_standard_der_and_signs(spec: PairSpec, bits: int) -> None:
    # Given a fresh RSA pair
    pair = keypairs.generate(spec)
    # When both halves are parsed as DER PKCS#8 and SubjectPublicKeyInfo
    private, public = _load(pair)
    # Then they are RSA keys of the spec's size, e = 65537, and the public key is the private's
    assert isinstance(private, rsa.RSAPrivateKey)
    assert isinstance(public, rsa.RSAPublicKey)
    assert (private.key_size, public.public_numbers().e) == (bits, 65537)
    assert _spki(private.public_key()) == pair.public_der
    # And the encodings are canonical (re-encoding gives the same bytes)
    assert _pkcs8(private) == pair.private_der.reveal()
    # And a signature by the private key verifies with the public key
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    public.verify(private.sign(MESSAGE, pss, hashes.SHA256()), MESSAGE, pss, hashes.SHA256())


@pytest.mark.parametrize(("spec", "curve"), EC_CASES, ids=str)
def test_ec_pair_is_standard_der_and_signs(spec: PairSpec, curve: str) -> None:
    pair = keypairs.generate(spec)
    private, public = _load(pair)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert private.curve.name == public.curve.name == curve
    assert _spki(private.public_key()) == pair.public_der
    assert _pkcs8(private) == pair.private_der.reveal()
    public.verify(private.sign(MESSAGE, ec.ECDSA(hashes.SHA256())), MESSAGE, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("spec", list(PairSpec), ids=str)
def test_every_pair_is_fresh_and_its_private_half_prints_redacted(spec: PairSpec) -> None:
    first, second = keypairs.generate(spec), keypairs.generate(spec)
    assert first.spec is spec
    assert first.public_der != second.public_der
    assert first.private_der != second.private_der
    assert "redacted" in repr(first)
    assert first.private_der.reveal().hex() not in repr(first)


# -- SM2: our fixed-layout DER is what OpenSSL writes and reads -----------------------------------


def test_sm2_pair_halves_belong_together() -> None:
    pair = keypairs.generate(PairSpec.SM2)
    private, public = keypairs.sm2_from_pkcs8(pair.private_der.reveal())
    assert sm2.public_key_der(public) == pair.public_der
    assert len(pair.private_der) == keypairs.SM2_PKCS8_LEN == 138
    signature = sm2.sign(private + public, MESSAGE)
    assert sm2.verify(sm2.public_key_from_der(pair.public_der), MESSAGE, signature)


def test_openssl_reads_our_sm2_private_key(tmp_path: Path) -> None:
    # Given an SM2 pair and its PKCS#8 DER on disk
    pair = keypairs.generate(PairSpec.SM2)
    key = tmp_path / "sm2.der"
    key.write_bytes(pair.private_der.reveal())
    # When OpenSSL loads it, derives its public key and re-writes it as PKCS#8
    public = _openssl("pkey", "-inform", "DER", "-in", key, "-pubout", "-outform", "DER")
    rewritten = _openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", key, "-outform", "DER")
    text = _openssl("pkey", "-inform", "DER", "-in", key, "-noout", "-text").decode()
    # Then it sees an SM2 key whose public half is ours, and writes the very same bytes back
    assert public == pair.public_der
    assert rewritten == pair.private_der.reveal()
    assert "SM2" in text


def test_openssl_signature_with_our_sm2_private_key_verifies_here(tmp_path: Path) -> None:
    pair = keypairs.generate(PairSpec.SM2)
    key, message = tmp_path / "sm2.der", tmp_path / "msg"
    key.write_bytes(pair.private_der.reveal())
    message.write_bytes(MESSAGE)
    signature = _openssl(
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-keyform", "DER", "-inkey", key,
        "-in", message, "-pkeyopt", DISTID,
    )  # fmt: skip
    assert sm2.verify(sm2.public_key_from_der(pair.public_der), MESSAGE, signature)


def test_an_openssl_sm2_key_parses_here(tmp_path: Path) -> None:
    # Given an SM2 key made by OpenSSL, as PKCS#8 DER
    pem = tmp_path / "sm2.pem"
    _openssl("genpkey", "-algorithm", "SM2", "-out", pem)
    der = _openssl("pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER")
    public_der = _openssl("pkey", "-in", pem, "-pubout", "-outform", "DER")
    # When it is read with our fixed layout
    private, public = keypairs.sm2_from_pkcs8(der)
    # Then the halves match OpenSSL's and framing them again gives OpenSSL's bytes
    assert sm2.public_key_der(public) == public_der
    assert keypairs.sm2_pkcs8(private, public) == der


@pytest.mark.parametrize(
    "der",
    [
        b"",
        keypairs.SM2_PKCS8_PREFIX,
        b"\x00" * keypairs.SM2_PKCS8_LEN,
        # the right length and prefix, a wrong tag before the public point
        keypairs.SM2_PKCS8_PREFIX + b"\x01" * 32 + b"\xa0\x44\x03\x42\x00\x04" + b"\x02" * 64,
        # a P-256 key: same length, another curve
        keypairs.generate(PairSpec.ECC_NIST_P256).private_der.reveal(),
    ],
    ids=["empty", "prefix-only", "zeros", "wrong-tag", "p256"],
)
def test_sm2_from_pkcs8_refuses_anything_else(der: bytes) -> None:
    with pytest.raises(ValueError, match="SM2"):
        keypairs.sm2_from_pkcs8(der)


def test_sm2_pkcs8_checks_lengths() -> None:
    with pytest.raises(ValueError, match="SM2"):
        keypairs.sm2_pkcs8(b"\x01" * 31, b"\x02" * 64)
    with pytest.raises(ValueError, match="SM2"):
        keypairs.sm2_pkcs8(b"\x01" * 32, b"\x02" * 65)
