"""A bytes holder that cannot be printed, logged or pickled by accident."""

from __future__ import annotations

import hmac
from typing import NoReturn


class SecretBytes:
    """Wraps secret bytes. ``repr``/``str`` are redacted; compare in constant time."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes | bytearray) -> None:
        self._value = bytes(value)  # a copy: a mutable source changed later does not change the secret

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretBytes(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretBytes):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        raise TypeError("SecretBytes is not hashable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("SecretBytes cannot be pickled")
