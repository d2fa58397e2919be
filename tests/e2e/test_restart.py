"""Keys and their data keys survive a restart of ``skms serve`` on the same data dir.

Two ways down: a graceful SIGTERM, and a SIGKILL right after the last successful response (a crash:
nothing flushed at shutdown). Clients of the SDK are rebuilt after the restart (new port).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateDatakeyRequest,
    CreateDatakeyRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DecryptDatakeyRequest,
    DecryptDatakeyRequestBody,
    KmsClient,
)

pytestmark = pytest.mark.e2e

# Symmetric keys get data keys; the asymmetric ones must simply still exist (and still refuse).
SPECS: list[tuple[str, str | None]] = [
    ("AES_256", None),
    ("SM4", None),
    ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("EC_P256", "SIGN_VERIFY"),
    ("SM2", "ENCRYPT_DECRYPT"),
]
SYMMETRIC = {"AES_256", "SM4"}


@dataclass(frozen=True)
class DataKey:
    key_id: str
    plain_text: str
    cipher_text: str
    length_bytes: str
    aad: str | None


@dataclass
class Fixture:
    aliases: dict[str, str]  # spec -> alias
    key_ids: dict[str, str]  # spec -> key id
    data_keys: list[DataKey]


def _populate(client: KmsClient) -> Fixture:
    """Keys of several specs, and data keys of several lengths, with and without AAD."""
    aliases, key_ids, data_keys = {}, {}, []
    for spec, usage in SPECS:
        alias = f"restart-{spec.lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        body = CreateKeyRequestBody(key_alias=alias, key_spec=spec, key_usage=usage)
        aliases[spec] = alias
        key_ids[spec] = client.create_key(CreateKeyRequest(body=body)).key_info.key_id
    for spec in sorted(SYMMETRIC):
        for bits, aad in (("512", None), ("256", "tenant=a"), ("8", None), ("8192", "x" * 128)):
            body = CreateDatakeyRequestBody(
                key_id=key_ids[spec], datakey_length=bits, additional_authenticated_data=aad
            )
            created = client.create_datakey(CreateDatakeyRequest(body=body))
            data_keys.append(
                DataKey(key_ids[spec], created.plain_text, created.cipher_text, str(int(bits) // 8), aad)
            )
    return Fixture(aliases, key_ids, data_keys)


def _decrypt(client: KmsClient, data_key: DataKey) -> Any:
    body = DecryptDatakeyRequestBody(
        key_id=data_key.key_id,
        cipher_text=data_key.cipher_text,
        datakey_cipher_length=data_key.length_bytes,
        additional_authenticated_data=data_key.aad,
    )
    return client.decrypt_datakey(DecryptDatakeyRequest(body=body))


def _check_everything_survived(client: KmsClient, state: Fixture) -> None:
    # Every data key decrypts to the plaintext it was created with
    for data_key in state.data_keys:
        assert _decrypt(client, data_key).data_key == data_key.plain_text
    # Every alias is still taken
    for spec, alias in state.aliases.items():
        with pytest.raises(ClientRequestException) as caught:
            client.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias)))
        assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.1104"), spec
    # The keys still work for new data keys, or still refuse them (asymmetric: not "unknown key")
    for spec, key_id in state.key_ids.items():
        body = CreateDatakeyRequestBody(key_id=key_id, datakey_length="512")
        if spec in SYMMETRIC:
            created = client.create_datakey(CreateDatakeyRequest(body=body))
            fresh = DataKey(key_id, created.plain_text, created.cipher_text, "64", None)
            assert _decrypt(client, fresh).data_key == created.plain_text
        else:
            with pytest.raises(ClientRequestException) as caught:
                client.create_datakey(CreateDatakeyRequest(body=body))
            assert (caught.value.status_code, caught.value.error_code) == (400, "KMS.0325"), spec


def test_keys_and_data_keys_survive_sigterm(
    start_server: Callable[..., Any], sdk_client_factory: Callable[..., KmsClient]
) -> None:
    # Given keys and data keys made on one server
    server = start_server("sigterm")
    state = _populate(sdk_client_factory(server.base_url))
    # When it is stopped with SIGTERM
    exit_code, needed_kill = server.stop()
    assert not needed_kill, "the server did not exit on SIGTERM"
    assert exit_code == 0, server.logs()
    # And a new one starts on the same data dir
    server.start()
    # Then everything is still there
    _check_everything_survived(sdk_client_factory(server.base_url), state)


def test_keys_and_data_keys_survive_sigkill(
    start_server: Callable[..., Any], sdk_client_factory: Callable[..., KmsClient]
) -> None:
    # Given keys and data keys made on one server
    server = start_server("sigkill")
    client = sdk_client_factory(server.base_url)
    state = _populate(client)
    # And one more key whose response was the very last thing the server did
    last_alias = f"restart-last-{uuid.uuid4().hex[:8]}"
    last = client.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=last_alias)))
    state.aliases["last"] = last_alias
    # When it is killed right after that successful response (no shutdown code runs)
    server.kill()
    # And a new one starts on the same data dir
    server.start()
    # Then everything is still there, the last key included
    client = sdk_client_factory(server.base_url)
    _check_everything_survived(client, state)
    body = CreateDatakeyRequestBody(key_id=last.key_info.key_id, datakey_length="512")
    assert len(client.create_datakey(CreateDatakeyRequest(body=body)).plain_text) == 128


def test_restart_twice_keeps_data_keys(
    start_server: Callable[..., Any], sdk_client_factory: Callable[..., KmsClient]
) -> None:
    # Given a data key made before any restart
    server = start_server("twice")
    client = sdk_client_factory(server.base_url)
    alias = f"restart-twice-{uuid.uuid4().hex[:8]}"
    key_id = client.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias))).key_info.key_id
    created = client.create_datakey(
        CreateDatakeyRequest(body=CreateDatakeyRequestBody(key_id=key_id, datakey_length="512"))
    )
    data_key = DataKey(key_id, created.plain_text, created.cipher_text, "64", None)
    # When the server is restarted twice, once gracefully and once by a crash
    server.restart()
    assert _decrypt(sdk_client_factory(server.base_url), data_key).data_key == data_key.plain_text
    server.restart(kill=True)
    # Then the data key still decrypts, and the server logged each start
    assert _decrypt(sdk_client_factory(server.base_url), data_key).data_key == data_key.plain_text
    assert server.logs().count("skms listening") == 3
