"""List cursors (list-keys' ``marker``), one encoding for every adapter: a position in one listing,
bound to that listing's scope (the kind of listing and its project, and key for a key's aliases).

Byte layout, then base64url without padding::

    VERSION (1 byte, 0x01) || SCOPE_TAG (16 bytes) || FIELD* where FIELD = LEN (2 bytes, big endian) || UTF-8

- ``SCOPE_TAG`` is ``SHA-256(DOMAIN || encoded scope parts)[:16]``: a cursor is refused (ValueError,
  list-keys' "invalid marker") by a listing of any other scope, so a marker from one project is not
  accepted in another.
- The fields are the position: the page's last item, as the listing returned it to its caller (for
  keys its creation date and key id; for aliases its domain and name). A cursor therefore tells
  its holder nothing they were not shown already: no global sequence, no count of anyone's keys.

Why no MAC or encryption: the cursor grants nothing. What a listing may read is decided by the
caller's authenticated project, never by the cursor; a cursor forged for one's own project only
seeks within one's own listing (which paging reaches anyway), and one forged for another project
fails the scope check unless it names the caller's own project. So there is no key to manage,
share between Lambda instances or rotate, and every adapter (and every instance) reads every
other's cursors. Decoding checks the version first and refuses anything :func:`encode` cannot have
produced (non-canonical base64, a wrong field count, trailing bytes), so adapters can rebuild
their query positions from the fields without meeting malformed values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

VERSION = 1
VERSION_SIZE = 1
SCOPE_TAG_SIZE = 16
FIELD_LENGTH_SIZE = 2
MAX_FIELD_SIZE = 1024  # positions are key ids, dates, domain ids and alias names: all shorter
_TAG_DOMAIN = b"skms list cursor v1\x00"


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > MAX_FIELD_SIZE:
        raise ValueError("cursor field too long")
    return len(raw).to_bytes(FIELD_LENGTH_SIZE, "big") + raw


def scope_tag(scope: Sequence[str]) -> bytes:
    """The tag of a listing's scope (length-prefixed parts, so no two scopes share an encoding)."""
    encoded = b"".join(_field(part) for part in scope)
    return hashlib.sha256(_TAG_DOMAIN + encoded).digest()[:SCOPE_TAG_SIZE]


def encode(scope: Sequence[str], position: Sequence[str]) -> str:
    raw = bytes((VERSION,)) + scope_tag(scope) + b"".join(_field(value) for value in position)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(scope: Sequence[str], cursor: str, fields: int) -> tuple[str, ...]:
    """The ``fields`` position values of a cursor of this scope; ValueError for a cursor of
    another scope or anything :func:`encode` cannot have produced."""
    if not cursor or not cursor.isascii():
        raise ValueError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("invalid cursor") from error
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != cursor:  # one spelling only
        raise ValueError("invalid cursor")
    header = VERSION_SIZE + SCOPE_TAG_SIZE
    if len(raw) < header or raw[0] != VERSION:
        raise ValueError("invalid cursor")
    if not hmac.compare_digest(raw[VERSION_SIZE:header], scope_tag(scope)):
        raise ValueError("invalid cursor")  # another project's (or listing's) cursor
    values: list[str] = []
    offset = header
    while offset < len(raw):
        if offset + FIELD_LENGTH_SIZE > len(raw):
            raise ValueError("invalid cursor")
        size = int.from_bytes(raw[offset : offset + FIELD_LENGTH_SIZE], "big")
        offset += FIELD_LENGTH_SIZE
        if size > MAX_FIELD_SIZE or offset + size > len(raw):
            raise ValueError("invalid cursor")
        try:
            values.append(raw[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError as error:
            raise ValueError("invalid cursor") from error
        offset += size
    if len(values) != fields:
        raise ValueError("invalid cursor")
    return tuple(values)


# -- the positions of the two kinds of listings ------------------------------------------------------


def key_cursor(project_id: str, creation_date: int, key_id: str) -> str:
    """The cursor after a key (its creation date and id) in a listing of ``project_id``'s keys."""
    return encode(("keys", project_id), (str(creation_date), key_id))


def key_position(project_id: str, cursor: str) -> tuple[int, str]:
    """``(creation_date, key_id)`` of a key cursor of ``project_id``; ValueError otherwise."""
    date, key_id = decode(("keys", project_id), cursor, 2)
    if not (date.isascii() and date.isdigit() and len(date) <= 13) or not key_id:
        raise ValueError("invalid cursor")
    return int(date), key_id


def project_aliases_scope(project_id: str) -> tuple[str, ...]:
    return ("project-aliases", project_id)


def key_aliases_scope(project_id: str, key_id: str) -> tuple[str, ...]:
    return ("key-aliases", project_id, key_id)


def alias_cursor(scope: Sequence[str], domain_id: str, alias: str) -> str:
    """The cursor after an alias in a listing of ``scope`` (:func:`project_aliases_scope` or
    :func:`key_aliases_scope`)."""
    return encode(scope, (domain_id, alias))


def alias_position(scope: Sequence[str], cursor: str) -> tuple[str, str]:
    """``(domain_id, alias)`` of an alias cursor of ``scope``; ValueError otherwise."""
    domain_id, alias = decode(scope, cursor, 2)
    if not domain_id or not alias:
        raise ValueError("invalid cursor")
    return domain_id, alias
