"""SqliteKeyStore.get_key remembers this thread's reads while nothing is written to the file: every
change, by another process, another thread or this connection, is read at once, and a write
that was rolled back is never served."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Iterator

import pytest

from skms.domain import KeyRecord, KeyState, KeyVersion, KeyVersions, VersionState
from skms.storage import codec, sqlite
from skms.storage.port import Stores
from skms.storage.sqlite import keys as sqlite_keys
from tests.support.records import CREATED_MS, key_record

PROJECT = "p" * 32
SELECT_KEY = "SELECT record FROM keys WHERE project_id"


def _record() -> KeyRecord:
    return key_record(
        PROJECT, versions=KeyVersions(0, (KeyVersion(0, CREATED_MS, VersionState.ENABLED, b"wrapped"),))
    )


@pytest.fixture
def path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "keys.sqlite3"


@pytest.fixture
def stores(path: pathlib.Path) -> Iterator[Stores]:
    opened = sqlite.open_stores(path)
    yield opened
    opened.close()


@pytest.fixture
def other_process(path: pathlib.Path, stores: Stores) -> Iterator[Stores]:
    """The same file through another SqliteDatabase: its own connections, as another process has."""
    opened = sqlite.open_stores(path)
    yield opened
    opened.close()


def _statements(stores: Stores) -> list[str]:
    """The SQL this thread's connection of ``stores`` runs from now on."""
    seen: list[str] = []
    stores.keys._db.connection().set_trace_callback(seen.append)  # type: ignore[attr-defined]
    return seen


def _disable(stores: Stores, record: KeyRecord) -> KeyRecord:
    return stores.keys.update_key(record.replace(key_state=KeyState.DISABLED), record.revision)


def test_a_repeated_read_is_not_read_from_the_table_again(stores: Stores) -> None:
    record = _record()
    stores.keys.create_key(record)
    statements = _statements(stores)
    # When the key is read three times with no write in between
    reads = [stores.keys.get_key(PROJECT, record.key_id) for _ in range(3)]
    # Then each read is the record, and only the first one read its row
    assert reads == [record] * 3
    assert sum(SELECT_KEY in sql for sql in statements) == 1


def test_a_change_by_another_process_is_read_at_once(stores: Stores, other_process: Stores) -> None:
    record = _record()
    stores.keys.create_key(record)
    for _ in range(3):
        # Given the key read here (and remembered)
        current = stores.keys.get_key(PROJECT, record.key_id)
        assert current is not None
        assert stores.keys.get_key(PROJECT, record.key_id) == current
        # When another process disables it, then enables it again; Then each change is read at once
        disabled = _disable(other_process, current)
        assert stores.keys.get_key(PROJECT, record.key_id) == disabled
        enabled = other_process.keys.update_key(
            disabled.replace(key_state=KeyState.ENABLED), disabled.revision
        )
        assert stores.keys.get_key(PROJECT, record.key_id) == enabled


def test_a_change_by_another_thread_is_read_at_once(stores: Stores) -> None:
    record = _record()
    stores.keys.create_key(record)
    assert stores.keys.get_key(PROJECT, record.key_id) == record
    # When another thread (its own connection) disables the key
    done: list[KeyRecord] = []
    writer = threading.Thread(target=lambda: done.append(_disable(stores, record)))
    writer.start()
    writer.join(timeout=30)
    # Then this thread reads the disabled key at once
    assert len(done) == 1
    got = stores.keys.get_key(PROJECT, record.key_id)
    assert got is not None
    assert got.key_state is KeyState.DISABLED


def test_a_change_by_this_connection_is_read_at_once(stores: Stores) -> None:
    record = _record()
    stores.keys.create_key(record)
    assert stores.keys.get_key(PROJECT, record.key_id) == record
    disabled = _disable(stores, record)
    assert stores.keys.get_key(PROJECT, record.key_id) == disabled


def test_a_write_to_another_table_or_key_forgets_the_reads(stores: Stores, other_process: Stores) -> None:
    record = _record()
    stores.keys.create_key(record)
    stores.keys.get_key(PROJECT, record.key_id)
    statements = _statements(stores)
    other_process.keys.create_key(_record())
    # When the key is read after a commit that did not touch it; Then it is read from the table
    assert stores.keys.get_key(PROJECT, record.key_id) == record
    assert sum(SELECT_KEY in sql for sql in statements) == 1


def test_a_rolled_back_write_is_never_served(stores: Stores) -> None:
    record = _record()
    stores.keys.create_key(record)
    assert stores.keys.get_key(PROJECT, record.key_id) == record
    disabled = record.replace(key_state=KeyState.DISABLED, revision=record.revision + 1)
    read_inside: list[KeyRecord | None] = []

    def disable_read_and_roll_back() -> None:
        with stores.keys._db.write() as conn:  # type: ignore[attr-defined]
            document = codec.to_json(disabled)
            conn.execute("UPDATE keys SET record = ? WHERE key_id = ?", (document, record.key_id))
            read_inside.append(stores.keys.get_key(PROJECT, record.key_id))
            raise RuntimeError("roll back")

    # Given a write transaction of this connection that disables the key, read inside it
    with pytest.raises(RuntimeError, match="roll back"):
        disable_read_and_roll_back()
    assert read_inside == [disabled]  # its own uncommitted write
    # When the key is read after the rollback; Then it is the committed key, not the rolled-back one
    assert stores.keys.get_key(PROJECT, record.key_id) == record


def test_unknown_keys_are_not_remembered(stores: Stores, other_process: Stores) -> None:
    record = _record()
    assert stores.keys.get_key(PROJECT, record.key_id) is None
    other_process.keys.create_key(record)
    assert stores.keys.get_key(PROJECT, record.key_id) == record


def test_at_most_so_many_reads_are_remembered(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_keys, "_RECENT_READS", 2)
    records = [_record() for _ in range(3)]
    for record in records:
        stores.keys.create_key(record)
    for record in records:
        stores.keys.get_key(PROJECT, record.key_id)
    statements = _statements(stores)
    # When the three keys are read again; Then the two remembered are not read, the third is
    assert [stores.keys.get_key(PROJECT, r.key_id) for r in records] == records
    assert sum(SELECT_KEY in sql for sql in statements) == 1


def test_reads_after_close_use_the_new_connection(stores: Stores, other_process: Stores) -> None:
    record = _record()
    stores.keys.create_key(record)
    assert stores.keys.get_key(PROJECT, record.key_id) == record
    stores.keys._db.close()  # type: ignore[attr-defined]
    disabled = _disable(other_process, record)
    assert stores.keys.get_key(PROJECT, record.key_id) == disabled
