"""The crypto core: small, pure functions and classes over bytes.

No boto3, Powertools or pydantic may be imported here (tests/unit/test_layering.py checks it).
Every decrypt path fails with the one opaque :class:`CryptoError`.
"""

from skms.crypto.errors import CryptoError

__all__ = ["CryptoError"]
