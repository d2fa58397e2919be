"""The list cursor encoding (skms/storage/cursors.py): bound to its listing, canonical, nothing more."""

from __future__ import annotations

import base64

import pytest

from skms.storage import cursors

PROJECT = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
OTHER = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
KEY_ID = "0d0f5a2e-1c3b-4a5d-8e6f-7a8b9c0d1e2f"


def _raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def _spell(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_key_cursor_round_trips_and_holds_only_its_position() -> None:
    cursor = cursors.key_cursor(PROJECT, 1_700_000_000_123, KEY_ID)
    assert cursors.key_position(PROJECT, cursor) == (1_700_000_000_123, KEY_ID)
    # Layout: version, scope tag, then the two length-prefixed fields and nothing else
    raw = _raw(cursor)
    assert raw[0] == cursors.VERSION
    assert raw[1 : 1 + cursors.SCOPE_TAG_SIZE] == cursors.scope_tag(("keys", PROJECT))
    assert raw[1 + cursors.SCOPE_TAG_SIZE :] == b"\x00\x0d1700000000123\x00\x24" + KEY_ID.encode()
    assert PROJECT.encode() not in raw


def test_a_cursor_of_another_scope_is_refused() -> None:
    cursor = cursors.key_cursor(PROJECT, 1, KEY_ID)
    with pytest.raises(ValueError):
        cursors.key_position(OTHER, cursor)
    with pytest.raises(ValueError):
        cursors.alias_position(cursors.project_aliases_scope(PROJECT), cursor)
    alias_cursor = cursors.alias_cursor(cursors.key_aliases_scope(PROJECT, KEY_ID), "d" * 32, "alias/x")
    assert cursors.alias_position(cursors.key_aliases_scope(PROJECT, KEY_ID), alias_cursor) == (
        "d" * 32,
        "alias/x",
    )
    for scope in (cursors.project_aliases_scope(PROJECT), cursors.key_aliases_scope(OTHER, KEY_ID)):
        with pytest.raises(ValueError):
            cursors.alias_position(scope, alias_cursor)


def test_scopes_are_length_prefixed() -> None:
    # ("ab", "c") and ("a", "bc") join to the same text but are different scopes
    assert cursors.scope_tag(("ab", "c")) != cursors.scope_tag(("a", "bc"))


def _malformed() -> list[str]:
    good = _raw(cursors.key_cursor(PROJECT, 1, KEY_ID))
    return [
        "",
        "!!!",
        "é",
        _spell(good) + "=",  # padding: not the one spelling
        _spell(good)[:-1] + ("B" if _spell(good)[-1] != "B" else "C"),  # other trailing bits or bytes
        _spell(bytes((2,)) + good[1:]),  # another version
        _spell(good[:10]),  # cut inside the tag
        _spell(good[:-3]),  # cut inside a field
        _spell(good + b"\x00"),  # trailing byte
        _spell(good + b"\x00\x00"),  # an extra (empty) field
        _spell(good[: 1 + cursors.SCOPE_TAG_SIZE] + b"\x00\x02ab\x00\x01x"),  # a date that is no number
        _spell(good[: 1 + cursors.SCOPE_TAG_SIZE] + b"\x00\x011\x00\x00"),  # an empty key id
        _spell(good[: 1 + cursors.SCOPE_TAG_SIZE] + b"\x00\x011\x00\x02\xff\xfe"),  # not UTF-8
        "9223372036854775808",  # the old SQLite marker shape
    ]


@pytest.mark.parametrize("cursor", _malformed())
def test_malformed_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(ValueError):
        cursors.key_position(PROJECT, cursor)


def test_fields_are_bounded() -> None:
    with pytest.raises(ValueError):
        cursors.alias_cursor(cursors.project_aliases_scope(PROJECT), "d", "a" * (cursors.MAX_FIELD_SIZE + 1))
