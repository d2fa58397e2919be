"""Valid records for storage tests, built in one place (a field added to a record is added here)."""

from __future__ import annotations

import uuid
from typing import Any

from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import KeyRecord, KeyState, KeyVersions, Origin

CREATED_MS = 1_700_000_000_000


def key_record(project_id: str = "p" * 32, **changes: Any) -> KeyRecord:
    """An enabled AES_256 key created at :data:`CREATED_MS` with a fresh id and alias and one live
    version of dummy wrapped material, with ``changes`` (any field) applied."""
    key_id = str(uuid.uuid4())
    record = KeyRecord(
        project_id=project_id,
        key_id=key_id,
        domain_id="d" * 32,
        key_alias=f"alias-{key_id[:8]}",
        key_spec=KeySpec.AES_256,
        key_usage=KeyUsage.ENCRYPT_DECRYPT,
        key_state=KeyState.ENABLED,
        origin=Origin.KMS,
        creation_date=CREATED_MS,
        versions=KeyVersions.first(uuid.uuid4().bytes, CREATED_MS),
    )
    return record.replace(**changes) if changes else record
