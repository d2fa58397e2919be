"""Generate ``blob_v1.json``: known-answer vectors that pin the data-key blob format.

Run once, from the repository root, with the project venv::

    .venv/bin/python tests/unit/crypto/vectors/make_blob_vectors.py

Every input is fixed (key, nonce, key id, version, project, context, AAD, plaintext), so the
output is deterministic. Re-running it must not change the file; if a change to
``skms.crypto.blob`` does change it, that change breaks every blob already stored and is a bug
unless it comes with a new BODY_VERSION / frame and a migration.
"""

from __future__ import annotations

import json
from pathlib import Path

from skms.crypto import aead, blob

OUT = Path(__file__).with_name("blob_v1.json")

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


def build() -> list[dict[str, object]]:
    vectors: list[dict[str, object]] = []
    for name, suite, purpose, key, nonce, key_id, version, project, context, aad, plaintext in CASES:
        bound = blob.binding(project, context, aad)
        sealed = blob._seal_with_nonce(
            suite=suite,
            key=key,
            key_id=key_id,
            key_version=version,
            purpose=purpose,
            plaintext=plaintext,
            bound=bound,
            nonce=nonce,
        )
        vectors.append(
            {
                "name": name,
                "suite": suite.name,
                "purpose": purpose.name,
                "key": key.hex(),
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
    OUT.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
