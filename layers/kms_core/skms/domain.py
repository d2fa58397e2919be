"""The stored shape of a customer master key (CMK) and its states (spec §2, §F1).

A :class:`KeyRecord` is what the storage port keeps. Key material appears only wrapped under
the root key, in the record's :class:`KeyVersions`; the public half of an asymmetric key is kept in
clear because it is public. Spec, usage, state and origin are enums, decoded once by the storage codec.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from skms.crypto.keyspec import KeySpec, KeyUsage


class KeyState(enum.StrEnum):
    """Spec §F1. Always a JSON string on the wire."""

    PENDING_ACTIVATION = "1"
    ENABLED = "2"
    DISABLED = "3"
    PENDING_DELETION = "4"
    PENDING_IMPORT = "5"
    FROZEN = "7"


class Origin(enum.StrEnum):
    KMS = "kms"
    EXTERNAL = "external"


DEFAULT_KEY_SUFFIX = "/default"


class VersionState(enum.StrEnum):
    """The state of one version of a key's material (in the manner of Vault's keysutil policy)."""

    ENABLED = "enabled"  # its material is held (wrapped); it may decrypt, and encrypt if primary
    DESTROYED = "destroyed"  # its material was erased (deleted key, deleted imported material)


class InvalidVersions(ValueError):
    """A :class:`KeyVersions` that breaks one of its invariants (a bug or a tampered row)."""


@dataclass(frozen=True, slots=True)
class KeyVersion:
    number: int
    created_at: int  # epoch milliseconds
    state: VersionState
    wrapped: bytes = field(default=b"", repr=False)  # the material wrapped by the root key
    # Wrapped under a context that binds the key's spec, usage and public key (skms.keyring); False
    # only for material wrapped before that binding existed.
    bound: bool = True

    @property
    def is_live(self) -> bool:
        return self.state is VersionState.ENABLED


@dataclass(frozen=True, slots=True)
class KeyVersions:
    """Every version of a key's material and which one is primary.

    The primary version encrypts, signs and makes MACs; any live version decrypts and verifies what
    it made (ciphertexts carry their version, spec §F4). Immutable: changes return a new value, and
    every value is checked by :func:`check_versions` when it is made.
    """

    primary: int = 0
    versions: tuple[KeyVersion, ...] = ()

    def __post_init__(self) -> None:
        check_versions(self)

    @classmethod
    def first(cls, wrapped: bytes, created_at: int) -> KeyVersions:
        """Version 0, primary, holding ``wrapped``."""
        return cls(0, (KeyVersion(0, created_at, VersionState.ENABLED, wrapped),))

    @classmethod
    def of_materials(
        cls, materials: Mapping[int, bytes], primary: int = 0, created_at: int = 0, *, bound: bool = True
    ) -> KeyVersions:
        """Live versions from ``{number: wrapped}`` (the stored shape of rows older than version metadata)."""
        return cls(
            primary,
            tuple(
                KeyVersion(n, created_at, VersionState.ENABLED, bytes(materials[n]), bound)
                for n in sorted(materials)
            ),
        )

    def get(self, number: int) -> KeyVersion | None:
        for version in self.versions:
            if version.number == number:
                return version
        return None

    def live(self, number: int) -> KeyVersion | None:
        """The version ``number`` if it exists and still holds its material."""
        version = self.get(number)
        return version if version is not None and version.is_live else None

    @property
    def primary_version(self) -> KeyVersion | None:
        """The live primary version, or None for a key with no material (pending import, deleted)."""
        return self.live(self.primary)

    @property
    def materials(self) -> dict[int, bytes]:
        """``{number: wrapped}`` of the live versions (the storage shape)."""
        return {v.number: v.wrapped for v in self.versions if v.is_live}

    @property
    def next_number(self) -> int:
        """The number :meth:`rotated` gives the new version (its material is wrapped under it)."""
        return max((v.number for v in self.versions), default=-1) + 1

    def rotated(self, wrapped: bytes, created_at: int) -> KeyVersions:
        """A new live version after the newest one, which becomes primary."""
        number = self.next_number
        return KeyVersions(
            number, (*self.versions, KeyVersion(number, created_at, VersionState.ENABLED, wrapped))
        )

    def erased(self) -> KeyVersions:
        """Every version destroyed (material gone, metadata kept)."""
        return KeyVersions(
            self.primary,
            tuple(
                KeyVersion(v.number, v.created_at, VersionState.DESTROYED, bound=v.bound)
                for v in self.versions
            ),
        )


def check_versions(versions: KeyVersions) -> None:
    """The invariants of :class:`KeyVersions`, in one place.

    - version numbers are non-negative, unique and ascending;
    - a live version holds wrapped material, a destroyed one holds none;
    - the primary is one of the versions (or 0 when there are none), and it is live whenever any
      version is live (so the key never encrypts under an old version while a newer one is held).
    """
    numbers = [v.number for v in versions.versions]
    if any(n < 0 for n in numbers) or numbers != sorted(set(numbers)):
        raise InvalidVersions("version numbers must be unique, ascending and non-negative")
    for v in versions.versions:
        if v.is_live != bool(v.wrapped):
            raise InvalidVersions(f"version {v.number}: a live version holds material, a destroyed one none")
    if not versions.versions:
        if versions.primary != 0:
            raise InvalidVersions("a key without versions has primary 0")
        return
    if versions.primary not in numbers:
        raise InvalidVersions("the primary version does not exist")
    primary = versions.get(versions.primary)
    if any(v.is_live for v in versions.versions) and (primary is None or not primary.is_live):
        raise InvalidVersions("the primary version must be live while any version is")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    project_id: str
    key_id: str
    domain_id: str
    key_alias: str
    key_spec: KeySpec
    key_usage: KeyUsage
    key_state: KeyState
    origin: Origin
    creation_date: int  # epoch milliseconds
    key_description: str = ""
    realm: str = ""
    default_key_flag: str = "0"
    key_type: str = "1"
    enterprise_project_id: str = "0"
    keystore_id: str = "0"
    scheduled_deletion_date: int | None = None
    expiration_time: int | None = None
    key_rotation_enabled: bool = False
    # Automatic rotation (access-control §7): the period in days (30-365, 365 until changed) and,
    # while rotation is enabled, when the next rotation is due (epoch ms; None while disabled).
    rotation_interval: int = 365
    next_rotation_time: int | None = None
    versions: KeyVersions = field(default_factory=KeyVersions)
    public_key_pem: str | None = None
    # Set when the scheduled deletion ran: the item is a tombstone that no operation can use and
    # whose id is never reused; its material is gone.
    deleted_at: int | None = None
    # Optimistic-locking counter: every successful update increments it by one.
    revision: int = 1
    # Imported keys (access-control §6.3): the SHA-256 digest of the first material imported,
    # wrapped under the root key (Base64), kept after the material is deleted so that a re-import
    # must bring the same material (KMS.2606). ``expiration_time`` (epoch ms) is when it expires.
    material_fingerprint: str | None = None

    @property
    def is_default_key(self) -> bool:
        return self.default_key_flag == "1"

    @property
    def current_version(self) -> int:
        """The primary version's number (what encrypts)."""
        return self.versions.primary

    @property
    def materials(self) -> dict[int, bytes]:
        """``{version: wrapped material}`` of the live versions."""
        return self.versions.materials

    @property
    def rotation_due_at(self) -> int | None:
        """When the scheduled rotation should rotate this key, or None if it never should now:
        only live, enabled keys with rotation enabled are on the schedule (access-control §7: a
        disabled or pending-deletion key is not rotated; re-enabled, it rotates if it is overdue).
        The storage adapters index keys by this value (their rotation index is sparse)."""
        if (
            self.deleted_at is not None
            or not self.key_rotation_enabled
            or self.key_state is not KeyState.ENABLED
        ):
            return None
        return self.next_rotation_time

    @property
    def material_expires_at(self) -> int | None:
        """When an external key's imported material expires (epoch ms), while it holds material
        that may expire; else None (access-control §6.3)."""
        if (
            self.origin is not Origin.EXTERNAL
            or self.expiration_time is None
            or self.deleted_at is not None
            or self.versions.primary_version is None
        ):
            return None
        return self.expiration_time

    @property
    def due_at(self) -> int | None:
        """When the due-key sweep has work on this key (epoch ms): its scheduled deletion while it
        is pending deletion, else the expiry of its imported material. The storage adapters index
        keys by this value (``due_for_deletion``; the index is sparse)."""
        if self.deleted_at is not None:
            return None
        if self.key_state is KeyState.PENDING_DELETION:
            return self.scheduled_deletion_date
        return self.material_expires_at

    def material_expired(self, now: int) -> KeyRecord:
        """This key as it is at ``now``: once imported material has expired, the material is gone
        and the key is pending import (state 5), whether or not the sweep has erased it yet."""
        expires = self.material_expires_at
        if expires is None or expires > now or self.key_state is KeyState.PENDING_DELETION:
            return self
        return self.replace(
            key_state=KeyState.PENDING_IMPORT, versions=self.versions.erased(), expiration_time=None
        )

    def __repr__(self) -> str:  # never show wrapped material, even if it is only wrapped
        return (
            f"KeyRecord(project_id={self.project_id!r}, key_id={self.key_id!r}, "
            f"key_spec={self.key_spec.value!r}, key_state={self.key_state.value!r}, revision={self.revision})"
        )

    def replace(self, **changes: object) -> KeyRecord:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AccessKeyRecord:
    """An AK/SK credential. The secret key is stored only wrapped under the root key."""

    access_key: str
    secret_wrapped: bytes
    domain_id: str
    project_ids: tuple[str, ...]
    enabled: bool = True
    created_at: int = 0  # epoch milliseconds
    description: str = ""
    # The IAM user (32 hex) the key belongs to; "" for a key of the account itself (every permission
    # in its domain). Keys stored before users owned keys read back as the account's.
    user_id: str = ""
    # Bumped by every change (enable/disable), the condition of the next one: no update is lost.
    version: int = 1

    def __repr__(self) -> str:
        return f"AccessKeyRecord(access_key={self.access_key!r}, domain_id={self.domain_id!r})"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An IAM user of a domain (access-control.md §1.1): logs in at the token endpoint, owns access
    keys, and may do what its attached policies allow (nothing without one). The password is kept
    only as a salted scrypt hash."""

    user_id: str  # 32 hex
    name: str  # unique in the domain
    domain_id: str
    domain_name: str
    password_hash: str
    project_ids: tuple[str, ...]
    enabled: bool = True
    created_at: int = 0  # epoch milliseconds
    # Names of the attached policies: custom ones of the domain (PolicyRecord) or system ones.
    policies: tuple[str, ...] = ()
    # Tokens carry the epoch they were issued under; bumping it (disable, password change, projects
    # change) makes every earlier token of the user invalid.
    token_epoch: int = 0
    # Bumped by every change, the condition of the next one: concurrent changes never lose one.
    version: int = 1

    def __repr__(self) -> str:
        return f"UserRecord(name={self.name!r}, domain_name={self.domain_name!r})"


@dataclass(frozen=True, slots=True)
class ProjectClaim:
    """A project belongs to exactly one domain: the first that claimed it (a create-if-absent)."""

    project_id: str
    domain_id: str
    created_at: int = 0  # epoch milliseconds


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A custom identity policy of a domain (access-control.md §2.5), attachable to its users by
    name. ``document`` is the JSON text as given, validated by ``skms.iam.policy.parse_policy``."""

    domain_id: str
    name: str
    policy_id: str  # 32 hex
    document: str
    created_at: int = 0  # epoch milliseconds


@dataclass(frozen=True, slots=True)
class AliasRecord:
    """An alias object (access-control.md §4): a name unique in the domain (one deployment is one
    region) that points at one key of ``project_id``; a key may have several. Not the key's own
    ``key_alias``. Times are epoch milliseconds."""

    domain_id: str
    alias: str
    key_id: str
    project_id: str
    create_time: int
    update_time: int
