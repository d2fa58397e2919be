"""The one gate for using a key: resolve the reference, check the state, check the capability.

Every logic function that acts on an existing key opens it here, naming what it wants to do with it
(:class:`Use`). In order:

1. **Resolve** the reference within the caller's project. Keys of other projects, unknown ids and
   deleted keys (tombstones) are all KMS.0207, never 403: nothing about them is revealed. For the
   uses in :data:`ALIAS_USES` (the cryptographic ones) the reference may be an alias
   (``alias/...``): it names the key it points at now, looked up in the caller's domain and
   required to be of the caller's project (else KMS.0207 too); other uses refuse an alias
   (KMS.0205). Either way the key found is then checked like any other.
2. **Authorize**: the caller's permission for this operation on this key (IAM policies, then
   grants: :func:`skms.iam.decide.authorize`) is decided in :func:`open_key`, right after
   resolution, so that no operation can reach a key without passing it; a refusal is 403 KMS.0307.
3. **State**: :data:`USABLE_STATES` says in which states a key may be used for each purpose; a key in
   another state gets the error :data:`STATE_ERRORS` names for that state (spec §F1, §F2). Lifecycle
   changes (:data:`Use.MANAGE`) pass every live state here: their outcome per state is the state
   machine's (:data:`skms.logic.lifecycle.TRANSITIONS`).
4. **Capability**: :data:`REFUSALS` lists, per purpose, which keys cannot serve it and the §F2 error
   for each, first match wins (e.g. an HMAC key asked to encrypt is KMS.0341, an EC key KMS.1114);
   :data:`RECORD_REFUSALS` first, for what a key is beyond its spec and usage (a default key,
   imported material: e.g. rotation, access-control §7).

What passes is an :class:`OpenKey`: the record, its decoded spec and usage, and the material of its
versions through the keyring (the primary encrypts, any live version decrypts).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import KeyRecord, KeyState, Origin
from skms.iam.decide import authorize
from skms.iam.grants import find_granted_key
from skms.keyring import MaterialUnavailable, UnknownVersion
from skms.models.base import is_alias_name
from skms.observability import logger
from skms.runtime import Services


class Use(enum.Enum):
    """What an operation wants to do with a key."""

    DESCRIBE = "describe"  # read its metadata (describe-key)
    MANAGE = "manage"  # change its state or names (the lifecycle operations)
    ENCRYPT = "encrypt"  # encrypt-data / decrypt-data / re-encrypt: ENCRYPT_DECRYPT keys, symmetric or not
    DATA_KEY = "data-key"  # data keys and key pairs' sealed private keys: symmetric keys only
    SIGN = "sign"  # sign and verify
    PUBLIC_KEY = "public-key"  # get-publickey
    MAC = "mac"  # generate-mac and verify-mac
    AGREE = "agree"  # derive-shared-secret
    ROTATE = "rotate"  # enable/disable rotation, its interval, rotate-on-demand (access-control §7)
    TAG = "tag"  # add, change or remove its tags (spec §8; reading them is DESCRIBE)
    ALIAS = "alias"  # point an alias at it (create-alias, associate-alias)
    IMPORT = "import"  # get import parameters, import material (access-control §6)
    DELETE_MATERIAL = "delete-material"  # delete imported material (access-control §6.3)
    GRANT = "grant"  # create a grant on it (access-control §3.1: Enabled keys only, never a default key)


_LIVE_STATES = frozenset(KeyState)
_ENABLED_ONLY = frozenset({KeyState.ENABLED})
_NOT_PENDING_DELETION = _LIVE_STATES - {KeyState.PENDING_DELETION, KeyState.FROZEN}
_OWN_ROWS = (Use.DESCRIBE, Use.MANAGE, Use.TAG, Use.ALIAS, Use.IMPORT, Use.DELETE_MATERIAL)

# Use -> the states in which a key may be used for it.
USABLE_STATES: dict[Use, frozenset[KeyState]] = {
    Use.DESCRIBE: _LIVE_STATES,
    Use.MANAGE: _LIVE_STATES,
    # Tags are metadata: a disabled key may be tagged, a key pending deletion (KMS.0210) or
    # frozen (KMS.0320) may not, as for every change other than describe (README, lifecycle).
    Use.TAG: _NOT_PENDING_DELETION,
    # As for a rename (op 8): any live key but one pending deletion, whose aliases are about to go.
    Use.ALIAS: _LIVE_STATES - {KeyState.PENDING_DELETION},
    # Access-control §6: material is imported into a key pending import, deleted from an enabled
    # or disabled one; each use has its own code for the other states (USE_STATE_ERRORS).
    Use.IMPORT: frozenset({KeyState.PENDING_IMPORT}),
    Use.DELETE_MATERIAL: frozenset({KeyState.ENABLED, KeyState.DISABLED}),
    **{use: _ENABLED_ONLY for use in Use if use not in _OWN_ROWS},
}

# Uses refused on a service default key (default_key_flag "1"), KMS.0211 (access-control.md §5:
# default keys cannot be tagged). The lifecycle's own list is skms.logic.lifecycle.DEFAULT_KEY_FORBIDDEN.
DEFAULT_KEY_REFUSED: frozenset[Use] = frozenset({Use.TAG, Use.GRANT})

# The uses in which a key reference may be an alias (access-control.md §4: the crypto operations).
ALIAS_USES = frozenset({Use.ENCRYPT, Use.DATA_KEY, Use.SIGN, Use.PUBLIC_KEY, Use.MAC, Use.AGREE})

# §F1: a key in state 3 gives KMS.0209, in state 4 KMS.0210, frozen KMS.0320; other states KMS.1301.
STATE_ERRORS: dict[KeyState, type[errors.KmsError]] = {
    KeyState.DISABLED: errors.KeyDisabled,
    KeyState.PENDING_DELETION: errors.KeyPendingDeletion,
    KeyState.FROZEN: errors.KeyFrozen,
    KeyState.PENDING_ACTIVATION: errors.KeyNotEnabled,
    KeyState.PENDING_IMPORT: errors.KeyNotEnabled,
}

# Use -> the one error for a key in any state the use does not allow (instead of STATE_ERRORS).
USE_STATE_ERRORS: dict[Use, type[errors.KmsError]] = {
    Use.IMPORT: errors.KeyNotPendingImport,  # KMS.0310
    Use.DELETE_MATERIAL: errors.MaterialNotDeletable,  # KMS.2701
}

Test = Callable[[KeySpec, KeyUsage], bool]
RecordTest = Callable[[KeyRecord], bool]
Refusal = tuple[Test, Callable[[], errors.KmsError]]


def _hmac(spec: KeySpec, usage: KeyUsage) -> bool:
    return spec.is_hmac


def _symmetric(spec: KeySpec, usage: KeyUsage) -> bool:
    return spec.is_symmetric


def _not_symmetric(spec: KeySpec, usage: KeyUsage) -> bool:
    return not spec.is_symmetric


def _ec(spec: KeySpec, usage: KeyUsage) -> bool:
    return spec.is_ec


def _usage_is(wanted: KeyUsage) -> Test:
    return lambda spec, usage: usage is wanted


def _usage_is_not(wanted: KeyUsage) -> Test:
    return lambda spec, usage: usage is not wanted


def _say(kind: type[errors.KmsError], message: str | None = None) -> Callable[[], errors.KmsError]:
    return lambda: kind(message)


# Use -> (which keys cannot serve it by what they are beyond spec and usage: service default keys,
# imported material, custom keystores; the §F2 error), checked before REFUSALS, first match wins.
# Access-control §7: default keys KMS.0211 (§F9), external keys KMS.0312, keystores KMS.0338.
RECORD_REFUSALS: dict[Use, tuple[tuple[RecordTest, Callable[[], errors.KmsError]], ...]] = {
    Use.ROTATE: (
        (lambda record: record.is_default_key, _say(errors.DefaultKeyOperation)),
        (lambda record: record.origin is not Origin.KMS, _say(errors.ExternalKeyCannotRotate)),
        (lambda record: record.keystore_id not in ("", "0"), _say(errors.KeystoreKeyCannotRotate)),
    ),
    # Access-control §6.1: only external keys take imported material (KMS.0309).
    Use.IMPORT: ((lambda record: record.origin is not Origin.EXTERNAL, _say(errors.ExternalKeyRequired)),),
    Use.DELETE_MATERIAL: (
        (lambda record: record.origin is not Origin.EXTERNAL, _say(errors.ExternalKeyRequired)),
    ),
}

# The uses whose RECORD_REFUSALS come before the state check: a key made by KMS is never
# importable, whatever its state, and KMS.0309 says so (access-control §6.1).
RECORD_FIRST = frozenset({Use.IMPORT, Use.DELETE_MATERIAL})

# Use -> (which keys cannot serve it, the §F2 error), first match wins. The codes follow the
# operations' modules: skms.logic.data, datakeys, signing, mac and agreement explain each choice.
REFUSALS: dict[Use, tuple[Refusal, ...]] = {
    Use.DESCRIBE: (),
    Use.MANAGE: (),
    Use.TAG: (),
    Use.ALIAS: (),
    Use.IMPORT: (),
    # Access-control §6.3: imported private keys cannot be deleted (KMS.2702), only the key.
    Use.DELETE_MATERIAL: (
        (lambda spec, usage: not (spec.is_symmetric or spec.is_hmac), _say(errors.PrivateKeyNotDeletable)),
    ),
    Use.GRANT: (),
    Use.ENCRYPT: (
        (_hmac, _say(errors.UnsupportedForHmac)),
        (_ec, _say(errors.EcKeyCannotEncrypt)),
        (_usage_is_not(KeyUsage.ENCRYPT_DECRYPT), _say(errors.KeyIsSignVerify)),
    ),
    Use.DATA_KEY: (
        (_hmac, _say(errors.UnsupportedForHmac)),
        (_not_symmetric, _say(errors.UnsupportedForAsymmetric)),
    ),
    Use.SIGN: (
        (_hmac, _say(errors.UnsupportedForHmac)),
        (_symmetric, _say(errors.SymmetricKeyCannotSign)),
        (
            _usage_is(KeyUsage.KEY_AGREEMENT),
            _say(errors.SigningAlgorithmUnsupported, "KEY_AGREEMENT keys cannot sign or verify."),
        ),
        (_usage_is_not(KeyUsage.SIGN_VERIFY), _say(errors.KeyIsEncryptDecrypt)),
    ),
    Use.PUBLIC_KEY: (
        (_hmac, _say(errors.UnsupportedForHmac)),
        (_symmetric, _say(errors.UnsupportedForSymmetric, "Symmetric keys have no public key.")),
    ),
    Use.MAC: (
        (
            _usage_is(KeyUsage.SIGN_VERIFY),
            _say(errors.KeyIsSignVerify, "SIGN_VERIFY keys cannot make or check MACs."),
        ),
        (
            _usage_is(KeyUsage.KEY_AGREEMENT),
            _say(errors.SigningAlgorithmUnsupported, "KEY_AGREEMENT keys cannot make or check MACs."),
        ),
        (
            _usage_is_not(KeyUsage.GENERATE_VERIFY_MAC),
            _say(errors.KeyIsEncryptDecrypt, "ENCRYPT_DECRYPT keys cannot make or check MACs."),
        ),
    ),
    Use.AGREE: (
        (_hmac, _say(errors.UnsupportedForHmac)),
        (
            _symmetric,
            _say(errors.UnsupportedForSymmetric, "Symmetric keys cannot derive shared secrets."),
        ),
        (
            _usage_is(KeyUsage.ENCRYPT_DECRYPT),
            _say(errors.KeyIsEncryptDecrypt, "ENCRYPT_DECRYPT keys cannot derive shared secrets."),
        ),
        (
            _usage_is_not(KeyUsage.KEY_AGREEMENT),
            _say(errors.KeyIsSignVerify, "SIGN_VERIFY keys cannot derive shared secrets."),
        ),
    ),
    # Access-control §7: only symmetric keys made by KMS (AES_256, SM4) rotate. HMAC keys are not
    # settled by the docs; treated as that doc infers (KMS.0341). Every asymmetric spec gets
    # KMS.0324, the code the docs give for RSA ("rotate" an asymmetric key by making a new one).
    Use.ROTATE: (
        (_hmac, _say(errors.UnsupportedForHmac, "HMAC keys cannot be rotated.")),
        (_not_symmetric, _say(errors.AsymmetricKeyCannotRotate)),
    ),
}


@dataclass(frozen=True, slots=True)
class _Rules:
    """The tables above for one use, gathered once at import: :func:`open_key` runs on every
    request that touches a key, and so looks its use up once instead of in six tables."""

    alias_allowed: bool  # ALIAS_USES
    record_first: bool  # RECORD_FIRST
    usable_states: frozenset[KeyState]  # USABLE_STATES
    state_error: type[errors.KmsError] | None  # USE_STATE_ERRORS (None: STATE_ERRORS by state)
    record_refusals: tuple[tuple[RecordTest, Callable[[], errors.KmsError]], ...]  # RECORD_REFUSALS
    # REFUSALS decided for every (spec, usage) pair: the first refusal's error, None if it may
    # serve. The tests of REFUSALS look at nothing but the spec and the usage.
    refusals: Mapping[tuple[KeySpec, KeyUsage], Callable[[], errors.KmsError] | None]
    default_refused: bool  # DEFAULT_KEY_REFUSED


def _first_refusal(use: Use, spec: KeySpec, usage: KeyUsage) -> Callable[[], errors.KmsError] | None:
    return next((error for refuses, error in REFUSALS[use] if refuses(spec, usage)), None)


_RULES: dict[Use, _Rules] = {
    use: _Rules(
        alias_allowed=use in ALIAS_USES,
        record_first=use in RECORD_FIRST,
        usable_states=USABLE_STATES[use],
        state_error=USE_STATE_ERRORS.get(use),
        record_refusals=RECORD_REFUSALS.get(use, ()),
        refusals={(spec, usage): _first_refusal(use, spec, usage) for spec in KeySpec for usage in KeyUsage},
        default_refused=use in DEFAULT_KEY_REFUSED,
    )
    for use in Use
}


class OpenKey(NamedTuple):
    """A key that passed the gate for one use, and the way to its material.

    Immutable like a frozen dataclass, but built in one C call (a frozen dataclass sets each field
    through ``object.__setattr__``): one is made per request that touches a key."""

    record: KeyRecord
    use: Use
    services: Services

    @property
    def key_id(self) -> str:
        return self.record.key_id

    @property
    def spec(self) -> KeySpec:
        return self.record.key_spec

    @property
    def usage(self) -> KeyUsage:
        return self.record.key_usage

    def primary(self) -> tuple[int, bytes]:
        """The primary version's number and material: what encrypts, signs and makes MACs."""
        try:
            return self.services.keyring.primary(self.record)
        except (MaterialUnavailable, UnknownVersion) as exc:
            raise self._unavailable() from exc

    def material(self, version: int) -> bytes:
        """The material of a live version named by a ciphertext; KMS.2201 if the key holds no such
        version (never made, or destroyed)."""
        try:
            return self.services.keyring.material(self.record, version)
        except UnknownVersion:
            raise errors.InvalidCipherText from None
        except MaterialUnavailable as exc:
            raise self._unavailable() from exc

    def public_key_pem(self) -> str:
        """The key's public key, proven to belong to its material (see :mod:`skms.keyring`)."""
        try:
            return self.services.keyring.public_key_pem(self.record)
        except (MaterialUnavailable, UnknownVersion) as exc:
            raise self._unavailable() from exc

    def _unavailable(self) -> errors.KmsError:
        # Fail closed: a wrong root key, or metadata (spec, usage, public key) changed in the table.
        logger.error(
            "key material could not be unwrapped or does not match the key's metadata",
            extra={"key_id": self.record.key_id, "project_id": self.record.project_id},
        )
        return errors.InternalError("The key material is unavailable.")


def check_state(record: KeyRecord, use: Use) -> None:
    """Raise the §F1/§F2 error if ``record``'s state does not allow ``use``."""
    _check_state(record, _RULES[use])


def _check_state(record: KeyRecord, rules: _Rules) -> None:
    if rules.record_first:
        _check_record(record, rules)
    if record.key_state not in rules.usable_states:
        error = rules.state_error or STATE_ERRORS.get(record.key_state, errors.KeyNotEnabled)
        raise error()


def _check_record(record: KeyRecord, rules: _Rules) -> None:
    for refuses_record, record_error in rules.record_refusals:
        if refuses_record(record):
            raise record_error()


def check_capability(record: KeyRecord, use: Use) -> None:
    """Raise the §F2 error if ``record`` (what it is, then its spec and usage) cannot serve ``use``."""
    _check_capability(record, _RULES[use])


def _check_capability(record: KeyRecord, rules: _Rules) -> None:
    if rules.record_refusals:
        _check_record(record, rules)
    error = rules.refusals[record.key_spec, record.key_usage]
    if error is not None:
        raise error()


def resolve(services: Services, caller: Caller, key_ref: str, *, alias_allowed: bool = False) -> KeyRecord:
    """The caller's key named by ``key_ref``, or KMS.0207 (other projects' keys are invisible).

    With ``alias_allowed``, ``key_ref`` may be an alias of the caller's domain and project: the key
    it points at now (one more consistent read). Without, an alias is KMS.0205.
    """
    key_id = key_ref
    if is_alias_name(key_ref):
        if not alias_allowed:
            raise errors.InvalidKeyId("This operation takes a key id, not an alias.")
        alias = services.stores.aliases.get_alias(caller.domain_id, key_ref)
        if alias is None or alias.project_id != caller.project_id:
            raise errors.KeyNotFound("The alias does not exist.")
        key_id = alias.key_id
    record = services.stores.keys.get_key(caller.project_id, key_id)
    if (record is None or record.deleted_at is not None) and key_id == key_ref:
        # Not the caller's: a key of another project is reachable by its bare id only through a
        # grant the caller holds on it (access-control §3.3); the decision then asks the grants.
        granted = find_granted_key(services, caller, key_id)
        if granted is not None:
            record = services.stores.keys.get_key(granted.project_id, key_id)
    # A deleted key's tombstone is invisible, and so is its key through an alias the sweep has not
    # removed yet.
    if record is None or record.deleted_at is not None:
        raise errors.KeyNotFound
    # Imported material is unusable from the moment it expires (access-control §6.3), whether or
    # not the sweep has erased it yet: the key is then pending import. A key without an
    # expiration time has no such material, and does not read the clock.
    if record.expiration_time is None:
        return record
    return record.material_expired(now_ms())


def open_key(
    services: Services,
    caller: Caller,
    key_ref: str,
    use: Use,
    *,
    context: Mapping[str, tuple[str, ...]] | None = None,
) -> OpenKey:
    """Resolve, authorize, and check state and capability for ``use``; see the module docstring.
    ``context``: condition values the request carries for this key (create-grant's, §2.4)."""
    rules = _RULES[use]
    record = resolve(services, caller, key_ref, alias_allowed=rules.alias_allowed)
    # Authorization of the caller's principal for this use of this key, between resolution (so a
    # refusal names the key's URN) and the state checks (a refused user learns nothing of them).
    # The account and direct invokers cost this one branch for the keys of their own project.
    if not caller.principal.is_account or record.project_id != caller.project_id:
        alias = key_ref if is_alias_name(key_ref) else None
        authorize(services, caller, key=record, alias=alias, context=context)
    _check_state(record, rules)
    _check_capability(record, rules)
    if rules.default_refused and record.is_default_key:
        raise errors.DefaultKeyOperation
    return OpenKey(record, use, services)


def authorize_named_key(caller: Caller, services: Services, key_id: str) -> None:
    """For an operation that names a key of the caller's project without using it (delete-alias:
    an alias may outlive its key until the sweep): the caller's permission, decided on the key's
    URN alone (the key is not read, so no attributes or tags)."""
    if not caller.principal.is_account:
        authorize(services, caller, key_id=key_id)


def describe_keys(services: Services, caller: Caller, key_ids: Iterable[str]) -> list[KeyRecord]:
    """The caller's keys among ``key_ids``, each opened for :data:`Use.DESCRIBE`, in the order
    given; ids that name no live key of the project (deleted meanwhile) are left out. For
    listings that found the ids elsewhere (list-kms-by-tags: the tag store)."""
    opened: list[KeyRecord] = []
    for key_id in key_ids:
        try:
            opened.append(open_key(services, caller, key_id, Use.DESCRIBE).record)
        except errors.KeyNotFound:
            continue
    return opened
