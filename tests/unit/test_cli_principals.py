"""The credential lifecycle through ``skms.cli.main``: JSON on stdout, a message on stderr and a
non-zero exit on failure, on a local store (a data dir of the test's own)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from skms.cli import main
from skms.config import Settings
from skms.runtime import build_services

DOMAIN_A, DOMAIN_B = "a" * 32, "b" * 32
PROJECT_1, PROJECT_2 = "1" * 32, "2" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("KMS_", "HUAWEICLOUD_SDK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KMS_DOMAIN_ID", DOMAIN_A)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class Cli:
    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.data_dir, self.capsys, self.monkeypatch = data_dir, capsys, monkeypatch

    def run(self, *args: str, stdin: str = "") -> tuple[int, Any, str]:
        """(exit code, the JSON printed or None, stderr)."""
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main([*args, "--data-dir", str(self.data_dir)])
        out, err = self.capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    def ok(self, *args: str, stdin: str = "") -> Any:
        code, document, err = self.run(*args, stdin=stdin)
        assert code == 0, err
        return document


@pytest.fixture
def cli(data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(data_dir, capsys, monkeypatch)


def _store(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KMS_DATA_DIR", str(data_dir))
    return build_services(Settings.from_env())


def test_user_create_prints_the_user_and_its_access_key_carries_its_id(cli: Cli) -> None:
    # When a user is made with two projects and a system policy
    user = cli.ok(
        "user",
        "create",
        "--name",
        "alice",
        "--project-id",
        PROJECT_1,
        "--project-id",
        PROJECT_2,
        "--policy",
        "KMS Administrator",
        stdin="pw-of-alice\n",
    )
    # Then it has a 32-hex id, the default domain (KMS_DOMAIN_ID), its projects and policy
    assert len(user["user_id"]) == 32
    assert int(user["user_id"], 16) >= 0
    assert (user["name"], user["domain_id"]) == ("alice", DOMAIN_A)
    assert user["project_ids"] == [PROJECT_1, PROJECT_2]
    assert user["policies"] == ["KMS Administrator"]
    assert "password_hash" not in user
    assert "pw-of-alice" not in json.dumps(user)
    # When an access key of the user is made, Then it names the user and the user's projects
    key = cli.ok("access-key", "create", "--user", "alice")
    assert key["user_id"] == user["user_id"]
    assert (key["domain_id"], key["project_ids"]) == (DOMAIN_A, [PROJECT_1, PROJECT_2])
    assert len(key["access"]) == 20
    assert len(key["secret"]) == 40
    # And listings show both, never a secret or a hash
    listed = cli.ok("access-key", "list")
    assert [k["access"] for k in listed["access_keys"]] == [key["access"]]
    assert key["secret"] not in json.dumps(listed)
    users = cli.ok("user", "list")["users"]
    assert [u["name"] for u in users] == ["alice"]
    assert "scrypt" not in json.dumps(users)


def test_a_project_of_another_domain_is_refused_never_shared(cli: Cli) -> None:
    # Given project 1 claimed by domain A (an account key)
    cli.ok("access-key", "create", "--project-id", PROJECT_1)
    # When domain B makes a user or an account key on it, Then it is refused: message, exit 1
    code, out, err = cli.run(
        "user", "create", "--name", "bob", "--project-id", PROJECT_1, "--domain-id", DOMAIN_B, stdin="pw\n"
    )
    assert (code, out) == (1, None)
    assert "belongs to another domain" in err
    assert DOMAIN_A not in err
    code, out, err = cli.run("access-key", "create", "--project-id", PROJECT_1, "--domain-id", DOMAIN_B)
    assert (code, out) == (1, None)
    assert "another domain" in err
    code, _, err = cli.run("project", "claim", "--project-id", PROJECT_1, "--domain-id", DOMAIN_B)
    assert code == 1
    # And a command refused for one of its projects claims none of them
    code, _, _ = cli.run(
        "user",
        "create",
        "--name",
        "bob",
        "--project-id",
        PROJECT_2,
        "--project-id",
        PROJECT_1,
        "--domain-id",
        DOMAIN_B,
        stdin="pw\n",
    )
    assert code == 1
    assert cli.ok("project", "claim", "--project-id", PROJECT_2)["domain_id"] == DOMAIN_A
    # And domain B's user list is empty (bob was never made)
    assert cli.ok("user", "list", "--domain-id", DOMAIN_B)["users"] == []


def test_duplicate_user_name_is_refused_in_its_domain_only(cli: Cli) -> None:
    cli.ok("user", "create", "--name", "alice", "--project-id", PROJECT_1, stdin="pw\n")
    code, out, err = cli.run("user", "create", "--name", "alice", "--project-id", PROJECT_1, stdin="pw2\n")
    assert (code, out) == (1, None)
    assert "alice already exists" in err
    # The same name in another domain (on its own project) is another user
    cli.ok(
        "user", "create", "--name", "alice", "--project-id", PROJECT_2, "--domain-id", DOMAIN_B, stdin="pw\n"
    )


def test_unknown_policy_is_refused(cli: Cli) -> None:
    code, out, err = cli.run(
        "user",
        "create",
        "--name",
        "alice",
        "--project-id",
        PROJECT_1,
        "--policy",
        "KMS Nothing",
        stdin="pw\n",
    )
    assert (code, out) == (1, None)
    assert "no policy KMS Nothing" in err
    cli.ok("user", "create", "--name", "alice", "--project-id", PROJECT_1, stdin="pw\n")
    code, _, err = cli.run("policy", "attach", "--user", "alice", "--policy", "missing")
    assert code == 1
    assert "no policy missing" in err


def test_malformed_policy_document_names_the_statement(cli: Cli, tmp_path: Path) -> None:
    # Given a document whose second statement has an unknown action
    document = tmp_path / "bad.json"
    document.write_text(
        json.dumps(
            {
                "Version": "1.1",
                "Statement": [
                    {"Effect": "Allow", "Action": ["kms:cmk:list"]},
                    {"Effect": "Allow", "Action": ["kms:cmk:teleport"]},
                ],
            }
        )
    )
    code, out, err = cli.run("policy", "create", "--name", "bad", "--document", str(document))
    assert (code, out) == (1, None)

    assert "kms:cmk:teleport" in err
    # An unknown condition operator is an error too, and not JSON at all is refused
    document.write_text(
        json.dumps(
            {
                "Version": "5.0",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kms:cmk:list"],
                        "Resource": ["*"],
                        "Condition": {"StringSortOfEquals": {"kms:KeySpec": ["AES_256"]}},
                    }
                ],
            }
        )
    )
    code, _, err = cli.run("policy", "create", "--name", "bad", "--document", str(document))
    assert code == 1
    assert "StringSortOfEquals" in err
    document.write_text("{not json")
    code, _, err = cli.run("policy", "create", "--name", "bad", "--document", str(document))
    assert code == 1
    assert "not JSON" in err
    assert cli.ok("policy", "list")["custom"] == []


def test_policy_create_attach_detach(
    cli: Cli, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = tmp_path / "ro.json"
    document.write_text(
        json.dumps({"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:cmk:list"]}]})
    )
    created = cli.ok("policy", "create", "--name", "read-only", "--document", str(document))
    assert created["name"] == "read-only"
    assert len(created["policy_id"]) == 32
    code, _, err = cli.run("policy", "create", "--name", "read-only", "--document", str(document))
    assert code == 1
    assert "already exists" in err
    cli.ok("user", "create", "--name", "alice", "--project-id", PROJECT_1, stdin="pw\n")
    assert cli.ok("policy", "attach", "--user", "alice", "--policy", "read-only")["policies"] == ["read-only"]
    attached = cli.ok("policy", "attach", "--user", "alice", "--policy", "KMS CMKReadOnlyAccess")
    assert attached["policies"] == ["read-only", "KMS CMKReadOnlyAccess"]
    # The policy source sees both, parsed
    services = _store(data_dir, monkeypatch)
    assert services.policies is not None
    assert len(services.policies.policies_of(DOMAIN_A, attached["user_id"])) == 2
    detached = cli.ok("policy", "detach", "--user", "alice", "--policy", "read-only")
    assert detached["policies"] == ["KMS CMKReadOnlyAccess"]
    code, _, err = cli.run("policy", "detach", "--user", "alice", "--policy", "read-only")
    assert code == 1
    assert "not attached" in err


def test_access_key_and_user_lifecycle(cli: Cli, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = cli.ok("user", "create", "--name", "alice", "--project-id", PROJECT_1, stdin="pw\n")
    key = cli.ok("access-key", "create", "--user", "alice")
    # disable / enable an access key
    assert cli.ok("access-key", "disable", "--access", key["access"])["enabled"] is False
    assert cli.ok("access-key", "enable", "--access", key["access"])["enabled"] is True
    # disable / enable a user, set its projects and password
    assert cli.ok("user", "disable", "--name", "alice")["enabled"] is False
    assert cli.ok("user", "enable", "--name", "alice")["enabled"] is True
    moved = cli.ok("user", "set-projects", "--name", "alice", "--project-id", PROJECT_2)
    assert moved["project_ids"] == [PROJECT_2]
    cli.ok("user", "set-password", "--name", "alice", stdin="new-pw\n")
    services = _store(data_dir, monkeypatch)
    stored = services.stores.principals.get_user_by_id(DOMAIN_A, user["user_id"])
    assert stored is not None
    # disable, set-projects and set-password each moved the token epoch: earlier tokens are void
    assert stored.token_epoch == 3
    from skms.auth.principals import authenticate_user

    assert authenticate_user(services, domain_name=DOMAIN_A, name="alice", password="new-pw") is not None
    services.stores.close()
    # delete the user: its access keys go with it
    assert cli.ok("user", "delete", "--name", "alice")["deleted"] is True
    assert cli.ok("access-key", "list")["access_keys"] == []
    code, _, err = cli.run("user", "disable", "--name", "alice")
    assert code == 1
    assert "no user alice" in err
    code, _, err = cli.run("access-key", "delete", "--access", key["access"])
    assert code == 1
    assert "no access key" in err


def test_password_is_required_on_stdin(cli: Cli) -> None:
    code, out, err = cli.run("user", "create", "--name", "alice", "--project-id", PROJECT_1, stdin="")
    assert (code, out) == (2, None)
    assert "standard input" in err


def test_an_account_key_needs_a_project_and_a_user_key_takes_the_users(cli: Cli) -> None:
    code, _, err = cli.run("access-key", "create")
    assert code == 2
    assert "--project-id" in err
    cli.ok("user", "create", "--name", "alice", "--project-id", PROJECT_1, stdin="pw\n")
    code, _, err = cli.run("access-key", "create", "--user", "alice", "--project-id", PROJECT_2)
    assert code == 2
    code, _, err = cli.run("access-key", "create", "--user", "nobody")
    assert code == 1
    assert "no user nobody" in err
    account = cli.ok("access-key", "create", "--project-id", PROJECT_2)
    assert (account["user_id"], account["project_id"]) == ("", PROJECT_2)


def test_token_key_rotate(cli: Cli, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skms.auth.principals import current_token_key, token_key_of

    services = _store(data_dir, monkeypatch)
    first, key_1 = current_token_key(services)
    services.stores.close()
    assert first == 1
    assert cli.ok("token-key", "rotate") == {"token_key": 2}
    services = _store(data_dir, monkeypatch)
    current, key_2 = current_token_key(services)
    assert current == 2
    assert key_2 != key_1
    assert token_key_of(services, 1) == key_1  # the previous key still verifies
    services.stores.close()
    assert cli.ok("token-key", "rotate") == {"token_key": 3}
    services = _store(data_dir, monkeypatch)
    assert token_key_of(services, 1) is None  # two back: no longer
    assert token_key_of(services, 2) == key_2
    services.stores.close()
