"""Errors of the crypto core."""


class CryptoError(Exception):
    """Opaque failure of any unwrap, decrypt or parse of a protected blob.

    It deliberately says nothing about *why* (wrong key, wrong context, tampering, truncation),
    so that callers cannot be used as an oracle.
    """

    def __init__(self) -> None:
        super().__init__("decryption failed")
