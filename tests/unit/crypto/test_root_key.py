"""LocalRootKey: the key file, wrapping under a material context, and failures."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skms.crypto.errors import CryptoError
from skms.crypto.root_key import PROVIDER_LOCAL, LocalRootKey, material_context

PROJECT = "0123456789abcdef0123456789abcdef"
KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
MATERIAL = bytes(range(32))


@pytest.fixture
def root() -> LocalRootKey:
    return LocalRootKey(bytes(range(100, 132)))


def test_material_context_fields() -> None:
    assert material_context(PROJECT, KEY_ID, 7) == {
        "purpose": "cmk-material",
        "project_id": PROJECT,
        "key_id": KEY_ID,
        "key_version": "7",
    }


def test_from_file_creates_a_0600_32_byte_file_and_reuses_it(tmp_path: Path) -> None:
    # Given no key file (and no parent directory)
    path = tmp_path / "state" / "nested" / "root.key"
    # When the key is loaded for the first time
    first = LocalRootKey.from_file(path)
    # Then a 32-byte file readable only by its owner exists
    content = path.read_bytes()
    assert len(content) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert content != bytes(32)
    # When it is loaded again; Then the file is unchanged and the key is the same
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = first.wrap(MATERIAL, context)
    second = LocalRootKey.from_file(path)
    assert path.read_bytes() == content
    assert second.unwrap(wrapped, context) == MATERIAL


def test_from_file_does_not_depend_on_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        LocalRootKey.from_file(tmp_path / "root.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "root.key").stat().st_mode) == 0o600


def test_two_key_files_are_different_keys(tmp_path: Path) -> None:
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = LocalRootKey.from_file(tmp_path / "a.key").wrap(MATERIAL, context)
    other = LocalRootKey.from_file(tmp_path / "b.key")
    assert (tmp_path / "a.key").read_bytes() != (tmp_path / "b.key").read_bytes()
    with pytest.raises(CryptoError):
        other.unwrap(wrapped, context)


def test_from_file_loads_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    path.write_bytes(bytes(range(100, 132)))
    path.chmod(0o600)
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = LocalRootKey(bytes(range(100, 132))).wrap(MATERIAL, context)
    assert LocalRootKey.from_file(path).unwrap(wrapped, context) == MATERIAL


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_from_file_refuses_a_file_of_the_wrong_size(tmp_path: Path, size: int) -> None:
    path = tmp_path / "root.key"
    path.write_bytes(b"\x01" * size)
    path.chmod(0o600)
    with pytest.raises(ValueError, match="32 bytes"):
        LocalRootKey.from_file(path)
    assert path.read_bytes() == b"\x01" * size  # never overwritten


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_constructor_refuses_a_key_of_the_wrong_size(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        LocalRootKey(bytes(size))


def test_wrap_round_trip_and_layout(root: LocalRootKey) -> None:
    # Given material wrapped under a context
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = root.wrap(MATERIAL, context)
    # Then it is PROVIDER || nonce || ct || tag, fresh each time, and unwraps
    assert wrapped[0] == PROVIDER_LOCAL == 0x01
    assert len(wrapped) == 1 + 12 + len(MATERIAL) + 16
    assert root.wrap(MATERIAL, context) != wrapped
    assert root.unwrap(wrapped, context) == MATERIAL


def test_wrapped_layout_opens_with_an_independent_aes_gcm(root: LocalRootKey) -> None:
    """AAD = u32be-len("skms/root-wrap/v1") || label || u32be-len(ctx) || canonical context."""
    context = {"b": "2", "a": "1"}
    wrapped = root.wrap(MATERIAL, context)
    label = b"skms/root-wrap/v1"
    encoded = bytes.fromhex("0002" + "0001" + "61" + "0001" + "31" + "0001" + "62" + "0001" + "32")
    aad = struct.pack(">I", len(label)) + label + struct.pack(">I", len(encoded)) + encoded
    assert AESGCM(bytes(range(100, 132))).decrypt(wrapped[1:13], wrapped[13:], aad) == MATERIAL


@pytest.mark.parametrize(
    "other",
    [
        material_context("fedcba9876543210fedcba9876543210", KEY_ID, 1),
        material_context(PROJECT, "0d0466b0-e727-4d9c-b35d-f84bb474a370", 1),
        material_context(PROJECT, KEY_ID, 2),
        material_context(PROJECT, KEY_ID, 0),
        {**material_context(PROJECT, KEY_ID, 1), "purpose": "other"},
        {**material_context(PROJECT, KEY_ID, 1), "extra": ""},
        {},
    ],
    ids=["project", "key-id", "version+1", "version-1", "purpose", "extra-field", "empty"],
)
def test_unwrap_under_another_context_fails(root: LocalRootKey, other: dict[str, str]) -> None:
    wrapped = root.wrap(MATERIAL, material_context(PROJECT, KEY_ID, 1))
    with pytest.raises(CryptoError):
        root.unwrap(wrapped, other)


def test_context_order_does_not_matter(root: LocalRootKey) -> None:
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = root.wrap(MATERIAL, context)
    assert root.unwrap(wrapped, dict(reversed(list(context.items())))) == MATERIAL


@pytest.mark.parametrize("provider", [0x00, 0x02, 0x03, 0xFF])
def test_wrong_provider_byte_fails(root: LocalRootKey, provider: int) -> None:
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = root.wrap(MATERIAL, context)
    with pytest.raises(CryptoError):
        root.unwrap(bytes([provider]) + wrapped[1:], context)


def test_every_single_byte_change_fails(root: LocalRootKey) -> None:
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = root.wrap(MATERIAL, context)
    for offset in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[offset] ^= 0x01
        with pytest.raises(CryptoError):
            root.unwrap(bytes(tampered), context)


def test_truncated_or_extended_fails(root: LocalRootKey) -> None:
    context = material_context(PROJECT, KEY_ID, 1)
    wrapped = root.wrap(MATERIAL, context)
    for length in range(len(wrapped)):
        with pytest.raises(CryptoError):
            root.unwrap(wrapped[:length], context)
    with pytest.raises(CryptoError):
        root.unwrap(wrapped + b"\x00", context)


def test_repr_does_not_contain_key_bytes() -> None:
    key = bytes(range(100, 132))
    text = repr(LocalRootKey(key)) + str(LocalRootKey(key))
    assert "redacted" in text
    for leak in (key.hex(), repr(key), key.hex().upper(), repr(key)[2:20]):
        assert leak not in text


def test_from_file_refuses_a_key_file_readable_by_others(tmp_path: Path) -> None:
    # Given a key file of the right size but mode 0644
    path = tmp_path / "root.key"
    path.write_bytes(b"\x01" * 32)
    path.chmod(0o644)
    # When it is loaded / Then it is refused, and left as it was
    with pytest.raises(ValueError, match="chmod 600"):
        LocalRootKey.from_file(path)
    assert path.read_bytes() == b"\x01" * 32


def _first_use_race(path: Path, threads: int = 8) -> tuple[list[bytes], list[Exception]]:
    """Start ``threads`` loaders at once on a missing key file; return the key files they saw."""
    import threading

    barrier = threading.Barrier(threads)
    keys: list[bytes] = []
    failures: list[Exception] = []

    def start() -> None:
        barrier.wait()
        try:
            probe = LocalRootKey.from_file(path)
            assert probe.unwrap(probe.wrap(b"x", {"k": "v"}), {"k": "v"}) == b"x"
            keys.append(path.read_bytes())
        except Exception as exc:
            failures.append(exc)

    workers = [threading.Thread(target=start) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return keys, failures


@pytest.mark.parametrize("trial", range(20))
def test_concurrent_first_use_agrees_on_one_complete_key(tmp_path: Path, trial: int) -> None:
    # Given no key file and 8 threads starting at once
    keys, failures = _first_use_race(tmp_path / "root.key")
    # Then every thread loaded the same 32-byte key and no temporary file is left behind
    assert failures == []
    assert len(set(keys)) == 1
    assert len(keys[0]) == 32
    assert [p.name for p in tmp_path.iterdir()] == ["root.key"]
