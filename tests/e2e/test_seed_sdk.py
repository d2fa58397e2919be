"""Seeded keys (``KMS_SEED_FILE`` / ``skms serve --seed-file``; issue 14 item 4) through the
official SDK: a ciphertext made against a seeded key decrypts again after the data dir is wiped
and the server starts from the same seed, and on a fresh server (a new table on DynamoDB) seeded
from it."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from huaweicloudsdkkms.v2 import (
    DecryptDataRequest,
    DecryptDataRequestBody,
    EncryptDataRequest,
    EncryptDataRequestBody,
    KmsClient,
    ListKeyDetailRequest,
    OperateKeyRequestBody,
)

from tests.e2e.conftest import SdkFactory, ServerFactory
from tests.support.secret_scan import REGISTRY

pytestmark = pytest.mark.e2e

KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"


def _seed_file(tmp_path: Path) -> Path:
    material = os.urandom(32)
    REGISTRY.add("seeded key material", material)
    path = tmp_path / "seed.yaml"
    path.write_text(
        f"""\
keys:
  - key_id: {KEY_ID}
    key_alias: orders
    key_spec: AES_256
    material: {base64.b64encode(material).decode("ascii")}
    aliases: [alias/orders]
    tags: {{env: test}}
""",
        encoding="utf-8",
    )
    return path


def _decrypt(client: KmsClient, cipher_text: str) -> str:
    plain = client.decrypt_data(
        DecryptDataRequest(body=DecryptDataRequestBody(cipher_text=cipher_text))
    ).plain_text
    assert isinstance(plain, str)
    return plain


def test_a_seeded_key_survives_a_wiped_data_dir(
    tmp_path: Path, start_server: ServerFactory, sdk_client_factory: SdkFactory
) -> None:
    # Given a server started from a seed file (the key in the bootstrap project)
    seed = _seed_file(tmp_path)
    server = start_server(name="seeded", env={"KMS_SEED_FILE": str(seed)})
    client = sdk_client_factory(server.base_url)
    details = client.list_key_detail(ListKeyDetailRequest(body=OperateKeyRequestBody(key_id=KEY_ID))).key_info
    assert (details.key_alias, details.key_spec, details.key_state) == ("orders", "AES_256", "2")
    # And a ciphertext made against it, through its alias object
    body = EncryptDataRequestBody(key_id="alias/orders", plain_text="made before the wipe")
    cipher_text = client.encrypt_data(EncryptDataRequest(body=body)).cipher_text
    # When the server stops, its data dir is wiped, and it starts again from the same seed
    server.stop()
    shutil.rmtree(server.data_dir)
    server.start()
    # Then the ciphertext decrypts
    assert _decrypt(sdk_client_factory(server.base_url), cipher_text) == "made before the wipe"
    # And a fresh server (a new data dir; a new table on DynamoDB) seeded from the file decrypts it too
    fresh = start_server(name="fresh", env={"KMS_SEED_FILE": str(seed)})
    assert _decrypt(sdk_client_factory(fresh.base_url), cipher_text) == "made before the wipe"
