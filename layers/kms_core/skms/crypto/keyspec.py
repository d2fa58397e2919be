"""Key specs and usages of CreateKey (spec §3 op 1) and what material each one has."""

from __future__ import annotations

import enum


class KeySpec(enum.StrEnum):
    AES_256 = "AES_256"
    SM4 = "SM4"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    EC_P256 = "EC_P256"
    EC_P384 = "EC_P384"
    SECP256K1 = "SECP256K1"
    SM2 = "SM2"
    ED25519 = "ED25519"
    HMAC_256 = "HMAC_256"
    HMAC_384 = "HMAC_384"
    HMAC_512 = "HMAC_512"
    HMAC_SM3 = "HMAC_SM3"

    @property
    def is_symmetric(self) -> bool:
        """AES/SM4 encryption keys only; HMAC keys are neither symmetric nor asymmetric here."""
        return self in SYMMETRIC_SPECS

    @property
    def is_hmac(self) -> bool:
        return self in HMAC_SPECS

    @property
    def is_rsa(self) -> bool:
        return self in (KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096)

    @property
    def is_ec(self) -> bool:
        """ECDSA / ECDH keys on a NIST or SEC curve (not SM2, not Ed25519)."""
        return self in (KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.SECP256K1)


class KeyUsage(enum.StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"


SYMMETRIC_SPECS = frozenset({KeySpec.AES_256, KeySpec.SM4})
HMAC_SPECS = frozenset({KeySpec.HMAC_256, KeySpec.HMAC_384, KeySpec.HMAC_512, KeySpec.HMAC_SM3})

# Which usages each spec may have. EC keys cannot encrypt (KMS.1114), symmetric keys cannot sign (KMS.1115),
# HMAC keys only make and check MACs (§3 op 1, GENERATE_VERIFY_MAC). KEY_AGREEMENT (ECDH, §5 op 25) is for
# the EC curves only: SM2 key agreement (GB/T 32918.3) is a protocol of its own, not plain ECDH, and no
# library here implements either, so an SM2 KEY_AGREEMENT key is refused at create-key (KMS.1110); Ed25519
# keys only sign (X25519 is another curve).
_SIGN_OR_AGREE = frozenset({KeyUsage.SIGN_VERIFY, KeyUsage.KEY_AGREEMENT})
ALLOWED_USAGES: dict[KeySpec, frozenset[KeyUsage]] = {
    KeySpec.AES_256: frozenset({KeyUsage.ENCRYPT_DECRYPT}),
    KeySpec.SM4: frozenset({KeyUsage.ENCRYPT_DECRYPT}),
    KeySpec.RSA_2048: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
    KeySpec.RSA_3072: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
    KeySpec.RSA_4096: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
    KeySpec.EC_P256: _SIGN_OR_AGREE,
    KeySpec.EC_P384: _SIGN_OR_AGREE,
    KeySpec.SECP256K1: _SIGN_OR_AGREE,
    KeySpec.SM2: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
    KeySpec.ED25519: frozenset({KeyUsage.SIGN_VERIFY}),
    KeySpec.HMAC_256: frozenset({KeyUsage.GENERATE_VERIFY_MAC}),
    KeySpec.HMAC_384: frozenset({KeyUsage.GENERATE_VERIFY_MAC}),
    KeySpec.HMAC_512: frozenset({KeyUsage.GENERATE_VERIFY_MAC}),
    KeySpec.HMAC_SM3: frozenset({KeyUsage.GENERATE_VERIFY_MAC}),
}


def default_usage(spec: KeySpec) -> KeyUsage:
    """Spec §3 op 1: ENCRYPT_DECRYPT for symmetric keys, SIGN_VERIFY for asymmetric (SECP256K1 and
    ED25519 included; KEY_AGREEMENT is never a default), GENERATE_VERIFY_MAC for HMAC keys (their only
    usage)."""
    if spec.is_hmac:
        return KeyUsage.GENERATE_VERIFY_MAC
    return KeyUsage.ENCRYPT_DECRYPT if spec.is_symmetric else KeyUsage.SIGN_VERIFY
