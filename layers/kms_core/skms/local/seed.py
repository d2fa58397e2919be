"""Seeded keys for tests and local development (issue 14, item 4): ``KMS_SEED_FILE`` or
``skms serve --seed-file`` names a YAML file read at start::

    keys:
      - key_id: 0d0466b0-e727-4d9c-b35d-f84bb474a37f
        project_id: <project>          # default: the bootstrap project
        key_alias: orders              # default: seed-<first 8 characters of key_id>
        key_spec: AES_256              # default AES_256; any spec
        key_usage: ENCRYPT_DECRYPT     # default: the spec's default usage
        key_description: ...           # optional
        material: <Base64 raw bytes>   # symmetric and HMAC keys
        private_key_pem: |             # asymmetric keys (PKCS#8 or traditional PEM, unencrypted)
          -----BEGIN PRIVATE KEY-----
        key_state: "2"                 # "2" enabled (default) or "3" disabled
        aliases: [alias/orders]        # optional alias objects, in the server's domain
        tags: {env: test}              # optional

Keys that do not exist yet (no key, live or deleted, with that id in that project) are created
exactly as described, their material wrapped by the root key like any other (version 0, bound to
the key's spec, usage and public key); existing keys are left alone, their aliases and tags
included. A seeded key's material comes from the file, so a ciphertext made under it opens again
after the data directory is wiped and the server starts from the same seed. Without ``material``
or ``private_key_pem`` the key gets fresh random material (it then does not survive a wipe).

The whole file is checked before anything is written; a bad entry stops the server with an error
that names it (its index and key id) and never shows its material.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization

from skms import errors
from skms.clock import now_ms
from skms.crypto import importing, material
from skms.crypto.keyspec import ALLOWED_USAGES, KeySpec, KeyUsage, default_usage
from skms.domain import AliasRecord, KeyRecord, KeyState, KeyVersions, Origin
from skms.keyring import key_binding
from skms.local.bootstrap import CREDENTIALS_FILE
from skms.models.base import ALIAS_NAME_PATTERN, ALIAS_PATTERN, KEY_ID_PATTERN
from skms.models.tags import check_tag_key, check_tag_value
from skms.runtime import Services
from skms.storage.port import AliasExists, KeyExists

_FIELDS = frozenset(
    {
        "key_id",
        "project_id",
        "key_alias",
        "key_spec",
        "key_usage",
        "key_description",
        "material",
        "private_key_pem",
        "key_state",
        "aliases",
        "tags",
    }
)
_STATES = {"2": KeyState.ENABLED, "3": KeyState.DISABLED}
_PROJECT_PATTERN = re.compile(r"^[0-9a-zA-Z_-]{1,64}$")


class SeedError(Exception):
    """A seed file that cannot be applied; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class SeedKey:
    key_id: str
    project_id: str
    key_alias: str
    key_spec: KeySpec
    key_usage: KeyUsage
    key_state: KeyState
    key_description: str = ""
    material: bytes | None = field(default=None, repr=False)
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SeedResult:
    created: tuple[str, ...]
    existing: tuple[str, ...]


def bootstrap_identity(services: Services, env: Mapping[str, str]) -> tuple[str | None, str]:
    """The project (if any) and domain of the bootstrap access key (skms.local.bootstrap): the
    seeded keys' default project, and the domain of their aliases."""
    domain_id = env.get("HUAWEICLOUD_SDK_DOMAIN_ID") or services.settings.domain_id
    if env.get("HUAWEICLOUD_SDK_PROJECT_ID"):
        return env["HUAWEICLOUD_SDK_PROJECT_ID"], domain_id
    path = services.settings.data_dir / CREDENTIALS_FILE
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        project, saved_domain = saved.get("project_id"), saved.get("domain_id")
        return (
            project if isinstance(project, str) else None,
            saved_domain if isinstance(saved_domain, str) else domain_id,
        )
    return None, domain_id


def _string(entry: Mapping[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = entry.get(name, default)
    if value is None:
        raise SeedError(f"{where}: {name} is required")
    if not isinstance(value, str):
        raise SeedError(f"{where}: {name} must be a string")
    return value


def _material(spec: KeySpec, entry: Mapping[str, Any], where: str) -> bytes | None:
    symmetric_length = importing.material_length(spec)
    if symmetric_length is not None:
        if "private_key_pem" in entry:
            raise SeedError(f"{where}: a {spec.value} key takes material, not private_key_pem")
        if "material" not in entry:
            return None
        try:
            raw = base64.b64decode(_string(entry, "material", where), validate=True)
        except (binascii.Error, ValueError):
            raise SeedError(f"{where}: material is not valid Base64") from None
        if len(raw) != symmetric_length:
            raise SeedError(f"{where}: {spec.value} material must be {symmetric_length} bytes")
        return raw
    if "material" in entry:
        raise SeedError(f"{where}: a {spec.value} key takes private_key_pem, not material")
    if "private_key_pem" not in entry:
        return None
    if spec not in importing.IMPORTABLE_ASYMMETRIC:
        raise SeedError(f"{where}: {spec.value} keys cannot be seeded with a private key")
    try:
        private = serialization.load_pem_private_key(
            _string(entry, "private_key_pem", where).encode("ascii"), password=None
        )
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return importing.private_key_material(spec, der)
    except (ValueError, TypeError, UnicodeEncodeError, importing.PrivateKeyRejected):
        raise SeedError(f"{where}: private_key_pem is not an unencrypted {spec.value} private key") from None


def _seed_key(entry: Any, index: int, default_project: str | None) -> SeedKey:
    where = f"keys[{index}]"
    if not isinstance(entry, dict):
        raise SeedError(f"{where}: each key must be a mapping")
    key_id = _string(entry, "key_id", where)
    if not re.match(KEY_ID_PATTERN, key_id):
        raise SeedError(f"{where}: key_id must be a lowercase UUID")
    where = f"keys[{index}] (key_id {key_id})"
    unknown = set(entry) - _FIELDS
    if unknown:
        raise SeedError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    project_id = _string(entry, "project_id", where, default_project)
    if not _PROJECT_PATTERN.match(project_id):
        raise SeedError(f"{where}: invalid project_id")
    key_alias = _string(entry, "key_alias", where, f"seed-{key_id[:8]}")
    if not re.match(ALIAS_PATTERN, key_alias) or key_alias.endswith("/default"):
        raise SeedError(f"{where}: invalid key_alias")
    try:
        spec = KeySpec(_string(entry, "key_spec", where, KeySpec.AES_256.value))
        usage = KeyUsage(entry["key_usage"]) if "key_usage" in entry else default_usage(spec)
    except ValueError:
        raise SeedError(f"{where}: unknown key_spec or key_usage") from None
    if usage not in ALLOWED_USAGES[spec]:
        raise SeedError(f"{where}: key_usage {usage.value} is not valid for key_spec {spec.value}")
    state = str(entry.get("key_state", "2"))
    if state not in _STATES:
        raise SeedError(f'{where}: key_state must be "2" (enabled) or "3" (disabled)')
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(
        isinstance(a, str) and re.match(ALIAS_NAME_PATTERN, a) and not a.endswith("/default") for a in aliases
    ):
        raise SeedError(f"{where}: aliases must be a list of names alias/...")
    tags = entry.get("tags", {})
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise SeedError(f"{where}: tags must be a mapping of strings")
    try:
        for tag_key, tag_value in tags.items():
            check_tag_key(tag_key)
            check_tag_value(tag_value)
    except errors.KmsError as exc:
        raise SeedError(f"{where}: {exc.message}") from None
    return SeedKey(
        key_id=key_id,
        project_id=project_id,
        key_alias=key_alias,
        key_spec=spec,
        key_usage=usage,
        key_state=_STATES[state],
        key_description=_string(entry, "key_description", where, ""),
        material=_material(spec, entry, where),
        aliases=tuple(aliases),
        tags=dict(tags),
    )


def load_seed_file(path: Path, default_project: str | None) -> list[SeedKey]:
    """Every key of the seed file at ``path``, checked; :class:`SeedError` names the first problem."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedError(f"seed file {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise SeedError(f"seed file {path}: not valid YAML{at}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise SeedError(f"seed file {path}: expected a mapping with a list under keys")
    try:
        seeds = [_seed_key(entry, index, default_project) for index, entry in enumerate(document["keys"])]
    except SeedError as exc:
        raise SeedError(f"seed file {path}: {exc}") from None
    seen: set[tuple[str, str]] = set()
    for index, seed in enumerate(seeds):
        if (seed.project_id, seed.key_id) in seen:
            raise SeedError(
                f"seed file {path}: keys[{index}] (key_id {seed.key_id}): the key is seeded twice"
            )
        seen.add((seed.project_id, seed.key_id))
    return seeds


def _record(services: Services, seed: SeedKey, domain_id: str, now: int) -> KeyRecord:
    key_material = seed.material if seed.material is not None else material.generate(seed.key_spec)
    public_key_pem = material.public_key_pem(seed.key_spec, key_material)
    binding = key_binding(seed.key_spec, seed.key_usage, public_key_pem)
    wrapped = services.keyring.wrap(seed.project_id, seed.key_id, 0, key_material, binding)
    return KeyRecord(
        project_id=seed.project_id,
        key_id=seed.key_id,
        domain_id=domain_id,
        key_alias=seed.key_alias,
        key_spec=seed.key_spec,
        key_usage=seed.key_usage,
        key_state=seed.key_state,
        origin=Origin.KMS,
        creation_date=now,
        key_description=seed.key_description,
        realm=services.settings.region_id,
        versions=KeyVersions.first(wrapped, now),
        public_key_pem=public_key_pem,
    )


def apply_seeds(
    services: Services, seeds: list[SeedKey], domain_id: str, source: str = "seed file"
) -> SeedResult:
    """Create the seeded keys that do not exist yet, with their aliases (in ``domain_id``) and tags."""
    created: list[str] = []
    existing: list[str] = []
    for index, seed in enumerate(seeds):
        where = f"{source}: keys[{index}] (key_id {seed.key_id})"
        if services.stores.keys.get_key(seed.project_id, seed.key_id) is not None:
            existing.append(seed.key_id)
            continue
        for alias in seed.aliases:
            if services.stores.aliases.get_alias(domain_id, alias) is not None:
                raise SeedError(f"{where}: alias {alias} already exists")
        if len(seed.tags) > services.settings.tags_per_key:
            raise SeedError(f"{where}: at most {services.settings.tags_per_key} tags")
        now = now_ms()
        try:
            services.stores.keys.create_key(_record(services, seed, domain_id, now))
        except AliasExists:
            raise SeedError(f"{where}: key_alias {seed.key_alias} is taken by another key") from None
        except KeyExists:
            raise SeedError(f"{where}: the key id is taken in another project") from None
        for alias in seed.aliases:
            record = AliasRecord(domain_id, alias, seed.key_id, seed.project_id, now, now)
            try:
                services.stores.aliases.create_alias(record)
            except AliasExists:
                raise SeedError(f"{where}: alias {alias} already exists") from None
        if seed.tags:
            services.stores.tags.change_tags(
                seed.project_id, seed.key_id, put=seed.tags, max_tags=services.settings.tags_per_key
            )
        created.append(seed.key_id)
    return SeedResult(tuple(created), tuple(existing))


def seed_keys(services: Services, path: Path, env: Mapping[str, str]) -> SeedResult:
    """Load the seed file at ``path`` and apply it (the default project: the bootstrap one)."""
    project_id, domain_id = bootstrap_identity(services, env)
    seeds = load_seed_file(path, project_id)
    return apply_seeds(services, seeds, domain_id, f"seed file {path}")
