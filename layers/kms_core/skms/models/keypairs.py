"""Wire models of spec §4 ops 17 (create-rsa-datakey-pair) and 18 (create-ec-datakey-pair).

- ``key_spec`` is required and limited to the op's own list; another value is KMS.1110 (invalid
  algorithm type), the code create-key gives a bad key_spec.
- ``with_plain_text`` is a JSON boolean (default true; JSON null counts as absent). A string such as
  ``"false"`` is refused (KMS.0308) rather than read as true, as the SDK's ``bool()`` would.
- ``additional_authenticated_data`` (and our ``encryption_context``, §F5) are bound into
  ``private_key_cipher_text``; decrypt-data needs the same values again.
- ``pin`` / ``pin_type`` (op 18, level-4 HSM deployments only) are accepted and ignored, as the spec
  allows a generic server to, and as create-datakey does.
- The response never carries ``wrapped_private_key`` or ``ciphertext_recipient`` (we take no caller
  wrapping key and no enclave recipient), so ``private_key_plain_text`` is the only one of the three
  that may be set. It is secret: a :class:`SecretStr`, revealed only when the body is rendered.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, field_serializer

from skms import errors
from skms.models.base import KEY_REF_PATTERN, ContextMixin, SequenceMixin

RsaPairSpec = Literal["RSA_2048", "RSA_3072", "RSA_4096"]
EcPairSpec = Literal["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SM2"]


class _DatakeyPairRequestBody(ContextMixin, SequenceMixin):
    key_id: str = Field(pattern=KEY_REF_PATTERN)
    with_plain_text: bool | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "key_spec": errors.InvalidAlgorithm,
    }

    @property
    def plain_text_wanted(self) -> bool:
        return self.with_plain_text is not False


class CreateRsaDatakeyPairRequestBody(_DatakeyPairRequestBody):
    key_spec: RsaPairSpec


class CreateEcDatakeyPairRequestBody(_DatakeyPairRequestBody):
    key_spec: EcPairSpec
    pin: str | None = None
    pin_type: str | None = None


class DatakeyPairResponseBody(BaseModel):
    """Ops 17 and 18 answer the same fields (the SDK's two response models are identical).

    ``public_key`` is Base64 of DER SubjectPublicKeyInfo; ``private_key_plain_text`` Base64 of DER
    PKCS#8; ``private_key_cipher_text`` an encrypt-data ciphertext (§F5 Base64) of that DER.
    """

    key_id: str
    key_spec: str
    public_key: str
    private_key_cipher_text: str
    private_key_plain_text: SecretStr | None = None

    @field_serializer("private_key_plain_text", when_used="json-unless-none")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()


class CreateRsaDatakeyPairResponseBody(DatakeyPairResponseBody):
    pass


class CreateEcDatakeyPairResponseBody(DatakeyPairResponseBody):
    pass
