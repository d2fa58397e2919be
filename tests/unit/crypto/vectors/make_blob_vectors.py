"""Generate ``blob_v1.json`` and ``blob_v2.json``: known-answer vectors that pin both body versions.

Run once, from the repository root, with the project venv::

    .venv/bin/python tests/unit/crypto/vectors/make_blob_vectors.py

Every input is fixed (key, salt, nonce, key id, version, project, context, AAD, plaintext), so
the output is deterministic. Re-running it must not change either file; if a change to
``skms.crypto.blob`` does change one, that change breaks every blob already stored and is a bug
unless it comes with a new BODY_VERSION / frame and a migration. Version 1 blobs are written
through the private retired writer, version 2 (what ``blob.seal`` writes) through
``_seal_with_nonce`` with the per-case salt below; v2 vectors also record the derived message key.
"""

from __future__ import annotations

import json
from pathlib import Path

from skms.crypto import aead, blob

OUT_V1 = Path(__file__).with_name("blob_v1.json")
OUT_V2 = Path(__file__).with_name("blob_v2.json")

KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
PROJECT = "0123456789abcdef0123456789abcdef"

# name, suite, purpose, key, nonce, key_id, key_version, project, context, aad, plaintext
Case = tuple[
    str, aead.Suite, blob.Purpose, bytes, bytes, str, int, str, dict[str, str] | None, bytes | None, bytes
]
CASES: list[Case] = [
    (
        "aes256gcm data key, context and aad",
        aead.Suite.AES_256_GCM,
        blob.Purpose.DATA_KEY,
        bytes(range(32)),
        bytes.fromhex("cafebabefacedbaddecaf888"),
        KEY_ID,
        1,
        PROJECT,
        {"department": "finance", "purpose": "test"},
        b"fixed-aad",
        bytes(range(0x20, 0x40)),
    ),
    (
        "sm4gcm data, no context, no aad",
        aead.Suite.SM4_GCM,
        blob.Purpose.DATA,
        bytes.fromhex("0123456789abcdeffedcba9876543210"),
        bytes.fromhex("00001234567800000000abcd"),
        KEY_ID,
        7,
        PROJECT,
        None,
        None,
        b"hello, skms",
    ),
    (
        "aes256gcm data, unicode context, max version, empty plaintext",
        aead.Suite.AES_256_GCM,
        blob.Purpose.DATA,
        bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
        bytes(12),
        "ffffffff-ffff-4fff-bfff-ffffffffffff",
        0xFFFFFFFF,
        "p",
        {"名字": "值", "ключ": "значение"},
        b"",
        b"",
    ),
    (
        "sm4gcm data key, version 0, empty-string project",
        aead.Suite.SM4_GCM,
        blob.Purpose.DATA_KEY,
        bytes(range(16, 32)),
        bytes(range(12)),
        "00000000-0000-4000-8000-000000000000",
        0,
        "",
        {"a": "b"},
        bytes(range(128)),
        bytes(range(0xF0, 0x100)),
    ),
]


# The v2 salt of each case above, in order: patterned, all-ones, all-zero, counting.
V2_SALTS: list[bytes] = [
    bytes.fromhex("5a17" * 16),
    b"\xff" * 32,
    bytes(32),
    bytes(range(0x80, 0xA0)),
]


def build(body_version: int) -> list[dict[str, object]]:
    vectors: list[dict[str, object]] = []
    for case, salt in zip(CASES, V2_SALTS, strict=True):
        name, suite, purpose, key, nonce, key_id, version, project, context, aad, plaintext = case
        bound = blob.binding(project, context, aad)
        derived: dict[str, object] = {}
        if body_version == blob.BODY_V1:
            sealed = blob._seal_v1_with_nonce(
                suite=suite,
                key=key,
                key_id=key_id,
                key_version=version,
                purpose=purpose,
                plaintext=plaintext,
                bound=bound,
                nonce=nonce,
            )
        else:
            sealed = blob._seal_with_nonce(
                suite=suite,
                key=key,
                key_id=key_id,
                key_version=version,
                purpose=purpose,
                plaintext=plaintext,
                bound=bound,
                salt=salt,
                nonce=nonce,
            )
            body_header = bytes((blob.BODY_V2, suite, purpose))
            tail = key_id.encode("ascii") + version.to_bytes(4, "little")
            message_key = blob._message_key(suite, key, salt, body_header, tail)
            derived = {"salt": salt.hex(), "message_key": message_key.hex()}
        vectors.append(
            {
                "name": name,
                "suite": suite.name,
                "purpose": purpose.name,
                "key": key.hex(),
                **derived,
                "nonce": nonce.hex(),
                "key_id": key_id,
                "key_version": version,
                "project_id": project,
                "context": context,
                "aad": None if aad is None else aad.hex(),
                "plaintext": plaintext.hex(),
                "bound": bound.hex(),
                "blob": sealed.hex(),
            }
        )
    return vectors


def main() -> None:
    for body_version, out in ((blob.BODY_V1, OUT_V1), (blob.BODY_V2, OUT_V2)):
        out.write_text(json.dumps(build(body_version), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
