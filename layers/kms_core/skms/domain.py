"""The stored shape of a customer master key (CMK) and its states (spec §2, §F1).

A :class:`KeyRecord` is what the storage port keeps. Key material appears only wrapped under
the root key (``materials``: version -> wrapped bytes); the public half of an asymmetric key is
kept in clear because it is public.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field


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


@dataclass(frozen=True, slots=True)
class KeyRecord:
    project_id: str
    key_id: str
    domain_id: str
    key_alias: str
    key_spec: str
    key_usage: str
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
    current_version: int = 0
    materials: dict[int, bytes] = field(default_factory=dict)
    public_key_pem: str | None = None
    # Set when the scheduled deletion ran: the item is a tombstone that no operation can use and
    # whose id is never reused; its material is gone.
    deleted_at: int | None = None
    # Optimistic-locking counter: every successful update increments it by one.
    revision: int = 1

    @property
    def is_default_key(self) -> bool:
        return self.default_key_flag == "1"

    def __repr__(self) -> str:  # never show wrapped material, even if it is only wrapped
        return (
            f"KeyRecord(project_id={self.project_id!r}, key_id={self.key_id!r}, "
            f"key_spec={self.key_spec!r}, key_state={self.key_state.value!r}, revision={self.revision})"
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

    def __repr__(self) -> str:
        return f"AccessKeyRecord(access_key={self.access_key!r}, domain_id={self.domain_id!r})"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user of the token endpoint; the password is kept only as a salted scrypt hash."""

    user_id: str
    name: str
    domain_id: str
    domain_name: str
    password_hash: str
    project_ids: tuple[str, ...]
    enabled: bool = True
    created_at: int = 0  # epoch milliseconds

    def __repr__(self) -> str:
        return f"UserRecord(name={self.name!r}, domain_name={self.domain_name!r})"


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
