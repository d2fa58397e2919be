"""Password hashes: salted scrypt, constant-time verification, parameters stored with the hash."""

from __future__ import annotations

import pytest

from skms.auth import passwords


def test_hash_verifies_only_its_password() -> None:
    stored = passwords.hash_password("correct horse")
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct horsE", stored)
    assert not passwords.verify_password("", stored)


def test_hashes_are_salted_and_do_not_contain_the_password() -> None:
    first, second = passwords.hash_password("pw-123456"), passwords.hash_password("pw-123456")
    assert first != second
    assert "pw-123456" not in first
    assert first.startswith("scrypt$32768$8$1$")


@pytest.mark.parametrize("stored", ["", "md5$x", "scrypt$1$2$3$!!$!!", "scrypt$a$b$c$d$e"])
def test_malformed_stored_hashes_never_verify(stored: str) -> None:
    assert not passwords.verify_password("anything", stored)


@pytest.mark.parametrize("password", ["", "x" * 1025])
def test_empty_or_huge_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValueError):
        passwords.hash_password(password)
