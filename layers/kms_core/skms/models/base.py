"""Shared model machinery: strict wire models and validation-error mapping to §F2 codes."""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from skms import errors

# Spec shorthands (top of spec/huawei-kms-api.md)
KEY_ID_PATTERN = r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$"
ALIAS_PATTERN = r"^[a-zA-Z0-9:/_-]{1,255}$"  # a key's own key_alias (ops 1 and 8)

# Alias objects (ops 39-42): the rules chosen for access-control.md §4 and its open question 10,
# in one place (README, Aliases).
# - The prefix ``alias/`` is mandatory (Terraform's rule), so an alias can never be mistaken for a
#   key id, nor for a service default key's ``<service>/default``.
# - The characters and length are key_alias's (`^[a-zA-Z0-9:/_-]{1,255}$`) on the whole name:
#   ``alias/`` and 1-249 more characters. Names are case-sensitive.
# - The ``/default`` suffix stays reserved for service default keys (KMS.1101).
# - Wherever a cryptographic operation takes a key id, ``alias/...`` names the key the alias
#   points at now (:func:`skms.logic.gate.resolve`); other operations refuse it (KMS.0205).
ALIAS_PREFIX = "alias/"
ALIAS_NAME_PATTERN = r"^alias/[a-zA-Z0-9:/_-]{1,249}$"
RESERVED_ALIAS_SUFFIX = "/default"


def key_ref_pattern(key_id_pattern: str = KEY_ID_PATTERN) -> str:
    """A key id (as ``key_id_pattern`` says) or an alias name: what crypto operations take."""
    return rf"^(?:{key_id_pattern[1:-1]}|{ALIAS_NAME_PATTERN[1:-1]})$"


KEY_REF_PATTERN = key_ref_pattern()


def is_alias_name(key_ref: str) -> bool:
    """Whether a key reference is an alias name rather than a key id."""
    return key_ref.startswith(ALIAS_PREFIX)


SEQUENCE_MAX = 36
AAD_MAX_BYTES = 128
CONTEXT_MAX_CHARS = 8192
CONTEXT_MAX_PAIRS = 1024  # skms.crypto.encoding.MAX_CONTEXT_PAIRS


class WireModel(BaseModel):
    """Base of every request body. Unknown fields are ignored, as Huawei's gateway does."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, hide_input_in_errors=True)

    # Field name -> error class for a present-but-invalid value. Missing fields are KMS.0204.
    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {}


class SequenceMixin(WireModel):
    sequence: str | None = None

    @field_validator("sequence")
    @classmethod
    def _check_sequence(cls, value: str | None) -> str | None:
        # §3 SEQ: a 36-byte request serial number.
        if value is not None and len(value.encode("utf-8")) > SEQUENCE_MAX:
            raise errors.InvalidSequence("sequence must be at most 36 bytes.")
        return value


class ContextMixin(WireModel):
    """The two ways of binding context into a ciphertext (§F5)."""

    encryption_context: dict[str, str] | None = None
    additional_authenticated_data: str | None = None

    @field_validator("encryption_context", mode="before")
    @classmethod
    def _check_context(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise errors.InvalidEncryptionContext("encryption_context must be an object of string pairs.")
        if len(value) > CONTEXT_MAX_PAIRS:
            raise errors.InvalidEncryptionContext(
                f"encryption_context has more than {CONTEXT_MAX_PAIRS} pairs."
            )
        try:
            serialised = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            serialised.encode("utf-8")
        except UnicodeEncodeError:
            raise errors.InvalidEncryptionContext("encryption_context must be valid Unicode text.") from None
        if len(serialised) > CONTEXT_MAX_CHARS:
            raise errors.InvalidEncryptionContext("encryption_context must be at most 8192 characters.")
        return value

    @field_validator("additional_authenticated_data")
    @classmethod
    def _check_aad(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode("utf-8")) > AAD_MAX_BYTES:
            raise errors.InvalidParameter("additional_authenticated_data must be at most 128 bytes.")
        return value

    def aad_bytes(self) -> bytes:
        return (self.additional_authenticated_data or "").encode("utf-8")


M = TypeVar("M", bound=WireModel)


def parse_body(model: type[M], raw: Any) -> M:
    """Validate a decoded JSON body into ``model`` or raise the §F2 error for the first problem."""
    if not isinstance(raw, dict):
        raise errors.InvalidJsonBody("The request body must be a JSON object.")
    try:
        # model.model_validate(raw), without its wrapper: passing on its keyword arguments, all
        # None, costs more than the validation of a small body.
        body: M = model.__pydantic_validator__.validate_python(raw)
        return body
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if first["type"] == "missing":
            raise errors.MissingParameter(f"Missing required parameter: {field}.") from None
        error_class = model.FIELD_ERRORS.get(field, errors.InvalidParameter)
        raise error_class(f"Invalid parameter {field}: {first['msg']}.") from None
