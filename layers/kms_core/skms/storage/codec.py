"""KeyRecord and principal records <-> primitive fields, shared by the storage adapters.

``to_fields`` gives every field except the versions' material as ``str``/``int``/``bool``/``None``
(enums by value; the :class:`~skms.domain.KeyVersions` as ``current_version`` and a ``versions``
JSON text of their metadata) so each adapter maps them onto its own types; materials stay ``bytes``
with string version keys (JSON and DynamoDB map keys must be strings). ``to_json``/``from_json``
add base64 for the adapters that store one JSON document. Decoding ignores unknown fields (e.g.
DynamoDB's PK/SK) and uses the dataclass defaults for missing ones, so adding a field needs no
migration (unless a listing filters on it: see :func:`filter_fields`); a row without version
metadata decodes its materials as live versions created with the key.

``filter_fields`` turns a :class:`~skms.storage.port.KeyFilter` into ``{field name: stored value}``
for the filters that are set, named and valued exactly as ``to_fields`` stores them, so an adapter
can filter in its query on the stored attributes/columns of those names. ``is_live`` is the one
definition of what listing and counting include: every key but the tombstones (``deleted_at`` set).

Principals (:class:`AccessKeyRecord`, :class:`UserRecord`, :class:`ProjectClaim`,
:class:`PolicyRecord`) go through ``principal_to_fields`` /
``principal_from_fields``: every field as ``str``/``int``/``bool``, ``bytes`` (kept as bytes), or a
``tuple[str, ...]`` (kept as a tuple; a list when read back from JSON or DynamoDB). Their JSON form
carries bytes as standard base64. :func:`user_key` is the one injective encoding of a user's
``(domain_name, name)`` used as a storage key by the SQLite and DynamoDB adapters.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import (
    AccessKeyRecord,
    KeyRecord,
    KeyState,
    KeyVersion,
    KeyVersions,
    Origin,
    PolicyRecord,
    ProjectClaim,
    UserRecord,
    VersionState,
)
from skms.storage.port import KeyFilter

Primitive = str | int | bool | None

MATERIALS = "materials"
CURRENT_VERSION = "current_version"
VERSIONS = "versions"
_ENUMS: dict[str, type[enum.StrEnum]] = {
    "key_spec": KeySpec,
    "key_usage": KeyUsage,
    "key_state": KeyState,
    "origin": Origin,
}
_FIELDS = tuple(f.name for f in dataclasses.fields(KeyRecord) if f.name != VERSIONS)


def _versions_text(versions: KeyVersions) -> str:
    """Every version's metadata (not its material) as compact JSON:
    ``[[number, created_at, state, bound (1/0)], ...]``."""
    return json.dumps(
        [[v.number, v.created_at, v.state.value, int(v.bound)] for v in versions.versions],
        separators=(",", ":"),
    )


def _versions_of(fields: Mapping[str, Any], materials: Mapping[int, bytes]) -> KeyVersions:
    primary = int(fields.get(CURRENT_VERSION) or 0)
    text = fields.get(VERSIONS)
    if not text:  # a row written before version metadata: every held material is a live, unbound version
        created = int(fields.get("creation_date") or 0)
        return KeyVersions.of_materials(materials, primary, created, bound=False)
    versions = []
    for number, created_at, state, *bound in json.loads(text):
        wrapped = bytes(materials.get(int(number), b""))
        flag = bool(bound[0]) if bound else False
        versions.append(KeyVersion(int(number), int(created_at), VersionState(state), wrapped, flag))
    return KeyVersions(primary, tuple(versions))


def to_fields(record: KeyRecord) -> dict[str, Primitive]:
    """Every field but the versions' material, as primitives (enums by value); the versions as
    ``current_version`` (the primary) and ``versions`` (their metadata as JSON text)."""
    out: dict[str, Primitive] = {}
    for name in _FIELDS:
        value = getattr(record, name)
        out[name] = value.value if isinstance(value, enum.Enum) else value
    out[CURRENT_VERSION] = record.versions.primary
    out[VERSIONS] = _versions_text(record.versions)
    return out


def materials_to_map(materials: Mapping[int, bytes]) -> dict[str, bytes]:
    return {str(version): bytes(blob) for version, blob in materials.items()}


def materials_from_map(materials: Mapping[str, bytes]) -> dict[int, bytes]:
    return {int(version): bytes(blob) for version, blob in materials.items()}


def from_fields(fields: Mapping[str, Any], materials: Mapping[str, bytes]) -> KeyRecord:
    """Inverse of :func:`to_fields` + :func:`materials_to_map`. Enums are decoded here, once;
    an unknown value or broken version invariants raise ValueError (fail closed)."""
    kwargs: dict[str, Any] = {name: fields[name] for name in _FIELDS if name in fields}
    for name, kind in _ENUMS.items():
        kwargs[name] = kind(kwargs[name])
    kwargs[VERSIONS] = _versions_of(fields, materials_from_map(materials))
    return KeyRecord(**kwargs)


# The KeyFilter fields; each is also a KeyRecord field of the same name, stored by to_fields.
FILTER_FIELDS = tuple(f.name for f in dataclasses.fields(KeyFilter))
DELETED_AT = "deleted_at"
if not set(FILTER_FIELDS) <= set(_FIELDS) or DELETED_AT not in _FIELDS:  # pragma: no cover - a guard
    raise TypeError("every KeyFilter field (and deleted_at) must be a stored KeyRecord field")


def filter_fields(filters: KeyFilter | None) -> dict[str, str]:
    """The filters that are set, as ``{field name: value as to_fields stores it}`` (in
    ``FILTER_FIELDS`` order); empty without filters or when every filter is None."""
    if filters is None:
        return {}
    out: dict[str, str] = {}
    for name in FILTER_FIELDS:
        value = getattr(filters, name)
        if value is not None:
            out[name] = value
    return out


def is_live(record: KeyRecord) -> bool:
    """Listed and counted: not a tombstone (a key whose scheduled deletion ran)."""
    return record.deleted_at is None


def to_json(record: KeyRecord) -> str:
    """One compact JSON document; materials as standard base64."""
    doc: dict[str, Any] = dict(to_fields(record))
    doc[MATERIALS] = {
        version: base64.b64encode(blob).decode("ascii")
        for version, blob in materials_to_map(record.materials).items()
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def from_json(text: str) -> KeyRecord:
    doc = json.loads(text)
    materials = {version: base64.b64decode(blob) for version, blob in doc.pop(MATERIALS, {}).items()}
    return from_fields(doc, materials)


# -- principals ------------------------------------------------------------------------------------

PrincipalRecord = AccessKeyRecord | UserRecord | ProjectClaim | PolicyRecord
PrincipalValue = str | int | bool | bytes | tuple[str, ...]
P = TypeVar("P", AccessKeyRecord, UserRecord, ProjectClaim, PolicyRecord)

_PLAIN, _BYTES, _STRINGS = "plain", "bytes", "strings"


def _shapes(cls: type[PrincipalRecord]) -> dict[str, str]:
    """Field name -> how it is stored; fails at import if a field gets a type we cannot store."""
    hints = typing.get_type_hints(cls)
    shapes: dict[str, str] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if hint is bytes:
            shapes[field.name] = _BYTES
        elif hint == tuple[str, ...]:
            shapes[field.name] = _STRINGS
        elif hint in (str, int, bool):
            shapes[field.name] = _PLAIN
        else:  # pragma: no cover - a guard for whoever adds a field
            raise TypeError(f"{cls.__name__}.{field.name}: no storage shape for {hint!r}")
    return shapes


_PRINCIPAL_SHAPES: dict[type[PrincipalRecord], dict[str, str]] = {
    AccessKeyRecord: _shapes(AccessKeyRecord),
    UserRecord: _shapes(UserRecord),
    ProjectClaim: _shapes(ProjectClaim),
    PolicyRecord: _shapes(PolicyRecord),
}


def principal_to_fields(record: PrincipalRecord) -> dict[str, PrincipalValue]:
    """Every field; bytes stay bytes, tuples of strings stay tuples."""
    return {name: getattr(record, name) for name in _PRINCIPAL_SHAPES[type(record)]}


def principal_from_fields(cls: type[P], fields: Mapping[str, Any]) -> P:
    """Inverse of :func:`principal_to_fields`; accepts lists for tuples and ignores unknown names."""
    kwargs: dict[str, Any] = {}
    for name, shape in _PRINCIPAL_SHAPES[cls].items():
        if name not in fields:
            continue
        value = fields[name]
        if shape == _BYTES:
            value = bytes(value)
        elif shape == _STRINGS:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def principal_to_json(record: PrincipalRecord) -> str:
    """One compact JSON document; bytes as standard base64, tuples as arrays."""
    doc: dict[str, Any] = {}
    for name, value in principal_to_fields(record).items():
        if isinstance(value, bytes):
            doc[name] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, tuple):
            doc[name] = list(value)
        else:
            doc[name] = value
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def principal_from_json(cls: type[P], text: str) -> P:
    doc = json.loads(text)
    for name, shape in _PRINCIPAL_SHAPES[cls].items():
        if shape == _BYTES and name in doc:
            doc[name] = base64.b64decode(doc[name], validate=True)
    return principal_from_fields(cls, doc)


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def user_key(domain_name: str, name: str) -> str:
    """``base64url(domain_name) + "#" + base64url(name)`` (UTF-8, unpadded).

    Injective whatever the names contain: the base64url alphabet has no ``#``, so the one ``#``
    splits the two parts unambiguously (a plain ``domain + sep + name`` join is not injective
    once a name may contain the separator: ``"a#b" + "#" + "c" == "a" + "#" + "b#c"``).
    """
    return f"{_b64url(domain_name)}#{_b64url(name)}"
