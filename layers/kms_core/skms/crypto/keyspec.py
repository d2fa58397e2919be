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
    SM2 = "SM2"

    @property
    def is_symmetric(self) -> bool:
        return self in SYMMETRIC_SPECS

    @property
    def is_rsa(self) -> bool:
        return self in (KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096)

    @property
    def is_ec(self) -> bool:
        return self in (KeySpec.EC_P256, KeySpec.EC_P384)


class KeyUsage(enum.StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"


SYMMETRIC_SPECS = frozenset({KeySpec.AES_256, KeySpec.SM4})

# Which usages each spec may have. EC keys cannot encrypt (KMS.1114), symmetric keys cannot sign (KMS.1115).
ALLOWED_USAGES: dict[KeySpec, frozenset[KeyUsage]] = {
    KeySpec.AES_256: frozenset({KeyUsage.ENCRYPT_DECRYPT}),
    KeySpec.SM4: frozenset({KeyUsage.ENCRYPT_DECRYPT}),
    KeySpec.RSA_2048: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
    KeySpec.RSA_3072: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
    KeySpec.RSA_4096: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
    KeySpec.EC_P256: frozenset({KeyUsage.SIGN_VERIFY}),
    KeySpec.EC_P384: frozenset({KeyUsage.SIGN_VERIFY}),
    KeySpec.SM2: frozenset({KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY}),
}


def default_usage(spec: KeySpec) -> KeyUsage:
    """Spec §3 op 1: ENCRYPT_DECRYPT for symmetric keys, SIGN_VERIFY for asymmetric."""
    return KeyUsage.ENCRYPT_DECRYPT if spec.is_symmetric else KeyUsage.SIGN_VERIFY
