"""The rotation matrix (in the manner of Tink's keyset tests): which versions of a key open which
ciphertexts, in every state of the key, for every operation that opens a ciphertext.

A key is rotated twice, and under each of its versions (0, 1, 2) a ciphertext is made for each
operation. The key is then put in a state (enabled; enabled with version 1 destroyed; disabled;
pending deletion; deleted) and every ciphertext is opened. The expectations are written out here,
independently of the gate's tables: an enabled key opens what every live version made; a destroyed
version opens nothing (KMS.2201, one opaque error), its neighbours still do; a disabled key is
KMS.0209, one pending deletion KMS.0210, a deleted one KMS.0207 (§F1), whatever the version.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import blob
from skms.domain import KeyVersion, KeyVersions, VersionState
from skms.logic.create_key import create_key
from skms.logic.data import decrypt_data, encrypt_data, re_encrypt
from skms.logic.datakeys import create_datakey, decrypt_datakey
from skms.logic.keys import disable_key, schedule_key_deletion
from skms.logic.rotation import rotate_on_demand, show_key_rotation_status
from skms.logic.sweep import sweep
from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody, ReEncryptRequestBody
from skms.models.datakeys import CreateDatakeyRequestBody, DecryptDatakeyRequestBody
from skms.models.keys import CreateKeyRequestBody
from skms.models.lifecycle import OperateKeyRequestBody, ScheduleKeyDeletionRequestBody
from skms.models.rotation import RotateOnDemandRequestBody
from skms.runtime import Services

VERSIONS = (0, 1, 2)
OK = "ok"
STATES = ("enabled", "v1-destroyed", "disabled", "pending-deletion", "deleted")
OPERATIONS = ("decrypt-data", "decrypt-datakey", "re-encrypt")

# state -> (outcome for ciphertexts of version 0, 1, 2)
EXPECTED: dict[str, tuple[str, str, str]] = {
    "enabled": (OK, OK, OK),
    "v1-destroyed": (OK, "KMS.2201", OK),
    "disabled": ("KMS.0209", "KMS.0209", "KMS.0209"),
    "pending-deletion": ("KMS.0210", "KMS.0210", "KMS.0210"),
    "deleted": ("KMS.0207", "KMS.0207", "KMS.0207"),
}


@dataclass(frozen=True)
class Made:
    """What version ``version`` of the key made: an encrypt-data ciphertext and a data key."""

    version: int
    text: str
    data_cipher: str
    datakey_cipher: str
    datakey_plain: str


@dataclass(frozen=True)
class RotatedKey:
    key_id: str
    destination_id: str
    made: dict[int, Made]


def _version(raw: bytes) -> int:
    return blob.read_header(raw).key_version


def _rotated_key(services: Services, caller: Caller) -> RotatedKey:
    key_id = create_key(CreateKeyRequestBody(key_alias="rotating"), caller, services).key_info.key_id
    destination_id = create_key(
        CreateKeyRequestBody(key_alias="destination"), caller, services
    ).key_info.key_id
    made: dict[int, Made] = {}
    for version in VERSIONS:
        if version:
            rotate_on_demand(RotateOnDemandRequestBody(key_id=key_id), caller, services)
        text = f"made by version {version}"
        data = encrypt_data(
            EncryptDataRequestBody(key_id=key_id, plain_text=SecretStr(text)), caller, services
        )
        datakey = create_datakey(CreateDatakeyRequestBody(key_id=key_id), caller, services)
        # the newest version encrypts
        assert _version(base64.b64decode(data.cipher_text)) == version
        assert _version(bytes.fromhex(datakey.cipher_text)) == version
        made[version] = Made(
            version, text, data.cipher_text, datakey.cipher_text, datakey.plain_text.get_secret_value()
        )
    return RotatedKey(key_id, destination_id, made)


def _put_in_state(services: Services, caller: Caller, key: RotatedKey, state: str) -> None:
    okb = OperateKeyRequestBody(key_id=key.key_id)
    if state == "v1-destroyed":
        record = services.stores.keys.get_key(caller.project_id, key.key_id)
        assert record is not None
        v0, v1, v2 = record.versions.versions
        destroyed = KeyVersion(v1.number, v1.created_at, VersionState.DESTROYED, bound=v1.bound)
        services.stores.keys.update_key(
            record.replace(versions=KeyVersions(2, (v0, destroyed, v2))), record.revision
        )
        # its material may still be in this warm process's cache: the keyring must not use it
    elif state == "disabled":
        disable_key(okb, caller, services)
    elif state in ("pending-deletion", "deleted"):
        schedule_key_deletion(
            ScheduleKeyDeletionRequestBody(key_id=key.key_id, pending_days="7"), caller, services
        )
        if state == "deleted":
            assert sweep(services, now=2**42).deleted == 1


def _open(services: Services, caller: Caller, key: RotatedKey, made: Made, operation: str) -> None:
    """Open what ``made`` holds by ``operation``; check the plaintext that comes out."""
    if operation == "decrypt-data":
        opened = decrypt_data(DecryptDataRequestBody(cipher_text=made.data_cipher), caller, services)
        assert opened.plain_text.get_secret_value() == made.text
    elif operation == "decrypt-datakey":
        request = DecryptDatakeyRequestBody(
            key_id=key.key_id, cipher_text=made.datakey_cipher, datakey_cipher_length="32"
        )
        assert decrypt_datakey(request, caller, services).data_key.get_secret_value() == made.datakey_plain
    else:
        moved = re_encrypt(
            ReEncryptRequestBody(cipher_text=made.data_cipher, destination_key_id=key.destination_id),
            caller,
            services,
        )
        back = decrypt_data(DecryptDataRequestBody(cipher_text=moved.cipher_text), caller, services)
        assert back.plain_text.get_secret_value() == made.text


def _opener(
    services: Services, caller: Caller, key: RotatedKey, made: Made, operation: str
) -> Callable[[], None]:
    return lambda: _open(services, caller, key, made, operation)


def _outcome(action: Callable[[], None]) -> str:
    try:
        action()
    except errors.KmsError as error:
        return error.code
    return OK


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("state", STATES)
def test_rotation_matrix(memory_services: Services, caller: Caller, state: str, operation: str) -> None:
    # Given a key rotated twice, a ciphertext and a data key made under each version, all opened
    # once (so every version's material is in the warm cache)
    key = _rotated_key(memory_services, caller)
    for made in key.made.values():
        _open(memory_services, caller, key, made, operation)
    # When the key is put in the state
    _put_in_state(memory_services, caller, key, state)
    # Then each version's ciphertexts open, or fail with the code, the matrix says
    outcomes = tuple(
        _outcome(_opener(memory_services, caller, key, made, operation)) for made in key.made.values()
    )
    assert outcomes == EXPECTED[state]


def test_a_destroyed_version_is_not_listed_among_the_key_materials(
    memory_services: Services, caller: Caller
) -> None:
    key = _rotated_key(memory_services, caller)
    _put_in_state(memory_services, caller, key, "v1-destroyed")
    status = show_key_rotation_status(OperateKeyRequestBody(key_id=key.key_id), caller, memory_services)
    assert status.number_of_rotations == 2
    assert len(status.key_materials) == 2
