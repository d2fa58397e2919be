"""Seeded keys (skms.local.seed; issue 14 item 4): the file's format, its errors naming the
entry, keys created exactly as described and existing ones left alone, and ciphertexts that open
again on a fresh data dir seeded from the same file."""

from __future__ import annotations

import base64
import os
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from skms.caller import Caller
from skms.cli import main
from skms.config import Settings
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import KeyState
from skms.local.seed import SeedError, apply_seeds, load_seed_file, seed_keys
from skms.logic.data import decrypt_data, encrypt_data
from skms.logic.signing import sign
from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody
from skms.models.signing import SignRequestBody
from skms.runtime import Services
from tests.conftest import make_services

KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
EC_KEY_ID = "1d0466b0-e727-4d9c-b35d-f84bb474a37f"
MATERIAL = bytes(range(32))
EC_PRIVATE = ec.generate_private_key(ec.SECP256R1())
EC_PEM = EC_PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode("ascii")


def _seed_file(tmp_path: Path, project_id: str, text: str | None = None) -> Path:
    path = tmp_path / "seed.yaml"
    pem = textwrap.indent(EC_PEM, " " * 10)
    path.write_text(
        text
        or f"""\
keys:
  - key_id: {KEY_ID}
    project_id: {project_id}
    key_alias: orders
    key_spec: AES_256
    material: {base64.b64encode(MATERIAL).decode()}
    aliases: [alias/orders]
    tags: {{env: test}}
  - key_id: {EC_KEY_ID}
    project_id: {project_id}
    key_spec: EC_P256
    key_state: "3"
    private_key_pem: |
{pem}
""",
        encoding="utf-8",
    )
    return path


def test_seeded_keys_are_created_as_described(services: Services, caller: Caller, tmp_path: Path) -> None:
    # Given a seed file with an AES key (material, alias object, tags) and a disabled EC key
    path = _seed_file(tmp_path, caller.project_id)
    # When it is applied
    result = seed_keys(services, path, {})
    # Then both keys exist as described
    assert result.created == (KEY_ID, EC_KEY_ID)
    aes = services.stores.keys.get_key(caller.project_id, KEY_ID)
    ec_key = services.stores.keys.get_key(caller.project_id, EC_KEY_ID)
    assert aes is not None
    assert ec_key is not None
    assert (aes.key_alias, aes.key_spec, aes.key_usage, aes.key_state) == (
        "orders",
        KeySpec.AES_256,
        KeyUsage.ENCRYPT_DECRYPT,
        KeyState.ENABLED,
    )
    assert (ec_key.key_alias, ec_key.key_usage, ec_key.key_state) == (
        f"seed-{EC_KEY_ID[:8]}",
        KeyUsage.SIGN_VERIFY,
        KeyState.DISABLED,
    )
    assert ec_key.public_key_pem is not None
    public = serialization.load_pem_public_key(ec_key.public_key_pem.encode("ascii"))
    assert public.public_numbers() == EC_PRIVATE.public_key().public_numbers()  # type: ignore[union-attr]
    alias = services.stores.aliases.get_alias(services.settings.domain_id, "alias/orders")
    assert alias is not None
    assert alias.key_id == KEY_ID
    assert services.stores.tags.get_tags(caller.project_id, KEY_ID) == {"env": "test"}
    # And the material is stored only wrapped
    stored = b"".join(p.read_bytes() for p in services.settings.data_dir.rglob("*") if p.is_file())
    assert MATERIAL not in stored


def test_existing_keys_are_left_alone(services: Services, caller: Caller, tmp_path: Path) -> None:
    path = _seed_file(tmp_path, caller.project_id)
    seed_keys(services, path, {})
    before = services.stores.keys.get_key(caller.project_id, KEY_ID)
    result = seed_keys(services, path, {})
    assert (result.created, result.existing) == ((), (KEY_ID, EC_KEY_ID))
    assert services.stores.keys.get_key(caller.project_id, KEY_ID) == before


def test_a_ciphertext_opens_on_a_fresh_data_dir_seeded_from_the_same_file(
    services: Services, caller: Caller, tmp_path: Path
) -> None:
    # Given a ciphertext made under a seeded key
    path = _seed_file(tmp_path, caller.project_id)
    seed_keys(services, path, {})
    body = EncryptDataRequestBody(key_id=KEY_ID, plain_text=SecretStr("kept"))
    cipher_text = encrypt_data(body, caller, services).cipher_text
    # When another data dir (another root key, empty store) is seeded from the same file
    fresh_settings = Settings(data_dir=tmp_path / "fresh")
    fresh_settings.data_dir.mkdir()
    fresh = make_services(fresh_settings)
    seed_keys(fresh, path, {"HUAWEICLOUD_SDK_DOMAIN_ID": caller.domain_id})  # the aliases' domain
    # Then the ciphertext opens there, by the key id and through the alias alike
    plain = decrypt_data(DecryptDataRequestBody(cipher_text=cipher_text), caller, fresh).plain_text
    assert plain.get_secret_value() == "kept"
    by_alias = EncryptDataRequestBody(key_id="alias/orders", plain_text=SecretStr("again"))
    assert encrypt_data(by_alias, caller, fresh).key_id == KEY_ID


def test_the_seeded_private_key_signs(services: Services, caller: Caller, tmp_path: Path) -> None:
    path = _seed_file(tmp_path, caller.project_id)
    text = path.read_text(encoding="utf-8").replace('key_state: "3"', 'key_state: "2"')
    path.write_text(text, encoding="utf-8")
    seed_keys(services, path, {})
    body = SignRequestBody(
        key_id=EC_KEY_ID,
        message=base64.b64encode(b"seeded").decode(),
        signing_algorithm="ECDSA_SHA_256",
        message_type="RAW",
    )
    signature = base64.b64decode(sign(body, caller, services).signature)
    EC_PRIVATE.public_key().verify(signature, b"seeded", ec.ECDSA(hashes.SHA256()))


def test_the_default_project_is_the_bootstrap_one(services: Services, tmp_path: Path) -> None:
    path = _seed_file(tmp_path, "unused", f"keys:\n  - key_id: {KEY_ID}\n")
    seed_keys(services, path, {"HUAWEICLOUD_SDK_PROJECT_ID": "p" * 32})
    assert services.stores.keys.get_key("p" * 32, KEY_ID) is not None


ENTRY = f"keys:\n  - key_id: {KEY_ID}\n    project_id: p1\n"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("keys: [", "not valid YAML at line"),
        ("other: []", "expected a mapping with a list under keys"),
        ("keys:\n  - key_spec: AES_256\n", "keys[0]: key_id is required"),
        ("keys:\n  - key_id: NOT-A-UUID\n", "keys[0]: key_id must be a lowercase UUID"),
        (ENTRY + "    key_spec: AES_512\n", f"keys[0] (key_id {KEY_ID}): unknown key_spec"),
        (ENTRY + "    material: AAAA\n", "AES_256 material must be 32 bytes"),
        (ENTRY + "    material: '%%%'\n", "material is not valid Base64"),
        (
            ENTRY + "    key_spec: EC_P256\n    private_key_pem: nonsense\n",
            "not an unencrypted EC_P256 private key",
        ),
        (
            ENTRY + "    key_spec: EC_P384\n    private_key_pem: |\n" + textwrap.indent(EC_PEM, " " * 6),
            "EC_P384",
        ),
        (ENTRY + "    key_spec: EC_P256\n    material: AAAA\n", "takes private_key_pem, not material"),
        (ENTRY + '    key_state: "4"\n', "key_state must be"),
        (ENTRY + "    key_usage: SIGN_VERIFY\n", "key_usage SIGN_VERIFY is not valid for key_spec AES_256"),
        (ENTRY + "    aliases: [orders]\n", "aliases must be a list of names alias/"),
        (ENTRY + "    tags: {'a=b': x}\n", "A tag key must not contain"),
        (ENTRY + "    colour: blue\n", "unknown field(s) colour"),
        (ENTRY + ENTRY.removeprefix("keys:\n"), "keys[1] (key_id " + KEY_ID + "): the key is seeded twice"),
    ],
)
def test_a_bad_seed_file_is_an_error_naming_the_entry(tmp_path: Path, text: str, names: str) -> None:
    path = _seed_file(tmp_path, "p1", text)
    with pytest.raises(SeedError) as raised:
        load_seed_file(path, None)
    assert names in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_missing_project_without_bootstrap_is_an_error(tmp_path: Path) -> None:
    path = _seed_file(tmp_path, "", f"keys:\n  - key_id: {KEY_ID}\n")
    with pytest.raises(SeedError, match="project_id is required"):
        load_seed_file(path, None)


def test_the_error_never_shows_the_material(tmp_path: Path) -> None:
    secret = base64.b64encode(os.urandom(31)).decode()
    path = _seed_file(tmp_path, "p1", ENTRY + f"    material: {secret}\n")
    with pytest.raises(SeedError) as raised:
        load_seed_file(path, None)
    assert secret not in str(raised.value)


def test_a_taken_alias_stops_the_seed(services: Services, caller: Caller, tmp_path: Path) -> None:
    path = _seed_file(tmp_path, caller.project_id)
    seed_keys(services, path, {})
    other_id = "2" + KEY_ID[1:]
    other = (
        f"keys:\n  - key_id: {other_id}\n    project_id: {caller.project_id}\n    aliases: [alias/orders]\n"
    )
    seeds = load_seed_file(_seed_file(tmp_path, caller.project_id, other), None)
    with pytest.raises(SeedError, match="alias alias/orders already exists"):
        apply_seeds(services, seeds, services.settings.domain_id)


def test_skms_serve_refuses_a_bad_seed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _seed_file(tmp_path, "p1", ENTRY + "    key_spec: NOPE\n")
    # (serve writes its options into the environment: these restore it afterwards)
    monkeypatch.setenv("KMS_SEED_FILE", str(path))
    monkeypatch.setenv("KMS_DATA_DIR", str(tmp_path / "data"))
    for name in ("KMS_STORAGE", "KMS_ROOT_KEY", "KMS_TABLE_NAME"):
        monkeypatch.delenv(name, raising=False)
    code = main(["serve", "--data-dir", str(tmp_path / "data"), "--port", "0", "--seed-file", str(path)])
    assert code == 2
    assert f"keys[0] (key_id {KEY_ID}): unknown key_spec" in capsys.readouterr().err
