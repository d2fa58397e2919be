"""KeyRecord <-> primitive fields, shared by the storage adapters.

``to_fields`` gives every field except ``materials`` as ``str``/``int``/``bool``/``None`` (enums by
value) so each adapter maps them onto its own types; materials stay ``bytes`` with string version
keys (JSON and DynamoDB map keys must be strings). ``to_json``/``from_json`` add base64 for the
adapters that store one JSON document. Decoding ignores unknown fields (e.g. DynamoDB's PK/SK) and
uses the dataclass defaults for missing ones, so adding a field needs no migration.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from skms.domain import KeyRecord, KeyState, Origin

Primitive = str | int | bool | None

MATERIALS = "materials"
_FIELDS = tuple(f.name for f in dataclasses.fields(KeyRecord) if f.name != MATERIALS)


def to_fields(record: KeyRecord) -> dict[str, Primitive]:
    """Every field but ``materials``, as primitives."""
    out: dict[str, Primitive] = {}
    for name in _FIELDS:
        value = getattr(record, name)
        out[name] = value.value if isinstance(value, KeyState | Origin) else value
    return out


def materials_to_map(materials: Mapping[int, bytes]) -> dict[str, bytes]:
    return {str(version): bytes(blob) for version, blob in materials.items()}


def materials_from_map(materials: Mapping[str, bytes]) -> dict[int, bytes]:
    return {int(version): bytes(blob) for version, blob in materials.items()}


def from_fields(fields: Mapping[str, Any], materials: Mapping[str, bytes]) -> KeyRecord:
    """Inverse of :func:`to_fields` + :func:`materials_to_map`."""
    kwargs: dict[str, Any] = {name: fields[name] for name in _FIELDS if name in fields}
    kwargs["key_state"] = KeyState(kwargs["key_state"])
    kwargs["origin"] = Origin(kwargs["origin"])
    kwargs[MATERIALS] = materials_from_map(materials)
    return KeyRecord(**kwargs)


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
