"""``SqliteDatabase.check_integrity`` and ``skms check``: a sound store passes, and each kind of damage
is found (so the crash-safety test's final check can fail)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from skms.cli import main
from skms.crypto.keyspec import KeySpec
from skms.domain import AccessKeyRecord, AliasRecord, KeyRecord, KeyState, UserRecord
from skms.storage.sqlite import open_database, open_stores
from tests.support.records import key_record

PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
STATES = [KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_DELETION, KeyState.ENABLED]


def _record(**changes: object) -> KeyRecord:
    return key_record(PROJECT_ID, **changes)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir whose store holds keys in several states, a tombstone, SM4 keys, principals and
    aliases."""
    stores = open_stores(tmp_path / "kms.sqlite3")
    store = stores.keys
    for index, state in enumerate(STATES):
        record = _record(key_spec=KeySpec.SM4 if index % 2 else KeySpec.AES_256)
        store.create_key(record)
        changed = record.replace(
            key_state=state,
            scheduled_deletion_date=1_800_000_000_000 if state is KeyState.PENDING_DELETION else None,
        )
        store.update_key(changed, record.revision)
    tombstone = _record()
    store.create_key(tombstone)
    store.update_key(
        tombstone.replace(deleted_at=1_750_000_000_000, versions=tombstone.versions.erased()),
        tombstone.revision,
    )
    stores.principals.create_access_key(
        AccessKeyRecord("AKINTEGRITYTEST00001", b"wrapped", "d" * 32, (PROJECT_ID,))
    )
    stores.principals.create_user(
        UserRecord("u-1", "alice", "d" * 32, "example", "scrypt$hash", (PROJECT_ID,))
    )
    stores.service_state.get_or_create_secret("token-key", b"wrapped token key")
    stores.service_state.add_login_failure("example", "alice", 1, 2_000_000_000)
    for name in ("alias/one", "alias/two"):
        stores.aliases.create_alias(
            AliasRecord("d" * 32, name, tombstone.key_id, PROJECT_ID, 1_700_000_000_000, 1_700_000_000_000)
        )
    stores.close()
    return tmp_path


def _check(data_dir: Path) -> list[str]:
    database = open_database(data_dir / "kms.sqlite3", setup_schema=False)
    try:
        return database.check_integrity()
    finally:
        database.close()


def _damage(data_dir: Path, *statements: str) -> None:
    """Write behind the adapter's back, as a bug or a torn write would."""
    conn = sqlite3.connect(data_dir / "kms.sqlite3", isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def _cli_check(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["check", "--data-dir", str(data_dir)])
    return code, json.loads(capsys.readouterr().out)


def test_a_sound_store_has_no_problem(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _check(data_dir) == []
    code, report = _cli_check(data_dir, capsys)
    assert (code, report["ok"], report["problems"]) == (0, True, [])


def test_the_login_failure_counters_a_crash_or_an_older_version_leaves_are_sound(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token request counts the attempt, checks the password, then takes the attempt back if it
    was right (skms/logic/tokens.py). A SIGKILL between the count and the take-back leaves the
    attempt counted; a version before the take-back deleted counters at 0 left them at 0."""
    stores = open_stores(data_dir / "kms.sqlite3")
    state = stores.service_state
    # Given a successful login that completed (count, then take-back)
    state.add_login_failure("example", "bob", 7, 2_000_000_000)
    state.add_login_failure("example", "bob", 7, 2_000_000_000, delta=-1)
    # And one that a SIGKILL cut after its count: nothing more is written for it
    state.add_login_failure("example", "carol", 7, 2_000_000_000)
    # And a take-back that found no counter (its window forgotten in between)
    state.add_login_failure("example", "dave", 7, 2_000_000_000, delta=-1)
    stores.close()
    # And a counter left at 0 by the previous version's take-back
    _damage(
        data_dir,
        "INSERT INTO principals VALUES ('login-failures', 'old#7',"
        " json_object('count', 0, 'expires_at', 2000000000))",
    )
    # Then the completed login and the take-back of nothing left no counter, the cut one left 1
    conn = sqlite3.connect(data_dir / "kms.sqlite3")
    try:
        counts = dict(
            conn.execute(
                "SELECT id, json_extract(body, '$.count') FROM principals WHERE kind = 'login-failures'"
            ).fetchall()
        )
    finally:
        conn.close()
    assert sorted(counts.values()) == [0, 1, 1], counts  # old#7, alice's fixture, carol's cut login
    # And skms check finds the store sound
    code, report = _cli_check(data_dir, capsys)
    assert (code, report["ok"], report["problems"]) == (0, True, [])


def test_a_corrupted_count_row_is_found(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a key_counts row one above the real number of enabled AES_256 keys
    _damage(data_dir, "UPDATE key_counts SET n = n + 1 WHERE key_spec = 'AES_256' AND key_state = '2'")
    # Then the check names that group
    problems = _check(data_dir)
    assert problems == [f"key_counts {PROJECT_ID}/AES_256/2/0: stored 2, counted 1"], problems
    # And skms check prints it and exits 1
    code, report = _cli_check(data_dir, capsys)
    assert (code, report["ok"], report["problems"]) == (1, False, problems)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        pytest.param("DELETE FROM key_counts WHERE key_spec = 'SM4'", "key_counts", id="count-row-lost"),
        pytest.param(
            "INSERT INTO key_counts VALUES ('p', 'AES_256', '2', '0', 1)",
            "stored 1, counted 0",
            id="extra-count",
        ),
        pytest.param(
            "UPDATE keys SET key_state = '3' WHERE seq = 1", "column key_state differs", id="column"
        ),
        pytest.param(
            "UPDATE keys SET key_alias = 'moved' WHERE seq = 1", "column key_alias differs", id="alias"
        ),
        pytest.param("UPDATE keys SET deleted = 0 WHERE seq = 5", "column deleted differs", id="tombstone"),
        pytest.param("UPDATE keys SET record = '{}' WHERE seq = 2", "does not decode", id="record"),
        pytest.param(
            "UPDATE keys SET record = json_set(record, '$.key_state', '9') WHERE seq = 2",
            "does not decode",
            id="state",
        ),
        pytest.param(
            "UPDATE sqlite_sequence SET seq = 1 WHERE name = 'keys'", "sqlite_sequence", id="sequence"
        ),
        pytest.param("DROP TRIGGER key_counts_update_new", "trigger key_counts_update_new", id="trigger"),
        pytest.param("DROP INDEX keys_due", "index keys_due is missing", id="index"),
        pytest.param(
            "UPDATE principals SET id = 'OTHER' WHERE kind = 'access_key'", "id differs", id="ak-id"
        ),
        pytest.param("UPDATE principals SET body = '{' WHERE kind = 'user'", "does not decode", id="user"),
        pytest.param(
            "UPDATE principals SET body = '{}' WHERE kind = 'secret'", "does not decode", id="secret"
        ),
        pytest.param("INSERT INTO principals VALUES ('bogus', 'x', '{}')", "unknown kind", id="kind"),
        pytest.param(
            "UPDATE principals SET body = json_set(body, '$.count', -1) WHERE kind = 'login-failures'",
            "a negative failure counter",
            id="login-failures-negative",
        ),
        pytest.param("DROP TABLE aliases", "table aliases is missing", id="alias-table"),
        pytest.param("DROP INDEX aliases_key", "index aliases_key is missing", id="alias-index"),
        pytest.param(
            "UPDATE aliases SET key_id = 'no-such-key' WHERE alias = 'alias/one'",
            "its key no-such-key is no key of its project",
            id="alias-dangling",
        ),
        pytest.param(
            "UPDATE aliases SET project_id = 'other' WHERE alias = 'alias/one'",
            "is no key of its project",
            id="alias-project",
        ),
        pytest.param(
            "UPDATE aliases SET update_time = 0 WHERE alias = 'alias/two'",
            "updated before it was created",
            id="alias-times",
        ),
    ],
)
def test_each_kind_of_damage_is_found(data_dir: Path, statement: str, expected: str) -> None:
    _damage(data_dir, statement)
    problems = _check(data_dir)
    assert any(expected in problem for problem in problems), problems


def test_checking_repairs_nothing(data_dir: Path) -> None:
    # Given a store that lost a trigger
    _damage(data_dir, "DROP TRIGGER key_counts_insert")
    # When it is checked twice
    first, second = _check(data_dir), _check(data_dir)
    # Then both checks see it: opening for a check does not run the schema set-up
    assert first == second == ["schema: trigger key_counts_insert is missing"]
    # (while opening it normally re-creates it)
    open_stores(data_dir / "kms.sqlite3").close()
    assert _check(data_dir) == []


def test_problems_never_quote_stored_values(data_dir: Path) -> None:
    # Wrapped materials and principal bodies are never echoed, only ids and column names
    _damage(data_dir, "UPDATE keys SET key_state = '3'", "UPDATE principals SET id = id || 'x'")
    problems = "\n".join(_check(data_dir))
    assert "wrapped" not in problems
    assert "scrypt" not in problems
    assert "materials" not in problems


def test_a_torn_file_fails_the_check(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a store whose pages after the first were overwritten (a torn, unsynced write)
    path = data_dir / "kms.sqlite3"
    content = bytearray(path.read_bytes())
    page = int.from_bytes(content[16:18], "big")
    assert len(content) >= 3 * page
    content[page : len(content)] = bytes(range(256)) * ((len(content) - page) // 256) + b"\x00" * (
        (len(content) - page) % 256
    )
    path.write_bytes(bytes(content))
    # Then skms check reports problems (SQLite's own check, or the file cannot even be read)
    code, report = _cli_check(data_dir, capsys)
    assert code == 1
    assert report["problems"]


@pytest.mark.parametrize("setup", [lambda path: None, lambda path: path.mkdir()])
def test_check_of_a_missing_store_exits_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: Callable[[Path], None]
) -> None:
    data_dir = tmp_path / "absent"
    setup(data_dir)
    assert main(["check", "--data-dir", str(data_dir)]) == 2
    assert "no store" in capsys.readouterr().err
    assert not (data_dir / "kms.sqlite3").exists()
