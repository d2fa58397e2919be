"""The token endpoint's lockout under concurrent guesses, on SQLite (a store whose increments are
really atomic; moto's DynamoDB fake is not thread-safe, see tests/contract/conftest.py)."""

from __future__ import annotations

import threading

import pytest

from skms import errors
from skms.auth import passwords
from skms.auth.principals import create_user
from skms.caller import Caller
from skms.logic.tokens import create_token
from skms.models.tokens import CreateTokenRequestBody
from skms.runtime import Services

PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"


def _body(password: str) -> CreateTokenRequestBody:
    return CreateTokenRequestBody.model_validate(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "alice", "password": password, "domain": {"name": "dom"}}},
                },
                "scope": {"project": {"id": PROJECT}},
            }
        }
    )


def test_concurrent_guesses_get_at_most_the_limit_of_password_checks(
    services: Services, caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user, and a count of every password check
    create_user(
        services,
        name="alice",
        password="the-right-one",
        domain_id="d" * 32,
        domain_name="dom",
        project_ids=(PROJECT,),
    )
    limit = services.settings.login_max_failures
    checked: list[str] = []
    real_verify = passwords.verify_password

    def counting_verify(password: str, stored: str) -> bool:
        checked.append("scrypt")
        return real_verify(password, stored)

    monkeypatch.setattr(passwords, "verify_password", counting_verify)
    guesses = 4 * limit
    barrier = threading.Barrier(guesses)
    refused: list[str] = []

    def guess() -> None:
        body = _body("wrong")
        barrier.wait()
        try:
            create_token(body, caller, services)
        except errors.IamUnauthorized as exc:
            refused.append(exc.message)

    # When 4 x the limit of wrong guesses arrive at once
    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then all are refused, and exactly `limit` of them had their password checked
    assert len(refused) == guesses
    assert len(checked) == limit
    # And the right password is refused too until the window ends
    with pytest.raises(errors.IamUnauthorized):
        create_token(_body("the-right-one"), caller, services)
    assert len(checked) == limit
