"""Wire models: every bad field maps to its §F2 error, and secrets do not print."""

from __future__ import annotations

from typing import Any

import pytest

from skms import errors
from skms.models.base import parse_body
from skms.models.datakeys import (
    CreateDatakeyRequestBody,
    CreateDatakeyResponseBody,
    DecryptDatakeyRequestBody,
)
from skms.models.keys import CreateKeyRequestBody

KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"


@pytest.mark.parametrize(
    ("model", "body", "code"),
    [
        (CreateKeyRequestBody, [], "KMS.0202"),
        (CreateKeyRequestBody, "x", "KMS.0202"),
        (CreateKeyRequestBody, {}, "KMS.0204"),
        (CreateKeyRequestBody, {"key_alias": ""}, "KMS.1101"),
        (CreateKeyRequestBody, {"key_alias": "a b"}, "KMS.1101"),
        (CreateKeyRequestBody, {"key_alias": "a" * 256}, "KMS.1101"),
        (CreateKeyRequestBody, {"key_alias": 5}, "KMS.1101"),
        (CreateKeyRequestBody, {"key_alias": "k", "key_description": "d" * 256}, "KMS.1103"),
        (CreateKeyRequestBody, {"key_alias": "k", "key_spec": 1}, "KMS.1110"),
        (CreateKeyRequestBody, {"key_alias": "k", "sequence": "s" * 37}, "KMS.0206"),
        (CreateKeyRequestBody, {"key_alias": "k", "origin": ["kms"]}, "KMS.0308"),
        (CreateDatakeyRequestBody, {}, "KMS.0204"),
        (CreateDatakeyRequestBody, {"key_id": "not-a-key"}, "KMS.0205"),
        (CreateDatakeyRequestBody, {"key_id": KEY_ID.upper()}, "KMS.0205"),
        (CreateDatakeyRequestBody, {"key_id": KEY_ID, "datakey_length": 512}, "KMS.1901"),
        (CreateDatakeyRequestBody, {"key_id": KEY_ID, "encryption_context": {"a": 1}}, "KMS.0208"),
        (CreateDatakeyRequestBody, {"key_id": KEY_ID, "encryption_context": ["a"]}, "KMS.0208"),
        (CreateDatakeyRequestBody, {"key_id": KEY_ID, "encryption_context": {"k": "v" * 8200}}, "KMS.0208"),
        (CreateDatakeyRequestBody, {"key_id": KEY_ID, "additional_authenticated_data": "é" * 65}, "KMS.0308"),
        (DecryptDatakeyRequestBody, {"key_id": KEY_ID, "datakey_cipher_length": "64"}, "KMS.0204"),
        (
            DecryptDatakeyRequestBody,
            {"key_id": KEY_ID, "cipher_text": "zz", "datakey_cipher_length": "64"},
            "KMS.2201",
        ),
        (
            DecryptDatakeyRequestBody,
            {"key_id": KEY_ID, "cipher_text": "00", "datakey_cipher_length": "x"},
            "KMS.2202",
        ),
        (
            DecryptDatakeyRequestBody,
            {"key_id": KEY_ID, "cipher_text": "00", "datakey_cipher_length": 64},
            "KMS.2202",
        ),
    ],
)
def test_bad_input_maps_to_its_kms_code(model: Any, body: Any, code: str) -> None:
    with pytest.raises(errors.KmsError) as caught:
        parse_body(model, body)
    assert caught.value.code == code
    assert caught.value.status == 400


def test_unknown_fields_are_ignored_and_numbers_stay_strings() -> None:
    parsed = parse_body(CreateDatakeyRequestBody, {"key_id": KEY_ID, "datakey_length": "512", "extra": 1})
    assert parsed.datakey_length == "512"


def test_error_messages_do_not_echo_the_input() -> None:
    secret = "S3CR3T-VALUE-" + "x" * 300
    with pytest.raises(errors.KmsError) as caught:
        parse_body(CreateKeyRequestBody, {"key_alias": secret})
    assert "S3CR3T" not in caught.value.message


def test_plain_text_is_redacted_in_repr_and_revealed_on_the_wire() -> None:
    reply = CreateDatakeyResponseBody(key_id=KEY_ID, plain_text="ABCDEF0123", cipher_text="02")
    assert "ABCDEF0123" not in repr(reply)
    assert "ABCDEF0123" not in str(reply)
    assert reply.model_dump(mode="json")["plain_text"] == "ABCDEF0123"
