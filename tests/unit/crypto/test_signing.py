"""Signatures under CMK material (skms.crypto.signing).

Every signature made here is checked by ``cryptography`` used directly with the public key from
``material.public_key_pem`` (what get-publickey serves), over the *original message* even when a
digest was signed; SM2 is checked by GmSSL's message-level verify, which computes Z_A itself.
Ed25519ph, which ``cryptography`` cannot verify, is checked by RFC 8032's reference code
(tests/support/rfc8032.py) with the public key parsed out of that PEM by hand.
Ed25519 and Ed25519ph are also pinned to the known-answer vectors of RFC 8032 §7.1 and §7.3 (their
signatures are deterministic).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from skms.crypto import ed25519ph, material, signing, sm2
from skms.crypto.keyspec import KeySpec
from skms.crypto.signing import DigestLengthError, SigningAlgorithm, UnsupportedAlgorithmError
from tests.support.rfc8032 import (
    ed25519_public_from_pem,
    ed25519ph_sign,
    ed25519ph_verify,
    ed25519ph_verify_prehash,
)

A = SigningAlgorithm
ASYMMETRIC = [s for s in KeySpec if not s.is_symmetric and not s.is_hmac]
HASHLIB = {"256": "sha256", "384": "sha384", "512": "sha512"}
HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
MESSAGE = b"The quick brown fox jumps over the lazy dog \x00\xff" * 7


def _cases() -> Iterator[tuple[KeySpec, SigningAlgorithm, str]]:
    for spec in ASYMMETRIC:
        for algorithm in sorted(signing.supported_algorithms(spec)):
            for message_type in ("RAW",) if algorithm.signs_raw_only else ("RAW", "DIGEST"):
                yield spec, algorithm, message_type


CASES = list(_cases())


@pytest.fixture(scope="module")
def keys() -> dict[KeySpec, bytes]:
    """One key per asymmetric spec; RSA_4096 generation is slow, so once per module."""
    return {spec: material.generate(spec) for spec in ASYMMETRIC}


@pytest.fixture(scope="module")
def pems(keys: dict[KeySpec, bytes]) -> dict[KeySpec, str]:
    """The get-publickey PEM of each key (deriving it validates the RSA key: slow, so once)."""
    return {spec: _pem(spec, key) for spec, key in keys.items()}


def _pem(spec: KeySpec, key: bytes) -> str:
    pem = material.public_key_pem(spec, key)
    assert pem is not None
    return pem


def _digest(algorithm: SigningAlgorithm, message: bytes, key: bytes) -> bytes:
    """What a caller passes as DIGEST: H(M), or for SM2 e = SM3(Z_A || M)."""
    if algorithm is A.SM2DSA_SM3:
        return signing.sm2_digest(sm2.split(key)[1], message)
    return hashlib.new(HASHLIB[algorithm.value[-3:]], message).digest()


def _input(algorithm: SigningAlgorithm, message_type: str, key: bytes, message: bytes = MESSAGE) -> bytes:
    return message if message_type == "RAW" else _digest(algorithm, message, key)


def _independent_verify(spec: KeySpec, pem: str, algorithm: SigningAlgorithm, signature: bytes) -> bool:
    """Verify over the original MESSAGE with code that does not go through skms.crypto.signing."""
    if spec is KeySpec.SM2:
        return sm2.verify(sm2.public_key_from_der(_der(pem)), MESSAGE, signature)
    if algorithm is A.ED25519_PH_SHA_512:
        return ed25519ph_verify(ed25519_public_from_pem(pem), MESSAGE, signature)
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    digest = HASHES[algorithm.value[-3:]]
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, MESSAGE)
        elif isinstance(public, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                if algorithm.is_pss
                else padding.PKCS1v15()
            )
            public.verify(signature, MESSAGE, pad, digest)
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(signature, MESSAGE, ec.ECDSA(digest))
    except Exception:
        return False
    return True


def _der(pem: str) -> bytes:
    return base64.b64decode("".join(pem.strip().splitlines()[1:-1]))


def _flip(data: bytes, at: int | None = None) -> bytes:
    at = len(data) // 2 if at is None else at
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# --- what each spec supports


def test_supported_algorithms_per_spec() -> None:
    rsa_all = {a for a in A if a.name.startswith("RSASSA_")}
    assert len(rsa_all) == 6
    assert {
        KeySpec.AES_256: set(),
        KeySpec.SM4: set(),
        KeySpec.RSA_2048: rsa_all,
        KeySpec.RSA_3072: rsa_all,
        KeySpec.RSA_4096: rsa_all,
        KeySpec.EC_P256: {A.ECDSA_SHA_256},
        KeySpec.EC_P384: {A.ECDSA_SHA_384},
        KeySpec.SECP256K1: {A.ECDSA_SHA_256},
        KeySpec.SM2: {A.SM2DSA_SM3},
        KeySpec.ED25519: {A.ED25519_SHA_512, A.ED25519_PH_SHA_512},
    } == signing.SUPPORTED
    assert not any(A.ECDSA_SHA_512 in algorithms for algorithms in signing.SUPPORTED.values())


def test_wire_names_and_digest_sizes() -> None:
    assert [a.value for a in A] == [a.name for a in A]
    assert len(A) == 12
    sizes = {a: a.digest_size for a in A}
    assert {sizes[a] for a in A if a.value.endswith("_256")} == {32}
    assert {sizes[a] for a in A if a.value.endswith("_384")} == {48}
    assert {sizes[a] for a in A if a.value.endswith("_512")} == {64}
    assert sizes[A.SM2DSA_SM3] == 32


# --- signatures verify independently, and with verify()


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), CASES)
def test_signature_verifies_independently_over_the_original_message(
    keys: dict[KeySpec, bytes],
    pems: dict[KeySpec, str],
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message_type: str,
) -> None:
    key = keys[spec]
    # Given a signature over MESSAGE (RAW) or its digest (DIGEST)
    signature = signing.sign(spec, key, algorithm, _input(algorithm, message_type, key), message_type)
    # Then independent code verifies it over MESSAGE itself
    assert _independent_verify(spec, pems[spec], algorithm, signature)
    # And a tampered signature does not
    assert not _independent_verify(spec, pems[spec], algorithm, _flip(signature))


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), CASES)
def test_verify_accepts_its_signature_and_rejects_one_bit_changes(
    keys: dict[KeySpec, bytes],
    pems: dict[KeySpec, str],
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message_type: str,
) -> None:
    key, pem = keys[spec], pems[spec]
    data = _input(algorithm, message_type, key)
    signature = signing.sign(spec, key, algorithm, data, message_type)
    assert signing.verify(spec, pem, algorithm, data, message_type, signature) is True
    assert signing.verify(spec, pem, algorithm, data, message_type, _flip(signature)) is False
    assert signing.verify(spec, pem, algorithm, _flip(data), message_type, signature) is False
    assert signing.verify(spec, pem, algorithm, data, message_type, _flip(signature, -1)) is False


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), [c for c in CASES if not c[1].signs_raw_only])
def test_raw_and_digest_are_interchangeable(
    keys: dict[KeySpec, bytes],
    pems: dict[KeySpec, str],
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message_type: str,
) -> None:
    # A signature made one way verifies the other way: DIGEST really is the digest of RAW.
    key, pem = keys[spec], pems[spec]
    other = "DIGEST" if message_type == "RAW" else "RAW"
    signature = signing.sign(spec, key, algorithm, _input(algorithm, message_type, key), message_type)
    assert signing.verify(spec, pem, algorithm, _input(algorithm, other, key), other, signature)


def test_message_type_accepts_the_enum_too(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    key = keys[KeySpec.EC_P256]
    signature = signing.sign(KeySpec.EC_P256, key, A.ECDSA_SHA_256, MESSAGE, signing.MessageType.RAW)
    assert signing.verify(KeySpec.EC_P256, pems[KeySpec.EC_P256], A.ECDSA_SHA_256, MESSAGE, "RAW", signature)


def test_empty_raw_message_signs(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    for spec in (KeySpec.RSA_2048, KeySpec.EC_P256, KeySpec.SECP256K1, KeySpec.SM2, KeySpec.ED25519):
        algorithm = min(signing.supported_algorithms(spec))
        signature = signing.sign(spec, keys[spec], algorithm, b"", "RAW")
        assert signing.verify(spec, pems[spec], algorithm, b"", "RAW", signature)


# --- conventions


def _pss_salt_length(public: rsa.RSAPublicKey, signature: bytes, hash_name: str) -> int:
    """Open a PSS signature by hand (RFC 8017 §9.1.2) and return the length of its salt."""
    numbers = public.public_numbers()
    em_len = (public.key_size - 1 + 7) // 8
    em = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(em_len, "big")
    h_len = hashlib.new(hash_name).digest_size
    assert em[-1] == 0xBC
    masked_db, h = em[: em_len - h_len - 1], em[em_len - h_len - 1 : -1]
    mask = b"".join(
        hashlib.new(hash_name, h + i.to_bytes(4, "big")).digest() for i in range(len(masked_db) // h_len + 1)
    )
    db = bytearray(x ^ y for x, y in zip(masked_db, mask, strict=False))
    db[0] &= 0xFF >> (8 * em_len - (public.key_size - 1))
    separator = db.index(1)
    assert not any(db[:separator])
    return len(db) - separator - 1


@pytest.mark.parametrize("algorithm", [A.RSASSA_PSS_SHA_256, A.RSASSA_PSS_SHA_384, A.RSASSA_PSS_SHA_512])
@pytest.mark.parametrize("spec", [KeySpec.RSA_2048, KeySpec.RSA_3072])
def test_pss_salt_is_the_digest_length(
    keys: dict[KeySpec, bytes], pems: dict[KeySpec, str], spec: KeySpec, algorithm: SigningAlgorithm
) -> None:
    public = serialization.load_pem_public_key(pems[spec].encode("ascii"))
    assert isinstance(public, rsa.RSAPublicKey)
    digest = HASHES[algorithm.value[-3:]]
    signature = signing.sign(spec, keys[spec], algorithm, MESSAGE, "RAW")
    assert _pss_salt_length(public, signature, HASHLIB[algorithm.value[-3:]]) == digest.digest_size
    public.verify(signature, MESSAGE, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
    # PSS is randomised
    assert signature != signing.sign(spec, keys[spec], algorithm, MESSAGE, "RAW")


def test_pss_with_another_salt_length_does_not_verify(
    keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]
) -> None:
    key = keys[KeySpec.RSA_2048]
    private = serialization.load_der_private_key(key, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    foreign = private.sign(MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 20), hashes.SHA256())
    pem = pems[KeySpec.RSA_2048]
    assert not signing.verify(KeySpec.RSA_2048, pem, A.RSASSA_PSS_SHA_256, MESSAGE, "RAW", foreign)


def test_pkcs1v15_is_deterministic_and_raw_equals_digest(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.RSA_3072]
    algorithm = A.RSASSA_PKCS1_V1_5_SHA_384
    raw = signing.sign(KeySpec.RSA_3072, key, algorithm, MESSAGE, "RAW")
    digest = signing.sign(KeySpec.RSA_3072, key, algorithm, hashlib.sha384(MESSAGE).digest(), "DIGEST")
    assert raw == digest
    assert len(raw) == 384


@pytest.mark.parametrize(
    ("spec", "size"), [(KeySpec.RSA_2048, 256), (KeySpec.RSA_3072, 384), (KeySpec.RSA_4096, 512)]
)
def test_rsa_signature_is_the_modulus_size(keys: dict[KeySpec, bytes], spec: KeySpec, size: int) -> None:
    assert len(signing.sign(spec, keys[spec], A.RSASSA_PSS_SHA_512, MESSAGE, "RAW")) == size


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        (KeySpec.EC_P256, A.ECDSA_SHA_256),
        (KeySpec.EC_P384, A.ECDSA_SHA_384),
        (KeySpec.SECP256K1, A.ECDSA_SHA_256),
        (KeySpec.SM2, A.SM2DSA_SM3),
    ],
)
def test_ecdsa_and_sm2_signatures_are_der_r_s(
    keys: dict[KeySpec, bytes], spec: KeySpec, algorithm: SigningAlgorithm
) -> None:
    signature = signing.sign(spec, keys[spec], algorithm, MESSAGE, "RAW")
    r, s = decode_dss_signature(signature)
    assert r > 0
    assert s > 0
    assert signature != signing.sign(spec, keys[spec], algorithm, MESSAGE, "RAW")  # randomised


# RFC 8032 §7.1 TEST 1-3: (secret key, public key, message, signature), hex.
RFC8032_ED25519 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "expected"), RFC8032_ED25519)
def test_ed25519_matches_the_rfc_8032_vectors(secret: str, public: str, message: str, expected: str) -> None:
    # Given the RFC's secret key as CMK material (PKCS#8, RFC 8410) and its public key as a PEM
    key = bytes.fromhex("302e020100300506032b657004220420" + secret)
    spki = bytes.fromhex("302a300506032b6570032100" + public)
    pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki).decode() + "\n-----END PUBLIC KEY-----\n"
    assert material.public_key_pem(KeySpec.ED25519, key) == pem
    # When the RFC's message is signed (pure Ed25519 over the raw message)
    signature = signing.sign(KeySpec.ED25519, key, A.ED25519_SHA_512, bytes.fromhex(message), "RAW")
    # Then the signature is the RFC's, byte for byte, and verify() accepts exactly it
    assert signature.hex() == expected
    assert signing.verify(KeySpec.ED25519, pem, A.ED25519_SHA_512, bytes.fromhex(message), "RAW", signature)
    assert not signing.verify(
        KeySpec.ED25519, pem, A.ED25519_SHA_512, bytes.fromhex(message), "RAW", _flip(signature, -1)
    )


def test_pure_ed25519_refuses_digests(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    key, pem = keys[KeySpec.ED25519], pems[KeySpec.ED25519]
    digest = hashlib.sha512(MESSAGE).digest()
    # Pure Ed25519 cannot sign a digest: a DIGEST message is refused whatever its length
    for data in (digest, digest[:32], MESSAGE):
        with pytest.raises(signing.MessageTypeError, match="RAW"):
            signing.sign(KeySpec.ED25519, key, A.ED25519_SHA_512, data, "DIGEST")
        with pytest.raises(signing.MessageTypeError, match="RAW"):
            signing.verify(KeySpec.ED25519, pem, A.ED25519_SHA_512, data, "DIGEST", b"\x00" * 64)
    # And the Ed25519 algorithms on any other key are refused as algorithms the key does not take
    for algorithm in (A.ED25519_SHA_512, A.ED25519_PH_SHA_512):
        with pytest.raises(UnsupportedAlgorithmError):
            signing.sign(KeySpec.EC_P256, keys[KeySpec.EC_P256], algorithm, MESSAGE, "RAW")


# RFC 8032 §7.3 "TEST abc": Ed25519ph, empty context (hex).
RFC8032_ED25519PH_SECRET = "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42"
RFC8032_ED25519PH_PUBLIC = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
RFC8032_ED25519PH_MESSAGE = "616263"
RFC8032_ED25519PH_SIGNATURE = (
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
)


@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_ed25519ph_matches_the_rfc_8032_vector(message_type: str) -> None:
    # Given the RFC's secret key as CMK material (PKCS#8, RFC 8410) and its public key as a PEM
    key = bytes.fromhex("302e020100300506032b657004220420" + RFC8032_ED25519PH_SECRET)
    spki = bytes.fromhex("302a300506032b6570032100" + RFC8032_ED25519PH_PUBLIC)
    pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki).decode() + "\n-----END PUBLIC KEY-----\n"
    assert material.public_key_pem(KeySpec.ED25519, key) == pem
    message = bytes.fromhex(RFC8032_ED25519PH_MESSAGE)
    data = message if message_type == "RAW" else hashlib.sha512(message).digest()
    # When "abc" (RAW) or its SHA-512 (DIGEST) is signed with ED25519_PH_SHA_512
    signature = signing.sign(KeySpec.ED25519, key, A.ED25519_PH_SHA_512, data, message_type)
    # Then the signature is the RFC's, byte for byte, and verify() accepts exactly it
    assert signature.hex() == RFC8032_ED25519PH_SIGNATURE
    assert signing.verify(KeySpec.ED25519, pem, A.ED25519_PH_SHA_512, data, message_type, signature)
    for bad in (_flip(signature, 0), _flip(signature, -1)):
        assert not signing.verify(KeySpec.ED25519, pem, A.ED25519_PH_SHA_512, data, message_type, bad)
    assert not signing.verify(
        KeySpec.ED25519, pem, A.ED25519_PH_SHA_512, _flip(data, 0), message_type, signature
    )


def test_the_independent_ed25519ph_agrees_with_the_rfc_vector() -> None:
    # The test-side Ed25519ph (RFC 8032 §6's code) is itself pinned to §7.3: its signer makes the
    # RFC's signature, its verifier accepts it and nothing one bit away, so its "True" means something.
    public = bytes.fromhex(RFC8032_ED25519PH_PUBLIC)
    message = bytes.fromhex(RFC8032_ED25519PH_MESSAGE)
    signature = bytes.fromhex(RFC8032_ED25519PH_SIGNATURE)
    assert ed25519ph_sign(bytes.fromhex(RFC8032_ED25519PH_SECRET), message) == signature
    assert ed25519ph_verify(public, message, signature)
    assert ed25519ph_verify_prehash(public, hashlib.sha512(message).digest(), signature)
    assert not ed25519ph_verify(public, b"abd", signature)
    assert not ed25519ph_verify(public, message, _flip(signature, 0))
    assert not ed25519ph_verify(public, message, _flip(signature, -1))
    assert not ed25519ph_verify(_flip(public, 0), message, signature)


def test_ed25519ph_and_pure_ed25519_signatures_are_domain_separated(
    keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]
) -> None:
    # dom2(1, "") makes an Ed25519ph signature differ from a pure one and never verify as one
    key, pem = keys[KeySpec.ED25519], pems[KeySpec.ED25519]
    pure = signing.sign(KeySpec.ED25519, key, A.ED25519_SHA_512, MESSAGE, "RAW")
    hashed = signing.sign(KeySpec.ED25519, key, A.ED25519_PH_SHA_512, MESSAGE, "RAW")
    assert len(hashed) == 64
    assert pure != hashed
    assert hashed == signing.sign(KeySpec.ED25519, key, A.ED25519_PH_SHA_512, MESSAGE, "RAW")  # deterministic
    assert not signing.verify(KeySpec.ED25519, pem, A.ED25519_SHA_512, MESSAGE, "RAW", hashed)
    assert not signing.verify(KeySpec.ED25519, pem, A.ED25519_PH_SHA_512, MESSAGE, "RAW", pure)
    # Nor is Ed25519ph over M the pure signature of SHA-512(M)
    digest = hashlib.sha512(MESSAGE).digest()
    assert not signing.verify(KeySpec.ED25519, pem, A.ED25519_SHA_512, digest, "RAW", hashed)


def test_ed25519ph_rejects_a_non_canonical_s(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    # S + L is the same scalar mod L: RFC 8032 §5.1.7 wants S < L, so no second valid encoding exists
    key, pem = keys[KeySpec.ED25519], pems[KeySpec.ED25519]
    signature = signing.sign(KeySpec.ED25519, key, A.ED25519_PH_SHA_512, MESSAGE, "RAW")
    s = int.from_bytes(signature[32:], "little")
    for bad_s in (s + ed25519ph.GROUP_ORDER, ed25519ph.GROUP_ORDER, 2**256 - 1):
        malleated = signature[:32] + bad_s.to_bytes(32, "little")
        assert not signing.verify(KeySpec.ED25519, pem, A.ED25519_PH_SHA_512, MESSAGE, "RAW", malleated)


def test_ed25519_signatures_are_deterministic_64_bytes(keys: dict[KeySpec, bytes]) -> None:
    key = keys[KeySpec.ED25519]
    signature = signing.sign(KeySpec.ED25519, key, A.ED25519_SHA_512, MESSAGE, "RAW")
    assert len(signature) == 64
    assert signature == signing.sign(KeySpec.ED25519, key, A.ED25519_SHA_512, MESSAGE, "RAW")


def test_sm2_digest_is_sm3_of_z_and_message(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    # e = SM3(Z_A || M): a DIGEST signature over it is an ordinary SM2 signature over M, and GmSSL's
    # message-level signature verifies against the digest.
    key = keys[KeySpec.SM2]
    public = sm2.split(key)[1]
    e = signing.sm2_digest(public, MESSAGE)
    assert len(e) == 32
    assert e != signing.sm2_digest(public, MESSAGE + b"!")
    assert e != signing.sm2_digest(sm2.split(sm2.generate())[1], MESSAGE)
    assert e != signing.sm2_digest(public, MESSAGE, signer_id=b"ALICE123@YAHOO.COM")
    pem = pems[KeySpec.SM2]
    assert signing.verify(KeySpec.SM2, pem, A.SM2DSA_SM3, e, "DIGEST", sm2.sign(key, MESSAGE))
    with pytest.raises(ValueError, match="64 bytes"):
        signing.sm2_digest(public[:63], MESSAGE)


def test_verify_reads_crlf_pem(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    for spec in ASYMMETRIC:
        algorithm = min(signing.supported_algorithms(spec))
        pem = pems[spec].replace("\n", "\r\n")
        signature = signing.sign(spec, keys[spec], algorithm, MESSAGE, "RAW")
        assert signing.verify(spec, pem, algorithm, MESSAGE, "RAW", signature)


# --- refusals


@pytest.mark.parametrize("spec", list(KeySpec))
def test_unsupported_algorithms_are_refused(
    keys: dict[KeySpec, bytes], pems: dict[KeySpec, str], spec: KeySpec
) -> None:
    key = keys.get(spec, b"\x00" * 32)
    pem = pems.get(spec, "")
    for algorithm in set(A) - signing.supported_algorithms(spec):
        message = b"\x00" * algorithm.digest_size
        with pytest.raises(UnsupportedAlgorithmError):
            signing.sign(spec, key, algorithm, message, "DIGEST")
        with pytest.raises(UnsupportedAlgorithmError):
            signing.verify(spec, pem, algorithm, message, "DIGEST", b"sig")


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), [c for c in CASES if c[2] == "DIGEST"])
def test_digest_of_the_wrong_length_is_refused(
    keys: dict[KeySpec, bytes],
    pems: dict[KeySpec, str],
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message_type: str,
) -> None:
    pem = pems[spec]
    for size in (0, 1, algorithm.digest_size - 1, algorithm.digest_size + 1, 20, 28, 100):
        with pytest.raises(DigestLengthError, match=str(algorithm.digest_size)):
            signing.sign(spec, keys[spec], algorithm, b"\x01" * size, message_type)
        with pytest.raises(DigestLengthError):
            signing.verify(spec, pem, algorithm, b"\x01" * size, message_type, b"\x30\x00")


def test_unknown_message_type_is_refused(keys: dict[KeySpec, bytes]) -> None:
    with pytest.raises(signing.SigningError, match="RAW or DIGEST"):
        signing.sign(KeySpec.EC_P256, keys[KeySpec.EC_P256], A.ECDSA_SHA_256, MESSAGE, "raw")
    assert issubclass(DigestLengthError, signing.SigningError)
    assert issubclass(UnsupportedAlgorithmError, signing.SigningError)


MALFORMED = [
    b"",
    b"garbage",
    b"\x30\x00",
    b"\x30\x06\x02\x01\x00\x02\x01\x00",  # r = s = 0
    b"\x30\x06\x02\x01\x01\x02\x01\x01",
    b"\x00" * 64,
    b"\xff" * 72,
    b"\x00" * 256,
    b"\xff" * 512,  # larger than any modulus
    b"\x01" * 4096,
]


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), CASES)
def test_malformed_signatures_are_false_never_an_exception(
    keys: dict[KeySpec, bytes],
    pems: dict[KeySpec, str],
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message_type: str,
) -> None:
    key, pem = keys[spec], pems[spec]
    data = _input(algorithm, message_type, key)
    good = signing.sign(spec, key, algorithm, data, message_type)
    for signature in [*MALFORMED, good[:-1], good + b"\x00", good[1:], b"\x00" + good]:
        assert signing.verify(spec, pem, algorithm, data, message_type, signature) is False


def test_signature_of_another_key_is_false(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    for spec in (KeySpec.RSA_2048, KeySpec.EC_P256, KeySpec.SECP256K1, KeySpec.SM2, KeySpec.ED25519):
        algorithm = min(signing.supported_algorithms(spec))
        other = material.generate(spec)
        signature = signing.sign(spec, other, algorithm, MESSAGE, "RAW")
        assert not signing.verify(spec, pems[spec], algorithm, MESSAGE, "RAW", signature)


def test_public_key_must_fit_the_spec(keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]) -> None:
    for spec, wrong in [
        (KeySpec.RSA_3072, KeySpec.RSA_2048),
        (KeySpec.RSA_2048, KeySpec.EC_P256),
        (KeySpec.EC_P256, KeySpec.EC_P384),
        (KeySpec.EC_P384, KeySpec.RSA_2048),
        (KeySpec.EC_P256, KeySpec.SECP256K1),
        (KeySpec.SECP256K1, KeySpec.EC_P256),
        (KeySpec.ED25519, KeySpec.EC_P256),
        (KeySpec.EC_P256, KeySpec.ED25519),
        (KeySpec.SM2, KeySpec.EC_P256),
    ]:
        algorithm = min(signing.supported_algorithms(spec))
        with pytest.raises(ValueError, match="not"):
            signing.verify(spec, pems[wrong], algorithm, MESSAGE, "RAW", b"sig")


def test_material_must_fit_the_spec(keys: dict[KeySpec, bytes]) -> None:
    for spec, wrong in [
        (KeySpec.RSA_3072, KeySpec.RSA_2048),
        (KeySpec.RSA_2048, KeySpec.EC_P256),
        (KeySpec.EC_P256, KeySpec.EC_P384),
        (KeySpec.EC_P384, KeySpec.RSA_2048),
        (KeySpec.SECP256K1, KeySpec.EC_P256),
        (KeySpec.EC_P256, KeySpec.SECP256K1),
        (KeySpec.ED25519, KeySpec.EC_P256),
        (KeySpec.EC_P256, KeySpec.ED25519),
    ]:
        algorithm = min(signing.supported_algorithms(spec))
        with pytest.raises(ValueError, match="not"):
            signing.sign(spec, keys[wrong], algorithm, MESSAGE, "RAW")
    with pytest.raises(ValueError, match="96 bytes"):
        signing.sign(KeySpec.SM2, keys[KeySpec.EC_P256], A.SM2DSA_SM3, MESSAGE, "RAW")


def test_rsa_signatures_must_have_the_modulus_length(
    keys: dict[KeySpec, bytes], pems: dict[KeySpec, str]
) -> None:
    # A signature that starts with a zero byte is the same integer without it: only the canonical
    # (modulus-length) form is accepted. Sign until such a signature appears (1 in 256 per try).
    spec, algorithm = KeySpec.RSA_2048, SigningAlgorithm.RSASSA_PSS_SHA_256
    for attempt in range(4000):
        message = MESSAGE + attempt.to_bytes(4, "big")
        signature = signing.sign(spec, keys[spec], algorithm, message, "RAW")
        if signature[0] == 0:
            break
    else:
        pytest.fail("no signature with a leading zero byte in 4000 tries")
    assert signing.verify(spec, pems[spec], algorithm, message, "RAW", signature) is True
    assert signing.verify(spec, pems[spec], algorithm, message, "RAW", signature[1:]) is False
