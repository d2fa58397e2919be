"""The one gate for using a key (skms.logic.gate) and the versions behind it (KeyVersions, Keyring).

The expectations here are written from the spec's point of view (which §F2 code a user sees when
they ask a key of some kind, in some state, to do something), independently of the gate's tables.
"""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest
from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import aead, blob
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import (
    InvalidVersions,
    KeyRecord,
    KeyState,
    KeyVersion,
    KeyVersions,
    Origin,
    VersionState,
)
from skms.keyring import key_binding
from skms.logic.data import decrypt_data, encrypt_data, re_encrypt
from skms.logic.datakeys import decrypt_datakey
from skms.logic.gate import Use, open_key
from skms.models.data import DecryptDataRequestBody, EncryptDataRequestBody, ReEncryptRequestBody
from skms.models.datakeys import DecryptDatakeyRequestBody
from skms.runtime import Services
from skms.storage import codec

OK = None
KINDS: dict[str, tuple[KeySpec, KeyUsage]] = {
    "aes": (KeySpec.AES_256, KeyUsage.ENCRYPT_DECRYPT),
    "sm4": (KeySpec.SM4, KeyUsage.ENCRYPT_DECRYPT),
    "rsa-encrypt": (KeySpec.RSA_2048, KeyUsage.ENCRYPT_DECRYPT),
    "sm2-encrypt": (KeySpec.SM2, KeyUsage.ENCRYPT_DECRYPT),
    "rsa-sign": (KeySpec.RSA_3072, KeyUsage.SIGN_VERIFY),
    "sm2-sign": (KeySpec.SM2, KeyUsage.SIGN_VERIFY),
    "ec-sign": (KeySpec.EC_P256, KeyUsage.SIGN_VERIFY),
    "k1-sign": (KeySpec.SECP256K1, KeyUsage.SIGN_VERIFY),
    "ed25519": (KeySpec.ED25519, KeyUsage.SIGN_VERIFY),
    "ec-agree": (KeySpec.EC_P384, KeyUsage.KEY_AGREEMENT),
    "hmac": (KeySpec.HMAC_256, KeyUsage.GENERATE_VERIFY_MAC),
}

# kind -> the code each use answers (None: the key may be used so). Spec §F2:
# 0325 not for asymmetric keys, 0331 not for symmetric keys, 0332 algorithm unsupported,
# 0334 an ENCRYPT_DECRYPT key, 0335 a SIGN_VERIFY key, 0341 not for HMAC keys,
# 1114 EC keys cannot encrypt, 1115 symmetric keys cannot sign.
EXPECTED: dict[str, dict[Use, str | None]] = {
    "aes": {
        Use.ENCRYPT: OK,
        Use.DATA_KEY: OK,
        Use.SIGN: "KMS.1115",
        Use.PUBLIC_KEY: "KMS.0331",
        Use.MAC: "KMS.0334",
        Use.AGREE: "KMS.0331",
    },
    "rsa-encrypt": {
        Use.ENCRYPT: OK,
        Use.DATA_KEY: "KMS.0325",
        Use.SIGN: "KMS.0334",
        Use.PUBLIC_KEY: OK,
        Use.MAC: "KMS.0334",
        Use.AGREE: "KMS.0334",
    },
    "rsa-sign": {
        Use.ENCRYPT: "KMS.0335",
        Use.DATA_KEY: "KMS.0325",
        Use.SIGN: OK,
        Use.PUBLIC_KEY: OK,
        Use.MAC: "KMS.0335",
        Use.AGREE: "KMS.0335",
    },
    "ec-sign": {
        Use.ENCRYPT: "KMS.1114",
        Use.DATA_KEY: "KMS.0325",
        Use.SIGN: OK,
        Use.PUBLIC_KEY: OK,
        Use.MAC: "KMS.0335",
        Use.AGREE: "KMS.0335",
    },
    "ed25519": {
        Use.ENCRYPT: "KMS.0335",
        Use.DATA_KEY: "KMS.0325",
        Use.SIGN: OK,
        Use.PUBLIC_KEY: OK,
        Use.MAC: "KMS.0335",
        Use.AGREE: "KMS.0335",
    },
    "ec-agree": {
        Use.ENCRYPT: "KMS.1114",
        Use.DATA_KEY: "KMS.0325",
        Use.SIGN: "KMS.0332",
        Use.PUBLIC_KEY: OK,
        Use.MAC: "KMS.0332",
        Use.AGREE: OK,
    },
    "hmac": {
        Use.ENCRYPT: "KMS.0341",
        Use.DATA_KEY: "KMS.0341",
        Use.SIGN: "KMS.0341",
        Use.PUBLIC_KEY: "KMS.0341",
        Use.MAC: OK,
        Use.AGREE: "KMS.0341",
    },
}
EXPECTED["sm4"] = EXPECTED["aes"]
EXPECTED["sm2-encrypt"] = EXPECTED["rsa-encrypt"]
EXPECTED["sm2-sign"] = EXPECTED["rsa-sign"]
EXPECTED["k1-sign"] = EXPECTED["ec-sign"]

# state -> the code every cryptographic use answers (§F1).
STATE_CODES: dict[KeyState, str | None] = {
    KeyState.ENABLED: OK,
    KeyState.DISABLED: "KMS.0209",
    KeyState.PENDING_DELETION: "KMS.0210",
    KeyState.FROZEN: "KMS.0320",
    KeyState.PENDING_ACTIVATION: "KMS.1301",
    KeyState.PENDING_IMPORT: "KMS.1301",
}
CRYPTO_USES = [Use.ENCRYPT, Use.DATA_KEY, Use.SIGN, Use.PUBLIC_KEY, Use.MAC, Use.AGREE]


def _record(caller: Caller, kind: str, state: KeyState = KeyState.ENABLED, **changes: object) -> KeyRecord:
    spec, usage = KINDS[kind]
    record = KeyRecord(
        project_id=caller.project_id,
        key_id=str(uuid.uuid4()),
        domain_id=caller.domain_id,
        key_alias=f"gate-{uuid.uuid4().hex[:8]}",
        key_spec=spec,
        key_usage=usage,
        key_state=state,
        origin=Origin.KMS,
        creation_date=1_700_000_000_000,
        versions=KeyVersions.first(b"wrapped-material-placeholder", 1_700_000_000_000),
    )
    return record.replace(**changes) if changes else record


def _stored(services: Services, record: KeyRecord) -> str:
    services.stores.keys.create_key(record)
    return record.key_id


def _code_of(services: Services, caller: Caller, key_id: str, use: Use) -> str | None:
    try:
        open_key(services, caller, key_id, use)
    except errors.KmsError as exc:
        return exc.code
    return OK


def test_every_kind_of_key_has_an_expectation() -> None:
    assert set(EXPECTED) == set(KINDS)
    assert all(set(codes) == set(CRYPTO_USES) for codes in EXPECTED.values())


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("use", CRYPTO_USES, ids=lambda use: use.value)
def test_capability_of_each_kind_of_key_for_each_use(
    memory_services: Services, caller: Caller, kind: str, use: Use
) -> None:
    # Given an enabled key of that kind / When it is opened for the use / Then the spec's answer
    key_id = _stored(memory_services, _record(caller, kind))
    assert _code_of(memory_services, caller, key_id, use) == EXPECTED[kind][use]


@pytest.mark.parametrize("state", list(STATE_CODES), ids=lambda state: f"state-{state.value}")
@pytest.mark.parametrize("use", CRYPTO_USES, ids=lambda use: use.value)
def test_state_is_checked_before_capability(
    memory_services: Services, caller: Caller, state: KeyState, use: Use
) -> None:
    # Given an HMAC key (which most uses refuse) in each state
    key_id = _stored(memory_services, _record(caller, "hmac", state))
    # When it is opened / Then a non-enabled key answers its state's code whatever the use
    expected = STATE_CODES[state] if state is not KeyState.ENABLED else EXPECTED["hmac"][use]
    assert _code_of(memory_services, caller, key_id, use) == expected


@pytest.mark.parametrize("state", list(STATE_CODES), ids=lambda state: f"state-{state.value}")
@pytest.mark.parametrize("use", [Use.DESCRIBE, Use.MANAGE], ids=lambda use: use.value)
def test_describe_and_manage_pass_every_live_state(
    memory_services: Services, caller: Caller, state: KeyState, use: Use
) -> None:
    key_id = _stored(memory_services, _record(caller, "hmac", state))
    assert _code_of(memory_services, caller, key_id, use) is OK


@pytest.mark.parametrize("use", list(Use), ids=lambda use: use.value)
def test_unknown_foreign_and_deleted_keys_are_not_found(
    memory_services: Services, caller: Caller, use: Use
) -> None:
    foreign = Caller(project_id="f" * 32, domain_id=caller.domain_id, request_id="r")
    theirs = _stored(memory_services, _record(foreign, "aes"))
    tombstone = _stored(memory_services, _record(caller, "aes", deleted_at=1_750_000_000_000))
    for key_id in (str(uuid.uuid4()), theirs, tombstone):
        assert _code_of(memory_services, caller, key_id, use) == "KMS.0207"


# --- versions -----------------------------------------------------------------------------------


def _live(number: int, wrapped: bytes = b"w") -> KeyVersion:
    return KeyVersion(number, 1_700_000_000_000 + number, VersionState.ENABLED, wrapped)


def _destroyed(number: int) -> KeyVersion:
    return KeyVersion(number, 1_700_000_000_000 + number, VersionState.DESTROYED)


@pytest.mark.parametrize(
    ("primary", "versions"),
    [
        (0, (_live(1), _live(0))),  # not ascending
        (1, (_live(1), _live(1))),  # duplicate
        (-1, (_live(-1),)),  # negative
        (0, (KeyVersion(0, 0, VersionState.ENABLED, b""),)),  # live without material
        (0, (KeyVersion(0, 0, VersionState.DESTROYED, b"w"),)),  # destroyed with material
        (3, (_live(0),)),  # primary missing
        (0, (_destroyed(0), _live(1))),  # primary destroyed while another is live
        (2, ()),  # no versions but a primary
    ],
    ids=[
        "unordered",
        "duplicate",
        "negative",
        "live-empty",
        "destroyed-held",
        "no-primary",
        "dead-primary",
        "phantom-primary",
    ],
)
def test_key_versions_refuse_broken_invariants(primary: int, versions: tuple[KeyVersion, ...]) -> None:
    with pytest.raises(InvalidVersions):
        KeyVersions(primary, versions)


def test_rotation_adds_a_primary_and_erasure_keeps_metadata() -> None:
    first = KeyVersions.first(b"v0", 10)
    rotated = first.rotated(b"v1", 20).rotated(b"v2", 30)
    assert rotated.primary == 2
    assert rotated.materials == {0: b"v0", 1: b"v1", 2: b"v2"}
    erased = rotated.erased()
    assert erased.materials == {}
    assert erased.primary_version is None
    assert [(v.number, v.created_at, v.state) for v in erased.versions] == [
        (0, 10, VersionState.DESTROYED),
        (1, 20, VersionState.DESTROYED),
        (2, 30, VersionState.DESTROYED),
    ]


def test_codec_round_trips_versions_and_reads_rows_without_version_metadata(caller: Caller) -> None:
    record = _record(caller, "aes").replace(
        versions=KeyVersions(2, (_destroyed(0), _live(1, b"one"), _live(2, b"two")))
    )
    assert codec.from_json(codec.to_json(record)) == record
    # A row written before version metadata existed: materials and current_version only
    legacy = json.loads(codec.to_json(record))
    del legacy["versions"]
    decoded = codec.from_json(json.dumps(legacy))
    assert decoded.versions.primary == 2
    assert decoded.materials == {1: b"one", 2: b"two"}
    assert all(v.created_at == record.creation_date for v in decoded.versions.versions)


def test_codec_refuses_a_row_whose_primary_lost_its_material(caller: Caller) -> None:
    document = json.loads(codec.to_json(_record(caller, "aes")))
    document["materials"] = {}
    with pytest.raises(InvalidVersions):
        codec.from_json(json.dumps(document))


def _versioned_key(services: Services, caller: Caller) -> tuple[KeyRecord, dict[int, bytes]]:
    """An AES key with version 0 destroyed, 1 live and 2 live and primary, with real wrapped material."""
    key_id = str(uuid.uuid4())
    materials = {n: os.urandom(32) for n in (0, 1, 2)}
    binding = key_binding(KeySpec.AES_256, KeyUsage.ENCRYPT_DECRYPT, None)
    wrapped = {
        n: services.keyring.wrap(caller.project_id, key_id, n, m, binding) for n, m in materials.items()
    }
    versions = KeyVersions(2, (_destroyed(0), _live(1, wrapped[1]), _live(2, wrapped[2])))
    record = _record(caller, "aes").replace(key_id=key_id, versions=versions)
    services.stores.keys.create_key(record)
    return record, materials


def test_the_primary_encrypts_and_only_live_versions_open(memory_services: Services, caller: Caller) -> None:
    record, materials = _versioned_key(memory_services, caller)
    key = open_key(memory_services, caller, record.key_id, Use.ENCRYPT)
    assert key.primary() == (2, materials[2])
    assert key.material(1) == materials[1]
    # version 0's material is still in the keyring's cache (wrap put it there) but it is destroyed
    for gone in (0, 3):
        with pytest.raises(errors.KmsError) as refused:
            key.material(gone)
        assert refused.value.code == "KMS.2201"


def _sealed(caller: Caller, key_id: str, version: int, material: bytes, text: bytes) -> str:
    cipher = blob.seal(
        suite=aead.Suite.AES_256_GCM,
        key=material,
        key_id=key_id,
        key_version=version,
        purpose=blob.Purpose.DATA,
        plaintext=text,
        bound=blob.binding(caller.project_id, None, b""),
    )
    return base64.b64encode(cipher).decode("ascii")


def test_encrypt_data_uses_the_primary_and_decrypt_data_any_live_version(
    memory_services: Services, caller: Caller
) -> None:
    record, materials = _versioned_key(memory_services, caller)
    # When data is encrypted / Then the ciphertext names the primary version
    reply = encrypt_data(
        EncryptDataRequestBody(key_id=record.key_id, plain_text=SecretStr("new")),
        caller,
        memory_services,
    )
    assert blob.read_header(base64.b64decode(reply.cipher_text)).key_version == 2
    # And a ciphertext of each version: version 1 (live) opens, version 0 (destroyed) does not
    for version, expected in ((1, "old"), (2, "new")):
        cipher = _sealed(caller, record.key_id, version, materials[version], expected.encode())
        body = DecryptDataRequestBody(cipher_text=cipher)
        assert decrypt_data(body, caller, memory_services).plain_text.get_secret_value() == expected
    destroyed = _sealed(caller, record.key_id, 0, materials[0], b"gone")
    with pytest.raises(errors.KmsError) as refused:
        decrypt_data(DecryptDataRequestBody(cipher_text=destroyed), caller, memory_services)
    assert refused.value.code == "KMS.2201"


def _sealed_v1(
    caller: Caller, key_id: str, version: int, material: bytes, purpose: blob.Purpose, text: bytes
) -> bytes:
    """A blob as stored before per-message keys: body version 1, GCM directly under the material."""
    return blob._seal_v1_with_nonce(
        suite=aead.Suite.AES_256_GCM,
        key=material,
        key_id=key_id,
        key_version=version,
        purpose=purpose,
        plaintext=text,
        bound=blob.binding(caller.project_id, None, b""),
        nonce=os.urandom(aead.NONCE_LEN),
    )


@pytest.mark.parametrize("version", [1, 2])
def test_body_version_1_blobs_of_any_live_version_still_open_and_re_encrypt_to_version_2(
    memory_services: Services, caller: Caller, version: int
) -> None:
    # Given encrypt-data and data-key blobs stored before per-message keys (body version 1)
    record, materials = _versioned_key(memory_services, caller)
    data = _sealed_v1(caller, record.key_id, version, materials[version], blob.Purpose.DATA, b"stored")
    data_key = os.urandom(32)
    datakey_blob = _sealed_v1(
        caller, record.key_id, version, materials[version], blob.Purpose.DATA_KEY, data_key
    )
    assert data[4] == datakey_blob[4] == blob.BODY_V1
    cipher_text = base64.b64encode(data).decode("ascii")
    # Then decrypt-data and decrypt-datakey open them
    reply = decrypt_data(DecryptDataRequestBody(cipher_text=cipher_text), caller, memory_services)
    assert reply.plain_text.get_secret_value() == "stored"
    opened = decrypt_datakey(
        DecryptDatakeyRequestBody(
            key_id=record.key_id, cipher_text=datakey_blob.hex(), datakey_cipher_length="32"
        ),
        caller,
        memory_services,
    )
    assert opened.data_key.get_secret_value() == data_key.hex().upper()
    # And re-encrypt turns a v1 blob into a v2 blob under the primary version, which opens
    moved = re_encrypt(
        ReEncryptRequestBody(cipher_text=cipher_text, destination_key_id=record.key_id),
        caller,
        memory_services,
    )
    raw = base64.b64decode(moved.cipher_text)
    assert raw[4] == blob.BODY_V2
    assert blob.read_header(raw).key_version == 2
    reply = decrypt_data(DecryptDataRequestBody(cipher_text=moved.cipher_text), caller, memory_services)
    assert reply.plain_text.get_secret_value() == "stored"


def test_rules_per_use_are_the_tables() -> None:
    """open_key reads each use's rules from gate._RULES, gathered from the tables at import: the same
    decisions, for every use, spec and usage, as walking the tables."""
    from skms.logic import gate

    assert set(gate._RULES) == set(Use)
    for use, rules in gate._RULES.items():
        assert rules.alias_allowed == (use in gate.ALIAS_USES)
        assert rules.record_first == (use in gate.RECORD_FIRST)
        assert rules.usable_states == gate.USABLE_STATES[use]
        assert rules.state_error == gate.USE_STATE_ERRORS.get(use)
        assert rules.record_refusals == gate.RECORD_REFUSALS.get(use, ())
        assert rules.default_refused == (use in gate.DEFAULT_KEY_REFUSED)
        for spec in KeySpec:
            for usage in KeyUsage:
                walked = [error for refuses, error in gate.REFUSALS[use] if refuses(spec, usage)]
                assert rules.refusals[spec, usage] is (walked[0] if walked else None)
