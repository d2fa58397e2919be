"""Each KMS operation's IAM action, as data (access-control.md §2.2).

Every operation has its v5 action name (``kms:cmk:createDataKey``) and the v1.1 names that also grant
it (``kms:dek:create``): a policy statement's Action matches the operation if it matches any of them.
Names marked "~" in §2.2 are Huawei's naming pattern, not confirmed: the v1.1 aliases are accepted
beside them, so a policy written against either vocabulary works. ``on_key`` says whether the
operation acts on one key (its resource is the key's URN, §2.3) or on none (``kms::generateRandom``,
list and quota operations), which only statements whose Resource is ``*`` or absent can match.
"""

from __future__ import annotations

from dataclasses import dataclass

READ, LIST, WRITE, PERMISSION, TAGGING = "Read", "List", "Write", "Permission_management", "Tagging"


@dataclass(frozen=True, slots=True)
class Action:
    name: str  # the v5 action
    aliases: tuple[str, ...]  # v1.1 (and older) names that grant the same
    on_key: bool
    access_level: str

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _key(name: str, *aliases: str, level: str = WRITE) -> Action:
    return Action(name, aliases, True, level)


def _global(name: str, *aliases: str, level: str = WRITE) -> Action:
    return Action(name, aliases, False, level)


# operation (the name endpoint() gives the function) -> its action. §2.2, row by row.
ACTIONS: dict[str, Action] = {
    "create-key": _global("kms:cmk:create"),
    "describe-key": _key("kms:cmk:get", level=READ),
    "list-keys": _global("kms:cmk:list", level=LIST),
    "enable-key": _key("kms:cmk:enable"),
    "disable-key": _key("kms:cmk:disable"),
    "schedule-key-deletion": _key("kms:cmk:scheduleKeyDeletion", "kms:cmk:update"),
    "cancel-key-deletion": _key("kms:cmk:cancelKeyDeletion", "kms:cmk:update"),
    "update-key-alias": _key("kms:cmk:updateKeyAlias", "kms:cmk:update"),
    "update-key-description": _key("kms:cmk:updateKeyDescription", "kms:cmk:update"),
    "create-datakey": _key("kms:cmk:createDataKey", "kms:dek:create"),
    "create-datakey-without-plaintext": _key("kms:cmk:createDataKeyWithoutPlaintext", "kms:dek:create"),
    "encrypt-datakey": _key("kms:cmk:encryptDataKey", "kms:dek:crypto", "kms:dek:encrypt"),
    "decrypt-datakey": _key("kms:cmk:decryptDataKey", "kms:dek:crypto", "kms:dek:decrypt"),
    "encrypt-data": _key("kms:cmk:encryptData", "kms:cmk:crypto", "kms:cmk:encrypt"),
    "decrypt-data": _key("kms:cmk:decryptData", "kms:cmk:crypto", "kms:cmk:decrypt"),
    "re-encrypt": _key("kms:cmk:reEncrypt", "kms:cmk:crypto"),
    "create-rsa-datakey-pair": _key("kms:cmk:createDataKeyPair", "kms:dek:create"),
    "create-ec-datakey-pair": _key("kms:cmk:createDataKeyPair", "kms:dek:create"),
    "sign": _key("kms:cmk:sign"),
    "verify": _key("kms:cmk:verify"),
    "get-publickey": _key("kms:cmk:getPublicKey", level=READ),
    "derive-shared-secret": _key("kms:cmk:deriveSharedSecret"),
    "generate-mac": _key("kms:cmk:generateMac"),
    "verify-mac": _key("kms:cmk:verifyMac"),
    "create-grant": _key("kms:cmk:createGrant", "kms:grant:create", level=PERMISSION),
    "revoke-grant": _key("kms:cmk:revokeGrant", "kms:grant:revoke", level=PERMISSION),
    "retire-grant": _key("kms:cmk:retireGrant", "kms:grant:retire", level=PERMISSION),
    "list-grants": _key("kms:cmk:listGrants", "kms:grant:list", level=LIST),
    "list-retirable-grants": _global("kms:cmk:listRetirableGrants", "kms:grant:list", level=LIST),
    "create-kms-tag": _key("kms:cmk:tagResource", "kms:cmkTag:create", level=TAGGING),
    "batch-create-kms-tags": _key("kms:cmk:tagResource", "kms:cmkTag:batch", level=TAGGING),
    "delete-tag": _key("kms:cmk:unTagResource", "kms:cmkTag:delete", level=TAGGING),
    "show-kms-tags": _key("kms:cmk:listTags", "kms:cmkTag:list", level=LIST),
    "list-kms-tags": _global("kms::listTags", "kms:cmkTag:list", level=LIST),
    "list-kms-by-tags": _global("kms:cmk:listResourceInstances", "kms:cmkTag:listInstance", level=LIST),
    "create-alias": _key("kms:alias:create"),
    "delete-alias": _key("kms:alias:delete"),
    "list-aliases": _global("kms:alias:list", level=LIST),
    "associate-alias": _key("kms:alias:associate"),
    "get-parameters-for-import": _key("kms:cmk:getParametersForImport", "kms:cmk:getMaterial"),
    "import-key-material": _key("kms:cmk:importKeyMaterial", "kms:cmk:importMaterial"),
    "delete-imported-key-material": _key("kms:cmk:deleteImportedKeyMaterial", "kms:cmk:deleteMaterial"),
    "enable-key-rotation": _key("kms:cmk:enableKeyRotation", "kms:cmk:enableRotation"),
    "disable-key-rotation": _key("kms:cmk:disableKeyRotation", "kms:cmk:disableRotation"),
    "get-key-rotation-status": _key("kms:cmk:getKeyRotationStatus", "kms:cmk:getRotation", level=READ),
    "update-key-rotation-interval": _key("kms:cmk:updateKeyRotationInterval", "kms:cmk:updateRotation"),
    "rotate-on-demand": _key("kms:cmk:rotateKeyOnDemand", "kms:cmk:enableRotation"),
    "gen-random": _global("kms::generateRandom", "kms:cmk:generate"),
    "show-user-quotas": _global("kms::getQuota", "kms:cmk:getQuota", level=READ),
    "show-user-instances": _global("kms::getInstance", "kms:cmk:getInstance", level=READ),
}

# Every KMS action name a policy may name without a wildcard (compared case-insensitively).
KNOWN_NAMES: frozenset[str] = frozenset(name.lower() for action in ACTIONS.values() for name in action.names)
