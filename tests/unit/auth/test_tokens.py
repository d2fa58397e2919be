"""X-Auth-Token tokens: tamper-evident, expiring, bound to one domain and project."""

from __future__ import annotations

import os

import pytest

from skms.auth import tokens

KEY = bytes(range(32))
NOW = 1_800_000_000


def _issue() -> str:
    token, _ = tokens.issue(KEY, domain_id="dom", project_id="proj", user="alice", now=NOW)
    return token


def test_a_token_verifies_and_names_its_principal() -> None:
    claims = tokens.verify(KEY, _issue(), now=NOW + 60)
    assert (claims.domain_id, claims.project_id, claims.user) == ("dom", "proj", "alice")
    assert claims.expires_at - claims.issued_at == 24 * 3600


def test_tokens_are_unique() -> None:
    assert _issue() != _issue()


def test_a_token_expires_after_24_hours() -> None:
    token = _issue()
    tokens.verify(KEY, token, now=NOW + 24 * 3600 - 1)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(KEY, token, now=NOW + 24 * 3600)


def test_every_single_character_change_is_rejected() -> None:
    token = _issue()
    for index, char in enumerate(token):
        if char == ".":
            continue
        for replacement in {"A", "B", "-", "_"} - {char}:
            altered = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(tokens.TokenError):
                tokens.verify(KEY, altered, now=NOW)


def test_a_token_of_another_key_is_rejected() -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify(os.urandom(32), _issue(), now=NOW)


@pytest.mark.parametrize(
    "text", ["", "abc", "skms1..", "skms1.a.b.c", "jwt.a.b", "skms1." + "a" * 5000 + ".b"]
)
def test_garbage_is_rejected(text: str) -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify(KEY, text, now=NOW)


@pytest.mark.parametrize("text", ["skms1.\xe9.AAAA", "skms1.e30.\u0661\u0662", "ｓｋｍｓ1.a.b"])
def test_non_ascii_tokens_are_invalid_not_errors(text: str) -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify(KEY, text, now=NOW)


def test_a_token_carries_the_user_id_epoch_and_key_number() -> None:
    token, _ = tokens.issue(
        KEY, domain_id="dom", project_id="proj", user="alice", user_id="u" * 32, epoch=7, key_id=3, now=NOW
    )
    assert token.startswith("skms2.3.")
    claims = tokens.verify(lambda key_id: KEY if key_id == 3 else None, token, now=NOW)
    assert (claims.user_id, claims.epoch, claims.key_id, claims.domain_name) == ("u" * 32, 7, 3, "dom")


def test_a_token_of_a_key_no_longer_accepted_is_rejected() -> None:
    token, _ = tokens.issue(KEY, domain_id="dom", project_id="proj", user="alice", key_id=2, now=NOW)
    # The lookup knows key 2 no more (rotated twice): refused, even though the MAC would match
    with pytest.raises(tokens.TokenError):
        tokens.verify(lambda key_id: None, token, now=NOW)
    # And the key number is part of what is signed: the same token under another number fails
    relabelled = token.replace("skms2.2.", "skms2.1.", 1)
    with pytest.raises(tokens.TokenError):
        tokens.verify(lambda key_id: KEY, relabelled, now=NOW)
