"""SM2 interoperability with the OpenSSL 3 command line, in both directions.

``openssl`` must be on PATH: if it is missing these tests fail (FileNotFoundError), they do not skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from skms.crypto import material, sm2
from skms.crypto.keyspec import KeySpec

DISTID = "distid:1234567812345678"
MESSAGE = b"The quick brown fox jumps over the lazy dog\n" * 3


def _openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], check=check, capture_output=True, text=True, timeout=30
    )


def _openssl_verify(
    tmp_path: Path, pem: str, message: bytes, signature: bytes
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pub.pem").write_text(pem, encoding="ascii")
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(signature)
    return _openssl(
        "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", tmp_path / "pub.pem",
        "-in", tmp_path / "msg", "-sigfile", tmp_path / "sig", "-pkeyopt", DISTID,
        check=False,
    )  # fmt: skip


def _flip_one_bit(data: bytes) -> bytes:
    return data[:5] + bytes([data[5] ^ 0x04]) + data[6:]


@pytest.fixture
def openssl_key(tmp_path: Path) -> tuple[Path, bytes]:
    """An SM2 key made by OpenSSL: (private PEM path, public point X||Y from its DER SPKI)."""
    priv = tmp_path / "priv.pem"
    _openssl("genpkey", "-algorithm", "SM2", "-out", priv)
    der = tmp_path / "pub.der"
    _openssl("pkey", "-in", priv, "-pubout", "-outform", "DER", "-out", der)
    return priv, sm2.public_key_from_der(der.read_bytes())


def _openssl_sign(tmp_path: Path, priv: Path, message: bytes, distid: str = DISTID) -> bytes:
    (tmp_path / "to-sign").write_bytes(message)
    out = tmp_path / "openssl.sig"
    _openssl(
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", priv,
        "-in", tmp_path / "to-sign", "-out", out, "-pkeyopt", distid,
    )  # fmt: skip
    return out.read_bytes()


def test_openssl_is_version_3() -> None:
    assert _openssl("version").stdout.startswith("OpenSSL 3.")


@pytest.mark.parametrize("message", [MESSAGE, b"", b"\x00" * 1000])
def test_openssl_verifies_a_signature_made_here(tmp_path: Path, message: bytes) -> None:
    # Given a key and a signature made by skms.crypto.sm2
    key = material.generate(KeySpec.SM2)
    signature = sm2.sign(key, message)
    pem = sm2.public_key_pem(sm2.split(key)[1])
    # When OpenSSL verifies it with SM3 and the default distinguishing id
    result = _openssl_verify(tmp_path, pem, message, signature)
    # Then it succeeds
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout


def test_openssl_reads_the_public_pem_as_an_sm2_key(tmp_path: Path) -> None:
    key = material.generate(KeySpec.SM2)
    pem = material.public_key_pem(KeySpec.SM2, key)
    assert pem is not None
    (tmp_path / "pub.pem").write_text(pem, encoding="ascii")
    der = tmp_path / "round.der"
    _openssl("pkey", "-pubin", "-in", tmp_path / "pub.pem", "-outform", "DER", "-out", der)
    assert sm2.public_key_from_der(der.read_bytes()) == sm2.split(key)[1]
    text = _openssl("pkey", "-pubin", "-in", tmp_path / "pub.pem", "-noout", "-text").stdout
    assert "SM2" in text


def test_sm2_verifies_a_signature_made_by_openssl(tmp_path: Path, openssl_key: tuple[Path, bytes]) -> None:
    # Given an OpenSSL key and an OpenSSL signature
    priv, public = openssl_key
    signature = _openssl_sign(tmp_path, priv, MESSAGE)
    # When skms.crypto.sm2 verifies it with the point from the DER SPKI; Then it is valid
    assert sm2.verify(public, MESSAGE, signature)


def test_altered_message_fails_in_openssl(tmp_path: Path) -> None:
    key = material.generate(KeySpec.SM2)
    signature = sm2.sign(key, MESSAGE)
    pem = sm2.public_key_pem(sm2.split(key)[1])
    assert _openssl_verify(tmp_path, pem, MESSAGE, signature).returncode == 0
    result = _openssl_verify(tmp_path, pem, _flip_one_bit(MESSAGE), signature)
    assert result.returncode != 0
    assert "Verification Failure" in result.stdout


def test_altered_message_fails_here(tmp_path: Path, openssl_key: tuple[Path, bytes]) -> None:
    priv, public = openssl_key
    signature = _openssl_sign(tmp_path, priv, MESSAGE)
    assert sm2.verify(public, MESSAGE, signature)
    assert not sm2.verify(public, _flip_one_bit(MESSAGE), signature)


def test_other_distinguishing_id_fails_here(tmp_path: Path, openssl_key: tuple[Path, bytes]) -> None:
    # The distinguishing id is part of what is signed: a signature under another id must not verify.
    priv, public = openssl_key
    signature = _openssl_sign(tmp_path, priv, MESSAGE, distid="distid:ALICE123@YAHOO.COM")
    assert not sm2.verify(public, MESSAGE, signature)


def test_signature_under_another_key_fails_in_openssl(tmp_path: Path) -> None:
    signer, other = material.generate(KeySpec.SM2), material.generate(KeySpec.SM2)
    signature = sm2.sign(signer, MESSAGE)
    result = _openssl_verify(tmp_path, sm2.public_key_pem(sm2.split(other)[1]), MESSAGE, signature)
    assert result.returncode != 0


@pytest.mark.parametrize(
    "signature", [b"", b"garbage", b"\x30\x00", b"\x00" * 72], ids=["empty", "garbage", "empty-seq", "zeros"]
)
def test_malformed_signature_is_false_not_an_exception(signature: bytes) -> None:
    key = material.generate(KeySpec.SM2)
    assert sm2.verify(sm2.split(key)[1], MESSAGE, signature) is False


def test_point_not_on_the_curve_is_false_not_an_exception() -> None:
    key = material.generate(KeySpec.SM2)
    signature = sm2.sign(key, MESSAGE)
    assert sm2.verify(bytes(64), MESSAGE, signature) is False
    assert sm2.verify(sm2.split(key)[1][:63], MESSAGE, signature) is False


def test_signatures_are_randomised_der() -> None:
    key = material.generate(KeySpec.SM2)
    first, second = sm2.sign(key, MESSAGE), sm2.sign(key, MESSAGE)
    assert first != second
    assert first[0] == 0x30
    assert first[1] == len(first) - 2
    assert sm2.verify(sm2.split(key)[1], MESSAGE, second)
