"""No secret is ever written in clear: not in the data dir (SQLite db, -wal, -shm, anything but the
root key file), not in the server's logs.

Secrets: every CMK's key material (and, for asymmetric keys, its private components), every data
key returned by create-datakey / decrypt-datakey, every data key pair's private key returned by
create-rsa/ec-datakey-pair and decrypt-data (and its private components), the root key, and the
credentials: access-key secret keys (the bootstrap one and one made with the CLI), a token user's
password and the token issued to it. Each is searched for as raw bytes, upper- and lower-case hex
and base64. The material is recovered the way an attacker holding the root key would: open the
store, unwrap ``materials[0]`` under the key's context.
"""

from __future__ import annotations

import base64
import json
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key

from skms.crypto.keypairs import SM2_PKCS8_PREFIX, sm2_from_pkcs8
from skms.crypto.root_key import LocalRootKey
from skms.keyring import version_context
from skms.storage import sqlite
from tests.e2e.conftest import requires_sqlite

pytestmark = [
    pytest.mark.e2e,
    # What is at rest here is the data dir's SQLite file, read with its local root key. On
    # DynamoDB the store is the table (its items hold wrapped material only: tests/contract), and
    # the session's secret scan still searches every server's logs for every secret on the wire.
    requires_sqlite("reads the SQLite store and local root key of the data dir"),
]

# The strictest log level, so debug lines are searched too.
SERVER_ENV = {"POWERTOOLS_LOG_LEVEL": "DEBUG"}

ALL_KEY_SPECS = (
    "AES_256",
    "SM4",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_P256",
    "EC_P384",
    "SECP256K1",
    "SM2",
    "ED25519",
)
SYMMETRIC_SPECS = ("AES_256", "SM4")
ROOT_KEY_FILE = "root.key"
TOKEN_PATH = "/v3/auth/tokens"


def encodings(secret: bytes) -> dict[str, bytes]:
    """The forms a leaked secret would most likely take."""
    b64 = base64.b64encode(secret)
    return {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": b64,
        "base64-unpadded": b64.rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
    }


# SQLite splits a long row over overflow pages, so a long leaked value may not be contiguous in the
# file: long needles are also searched as overlapping windows (any fragment of WINDOW * 1.5 bytes
# holds a whole window). Only for values that are secret through and through (see Secret.windowed).
WINDOW = 48


def needles(value: bytes, windowed: bool) -> Iterator[bytes]:
    yield value
    if windowed and len(value) > WINDOW:
        for start in range(0, len(value) - WINDOW + 1, WINDOW // 2):
            yield value[start : start + WINDOW]


def _int_bytes(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")


def private_components(spec: str, material: bytes) -> dict[str, tuple[bytes, bool]]:
    """The secret parts of a CMK's material: name -> (value, wholly secret)."""
    if spec in SYMMETRIC_SPECS:
        return {"material": (material, True)}
    if spec == "SM2":  # private scalar (32) || public point (64)
        return {"material": (material, False), "sm2-private-scalar": (material[:32], True)}
    private = load_der_private_key(material, password=None)
    parts = {"pkcs8-der": (material, False)}
    if isinstance(private, ed25519.Ed25519PrivateKey):
        parts["ed25519-seed"] = (private.private_bytes_raw(), True)
    elif isinstance(private, rsa.RSAPrivateKey):
        numbers = private.private_numbers()
        for name, value in (("d", numbers.d), ("p", numbers.p), ("q", numbers.q)):
            parts[name] = (_int_bytes(value), True)
    else:
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        size = (private.curve.key_size + 7) // 8
        parts["ec-private-scalar"] = (_int_bytes(private.private_numbers().private_value, size), True)
    return parts


@dataclass
class Secret:
    """A value that must not appear. ``windowed`` only if no part of it is public: a window of a
    PKCS#8 key, say, could be its public modulus, which is stored on purpose."""

    name: str
    value: bytes
    windowed: bool = True

    def __post_init__(self) -> None:
        assert len(self.value) >= 16, f"{self.name}: too short to search for without false hits"


@dataclass
class World:
    data_dir: Path
    project_id: str
    key_ids: dict[str, str] = field(default_factory=dict)  # spec -> key id
    aliases: list[str] = field(default_factory=list)
    data_keys: list[Secret] = field(default_factory=list)
    pair_keys: list[Secret] = field(default_factory=list)  # data key pairs' private keys and parts
    cipher_texts: list[str] = field(default_factory=list)
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # when -> {file: bytes}
    materials: list[Secret] = field(default_factory=list)
    wrapped: list[Secret] = field(default_factory=list)  # materials as stored: under the root key
    root_key: bytes = b""
    log_bytes: bytes = b""
    access_keys: list[str] = field(default_factory=list)  # public ids, stored on purpose
    credentials: list[Secret] = field(default_factory=list)  # SKs, password, tokens


def snapshot(data_dir: Path) -> dict[str, bytes]:
    """Raw bytes of every file under the data dir except the root key file."""
    files = {
        str(path.relative_to(data_dir)): path.read_bytes()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and path.name != ROOT_KEY_FILE
    }
    assert any(name.startswith("kms.sqlite3") for name in files), files.keys()
    return files


def _populate(api: Any, world: World) -> None:
    for spec in ALL_KEY_SPECS:
        alias = f"rest-{spec.lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        world.aliases.append(alias)
        world.key_ids[spec] = api.post_ok("create-key", {"key_alias": alias, "key_spec": spec})["key_info"][
            "key_id"
        ]
    for spec in SYMMETRIC_SPECS:
        key_id = world.key_ids[spec]
        for bits, aad in (("512", None), ("256", "ctx-1"), ("128", None), ("4096", "ctx-2")):
            payload = {"key_id": key_id, "datakey_length": bits}
            if aad:
                payload["additional_authenticated_data"] = aad
            created = api.post_ok("create-datakey", payload)
            world.data_keys.append(Secret(f"{spec}/{bits}/create", bytes.fromhex(created["plain_text"])))
            world.cipher_texts.append(created["cipher_text"])
            decrypt = {
                "key_id": key_id,
                "cipher_text": created["cipher_text"],
                "datakey_cipher_length": str(int(bits) // 8),
            }
            if aad:
                decrypt["additional_authenticated_data"] = aad
            decrypted = api.post_ok("decrypt-datakey", decrypt)
            assert decrypted["data_key"] == created["plain_text"]
            world.data_keys.append(Secret(f"{spec}/{bits}/decrypt", bytes.fromhex(decrypted["data_key"])))
            # And a failing decrypt of the same blob (wrong AAD): the error path must not leak either
            decrypt["additional_authenticated_data"] = "wrong"
            assert api.post("decrypt-datakey", decrypt).status == 400
    _create_pairs(api, world)


# (operation, pair key_spec, CMK spec, with_plain_text, AAD)
PAIRS = [
    ("create-rsa-datakey-pair", "RSA_2048", "AES_256", True, "pair-1"),
    ("create-rsa-datakey-pair", "RSA_3072", "SM4", False, None),
    ("create-ec-datakey-pair", "ECC_NIST_P256", "AES_256", True, None),
    ("create-ec-datakey-pair", "ECC_SECG_P256K1", "SM4", True, "pair-2"),
    ("create-ec-datakey-pair", "SM2", "AES_256", False, "pair-3"),
]


def _create_pairs(api: Any, world: World) -> None:
    """Data key pairs, their private keys received in clear or opened with decrypt-data."""
    for operation, key_spec, cmk_spec, with_plain_text, aad in PAIRS:
        payload: dict[str, Any] = {
            "key_id": world.key_ids[cmk_spec],
            "key_spec": key_spec,
            "with_plain_text": with_plain_text,
        }
        if aad:
            payload["additional_authenticated_data"] = aad
        created = api.post_ok(operation, payload)
        world.cipher_texts.append(created["private_key_cipher_text"])
        decrypt = {"cipher_text": created["private_key_cipher_text"]}
        if aad:
            decrypt["additional_authenticated_data"] = aad
        private_der = base64.b64decode(api.post_ok("decrypt-data", decrypt)["plain_text_base64"])
        if with_plain_text:
            assert base64.b64decode(created["private_key_plain_text"]) == private_der
        if private_der.startswith(SM2_PKCS8_PREFIX):  # our fixed SM2 layout: to CMK-style material
            spec, material = "SM2", b"".join(sm2_from_pkcs8(private_der))
        else:
            spec, material = "EC_P256" if key_spec.startswith("ECC") else "RSA_2048", private_der
        world.pair_keys.append(Secret(f"{key_spec}/pkcs8", private_der, windowed=False))
        for part, (value, windowed) in private_components(spec, material).items():
            world.pair_keys.append(Secret(f"{key_spec}/{part}", value, windowed))


def _read_materials(world: World) -> None:
    """Unwrap each key's material the way only a holder of the root key can."""
    root = LocalRootKey.from_file(world.data_dir / ROOT_KEY_FILE)
    stores = sqlite.open_stores(world.data_dir / "kms.sqlite3")
    try:
        for spec, key_id in world.key_ids.items():
            record = stores.keys.get_key(world.project_id, key_id)
            assert record is not None, spec
            assert record.key_spec == spec
            world.wrapped.append(Secret(f"{spec}/wrapped", record.materials[0]))
            held = record.versions.live(0)
            assert held is not None, spec
            material = root.unwrap(held.wrapped, version_context(record, held))
            for part, (value, windowed) in private_components(spec, material).items():
                world.materials.append(Secret(f"{spec}/{part}", value, windowed))
    finally:
        stores.close()


def _post_unsigned(api: Any, path: str, payload: Any, headers: dict[str, str]) -> tuple[int, Any, Any]:
    """(status, headers, JSON body) of a POST without an AK/SK signature (token endpoint, X-Auth-Token)."""
    conn = api.connect()
    try:
        conn.request("POST", path, json.dumps(payload), {"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, response.headers, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _token_body(name: str, password: str, domain: str, project_id: str) -> dict[str, Any]:
    user = {"name": name, "password": password, "domain": {"name": domain}}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": project_id}},
        }
    }


def _use_credentials(server: Any, skms_cli: Any, api: Any, credentials: Any, world: World) -> None:
    """A second access key and a token user (CLI), a token issued and used, a wrong password tried."""
    world.access_keys.append(credentials.ak)
    world.credentials.append(Secret("bootstrap secret key", credentials.sk.encode()))
    other = skms_cli.create_access_key(server, "f0e1d2c3b4a5968778695a4b3c2d1e0f")
    world.access_keys.append(other.ak)
    world.credentials.append(Secret("CLI secret key", other.sk.encode()))
    name, domain = f"rest-user-{uuid.uuid4().hex[:8]}", "rest-domain"
    password, wrong = f"rest-Password-{uuid.uuid4().hex}", f"wrong-Password-{uuid.uuid4().hex}"
    skms_cli.create_user(server, name, password, (credentials.project_id,), domain)
    world.credentials.append(Secret("user password", password.encode()))
    world.credentials.append(Secret("wrong password", wrong.encode()))
    project_id = world.project_id
    status, _, _ = _post_unsigned(api, TOKEN_PATH, _token_body(name, wrong, domain, project_id), {})
    assert status == 401
    status, headers, _ = _post_unsigned(api, TOKEN_PATH, _token_body(name, password, domain, project_id), {})
    assert status == 201
    token = headers["X-Subject-Token"]
    world.credentials.append(Secret("token", token.encode(), windowed=False))  # its claims are not secret
    world.credentials.append(Secret("token MAC", token.rsplit(".", 1)[1].encode()))
    payload = {"key_id": world.key_ids["AES_256"], "datakey_length": "256"}
    status, _, created = _post_unsigned(api, api.path("create-datakey"), payload, {"X-Auth-Token": token})
    assert status == 200, created
    world.data_keys.append(Secret("AES_256/256/token", bytes.fromhex(created["plain_text"])))


@pytest.fixture(scope="module")
def world(module_server: Any, raw_api_factory: Any, credentials: Any, skms_cli: Any) -> World:
    """Keys of every spec and data keys made over HTTP, credentials made and used; the data dir
    snapshotted live and stopped."""
    world = World(data_dir=module_server.data_dir, project_id=credentials.project_id)
    api = raw_api_factory(module_server.base_url)
    _populate(api, world)
    _use_credentials(module_server, skms_cli, api, credentials, world)
    # While the server runs (the WAL holds the recent writes) ...
    world.snapshots["running"] = snapshot(world.data_dir)
    # ... and after a graceful stop (checkpointed into the main file)
    exit_code, needed_kill = module_server.stop()
    assert (exit_code, needed_kill) == (0, False), module_server.logs()
    world.snapshots["stopped"] = snapshot(world.data_dir)
    world.log_bytes = module_server.log_bytes()
    # Only now open the store: opening it may itself write to the files
    _read_materials(world)
    world.root_key = (world.data_dir / ROOT_KEY_FILE).read_bytes()
    return world


def leaks(haystacks: dict[str, bytes], secrets: Iterable[Secret]) -> list[str]:
    found = []
    for secret in secrets:
        for form, encoded in encodings(secret.value).items():
            for where, hay in haystacks.items():
                if any(needle in hay for needle in needles(encoded, secret.windowed)):
                    found.append(f"{secret.name} as {form} in {where}")
    return found


def _all_files(world: World) -> dict[str, bytes]:
    return {f"{when}:{name}": data for when, files in world.snapshots.items() for name, data in files.items()}


# -- the scan sees what it should ----------------------------------------------------------------


def test_the_scan_covers_the_store(world: World) -> None:
    # Positive control: the records themselves (key ids, aliases) are in the scanned bytes
    for when, files in world.snapshots.items():
        everything = b"".join(files.values())
        for key_id in world.key_ids.values():
            assert key_id.encode() in everything, (when, key_id)
        for alias in world.aliases:
            assert alias.encode() in everything, (when, alias)
    assert len(world.materials) >= len(ALL_KEY_SPECS)
    assert len(world.data_keys) == 17
    assert len(world.pair_keys) >= 3 * len(PAIRS)
    # And the access keys' records (by their public ids)
    for when, files in world.snapshots.items():
        everything = b"".join(files.values())
        for access_key in world.access_keys:
            assert access_key.encode() in everything, (when, access_key)


def test_the_scan_finds_what_is_there(world: World) -> None:
    # Positive control of the detector: the wrapped materials are stored (as base64), so found
    stopped = world.snapshots["stopped"]
    for wrapped in world.wrapped:
        assert any("as base64 in " in hit for hit in leaks(stopped, [wrapped])), wrapped.name


# -- nothing in clear at rest --------------------------------------------------------------------


def test_no_key_material_in_the_data_dir(world: World) -> None:
    assert leaks(_all_files(world), world.materials) == []


def test_no_data_key_in_the_data_dir(world: World) -> None:
    assert leaks(_all_files(world), world.data_keys) == []


def test_no_data_key_pair_private_key_in_the_data_dir(world: World) -> None:
    assert leaks(_all_files(world), world.pair_keys) == []


def test_no_credential_in_the_data_dir(world: World) -> None:
    # Secret keys are stored wrapped, passwords hashed, tokens not at all
    assert len(world.credentials) == 6
    assert leaks(_all_files(world), world.credentials) == []


def test_no_root_key_in_the_other_files(world: World) -> None:
    assert leaks(_all_files(world), [Secret("root key", world.root_key)]) == []


def test_data_dir_and_root_key_are_private(world: World) -> None:
    assert stat.S_IMODE(world.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((world.data_dir / ROOT_KEY_FILE).stat().st_mode) == 0o600


# -- nothing in the logs -------------------------------------------------------------------------


def test_logs_were_captured(world: World) -> None:
    logs = world.log_bytes.decode()
    assert "skms listening" in logs
    assert logs.count('"operation":"create-datakey"') >= 8
    # Positive control of the search: what logs may carry (the key id of a data-key request) is found
    for spec in SYMMETRIC_SPECS:
        assert world.key_ids[spec] in logs


def test_no_secret_in_the_logs(world: World) -> None:
    logs = {"logs": world.log_bytes}
    assert leaks(logs, world.materials) == []
    assert leaks(logs, world.data_keys) == []
    assert leaks(logs, world.pair_keys) == []
    assert leaks(logs, [Secret("root key", world.root_key)]) == []
    assert leaks(logs, world.credentials) == []


def test_no_cipher_text_in_the_logs(world: World) -> None:
    # skms.observability: logs never carry ciphertexts either
    assert [c[:16] for c in world.cipher_texts if c.encode() in world.log_bytes] == []
    assert [c[:16] for c in world.cipher_texts if c.lower().encode() in world.log_bytes] == []
