"""The evaluator as a table: statements x request -> decision (access-control.md §2.3-§2.6).

Written independently of the implementation's tables: the action names of each operation (v5 name
first, then its v1.1 aliases) and the key URNs are spelled out literally here, never taken from
skms.iam.actions or built with key_urn. Each row is (why, statements, request, expected outcome).
"""

from __future__ import annotations

from typing import Any

import pytest

from skms.iam.policy import Request, evaluate, parse_policy

DOMAIN = "3bab8e245e854f68af5967c00dd43127"
KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
URN = f"kms:cn-north-4:{DOMAIN}:KeyId:{KEY_ID}"
OTHER_URN = f"kms:cn-north-4:{DOMAIN}:KeyId:9f9f9f9f-e727-4d9c-b35d-f84bb474a37f"

# Operations as the server presents them: (v5 action, v1.1 aliases...), resource.
CREATE_DATAKEY = ("kms:cmk:createDataKey", "kms:dek:create")
DECRYPT_DATAKEY = ("kms:cmk:decryptDataKey", "kms:dek:crypto", "kms:dek:decrypt")
DECRYPT_DATA = ("kms:cmk:decryptData", "kms:cmk:crypto", "kms:cmk:decrypt")
DESCRIBE = ("kms:cmk:get",)
GET_PUBLIC_KEY = ("kms:cmk:getPublicKey",)
CREATE_KEY = ("kms:cmk:create",)
LIST_KEYS = ("kms:cmk:list",)
GEN_RANDOM = ("kms::generateRandom", "kms:cmk:generate")
CREATE_GRANT = ("kms:cmk:createGrant", "kms:grant:create")

ALLOW, DENY, IMPLICIT = "allow", "deny", "implicit-deny"


def on_key(names: tuple[str, ...], urn: str = URN, **context: Any) -> Request:
    return Request(names, urn, _context(context))


def on_nothing(names: tuple[str, ...], **context: Any) -> Request:
    return Request(names, None, _context(context))


def _context(given: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    # Keyword names stand for condition keys: kms_keyspec -> kms:keyspec, g_resourcetag_env ->
    # g:resourcetag/env (the request's keys are lower-case).
    out: dict[str, tuple[str, ...]] = {}
    for name, value in given.items():
        service, _, rest = name.partition("_")
        key = f"{service}:{rest.replace('resourcetag_', 'resourcetag/')}"
        out[key] = (value,) if isinstance(value, str) else tuple(value)
    return out


def allow(*actions: str, resource: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), **extra}
    if resource is not None:
        statement["Resource"] = resource
    return statement


def deny(*actions: str, resource: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {**allow(*actions, resource=resource, **extra), "Effect": "Deny"}


def when(operator: str, key: str, values: str | list[str]) -> dict[str, Any]:
    return {"Condition": {operator: {key: values}}}


ALL_ON_KEYS = ["kms:*:*:KeyId:*"]

ROWS: list[tuple[str, list[dict[str, Any]], Request, str]] = [
    # default deny
    ("no statement at all", [], on_key(CREATE_DATAKEY), IMPLICIT),
    ("an Allow of another action only", [allow("kms:cmk:get")], on_key(CREATE_DATAKEY), IMPLICIT),
    # action wildcards
    ("kms:*:* allows a key operation", [allow("kms:*:*")], on_key(CREATE_DATAKEY), ALLOW),
    ("kms:*:* allows an operation on no key", [allow("kms:*:*")], on_nothing(CREATE_KEY), ALLOW),
    (
        "kms:*:* matches the empty type of kms::generateRandom",
        [allow("kms:*:*")],
        on_nothing(GEN_RANDOM),
        ALLOW,
    ),
    ("the bare * allows everything", [allow("*")], on_key(DECRYPT_DATA), ALLOW),
    ("kms:cmk:* matches a v5 name", [allow("kms:cmk:*")], on_key(DECRYPT_DATAKEY), ALLOW),
    ("kms:cmk:* grants gen-random by its v1.1 name", [allow("kms:cmk:*")], on_nothing(GEN_RANDOM), ALLOW),
    (
        "kms:cmk:* does not match kms::generateRandom",
        [allow("kms:cmk:*")],
        on_nothing(("kms::generateRandom",)),
        IMPLICIT,
    ),
    (
        "kms:dek:* matches the v1.1 alias of create-datakey",
        [allow("kms:dek:*")],
        on_key(CREATE_DATAKEY),
        ALLOW,
    ),
    ("kms:dek:* does not match describe", [allow("kms:dek:*")], on_key(DESCRIBE), IMPLICIT),
    (
        "the action segment matches whole",
        [allow("kms:*:create")],
        on_key(("kms:cmk:createDataKey",)),
        IMPLICIT,
    ),
    (
        "kms:*:create matches create-datakey's v1.1 name",
        [allow("kms:*:create")],
        on_key(CREATE_DATAKEY),
        ALLOW,
    ),
    ("kms:*:create matches kms:cmk:create", [allow("kms:*:create")], on_nothing(CREATE_KEY), ALLOW),
    ("a trailing * in the action segment", [allow("kms:cmk:get*")], on_key(GET_PUBLIC_KEY), ALLOW),
    ("? matches one character", [allow("kms:cmk:ge?")], on_key(DESCRIBE), ALLOW),
    ("another service's wildcard", [allow("obs:*:*")], on_key(DESCRIBE), IMPLICIT),
    # v1.1 and v5 names
    ("the v5 name", [allow("kms:cmk:createDataKey")], on_key(CREATE_DATAKEY), ALLOW),
    ("the v1.1 name", [allow("kms:dek:create")], on_key(CREATE_DATAKEY), ALLOW),
    ("action names are case-insensitive", [allow("KMS:CMK:CREATEDATAKEY")], on_key(CREATE_DATAKEY), ALLOW),
    ("kms:dek:crypto grants decrypt-datakey", [allow("kms:dek:crypto")], on_key(DECRYPT_DATAKEY), ALLOW),
    ("kms:cmk:crypto grants decrypt-data", [allow("kms:cmk:crypto")], on_key(DECRYPT_DATA), ALLOW),
    (
        "kms:cmk:crypto does not grant decrypt-datakey",
        [allow("kms:cmk:crypto")],
        on_key(DECRYPT_DATAKEY),
        IMPLICIT,
    ),
    ("kms:grant:create grants create-grant", [allow("kms:grant:create")], on_key(CREATE_GRANT), ALLOW),
    ("the v1.1 name of gen-random", [allow("kms:cmk:generate")], on_nothing(GEN_RANDOM), ALLOW),
    # resources
    ("no Resource: every resource", [allow("kms:cmk:get")], on_key(DESCRIBE, OTHER_URN), ALLOW),
    ("Resource *", [allow("kms:cmk:get", resource=["*"])], on_key(DESCRIBE), ALLOW),
    ("this key's URN", [allow("kms:cmk:get", resource=[URN])], on_key(DESCRIBE), ALLOW),
    ("another key's URN", [allow("kms:cmk:get", resource=[URN])], on_key(DESCRIBE, OTHER_URN), IMPLICIT),
    (
        "v1.1 form KMS:*:*:KeyId:<id> (service case-insensitive)",
        [allow("kms:cmk:get", resource=[f"KMS:*:*:KeyId:{KEY_ID}"])],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "resource type case-insensitive",
        [allow("kms:cmk:get", resource=[f"kms:*:*:keyid:{KEY_ID}"])],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "the account is compared exactly",
        [allow("kms:cmk:get", resource=["kms:*:ffffffffffffffffffffffffffffffff:KeyId:*"])],
        on_key(DESCRIBE),
        IMPLICIT,
    ),
    (
        "the region is compared exactly",
        [allow("kms:cmk:get", resource=["kms:eu-west-0:*:KeyId:*"])],
        on_key(DESCRIBE),
        IMPLICIT,
    ),
    (
        "a prefix of the key id",
        [allow("kms:cmk:get", resource=["kms:cn-north-4:*:KeyId:0d04*"])],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "the key id is case-sensitive",
        [allow("kms:cmk:get", resource=[f"kms:*:*:KeyId:{KEY_ID.upper()}"])],
        on_key(DESCRIBE),
        IMPLICIT,
    ),
    (
        "one of several resources",
        [allow("kms:cmk:get", resource=[OTHER_URN, URN])],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "a key pattern cannot match an operation on no key",
        [allow("kms:*:*", resource=ALL_ON_KEYS)],
        on_nothing(CREATE_KEY),
        IMPLICIT,
    ),
    (
        "Resource * matches an operation on no key",
        [allow("kms:*:*", resource=["*"])],
        on_nothing(LIST_KEYS),
        ALLOW,
    ),
    (
        "kms::generateRandom needs Resource *",
        [allow("kms::generateRandom", resource=ALL_ON_KEYS)],
        on_nothing(GEN_RANDOM),
        IMPLICIT,
    ),
    # NotAction / NotResource (v5)
    (
        "NotAction: everything but decryption, describe allowed",
        [{"Effect": "Allow", "NotAction": ["kms:cmk:decrypt*"], "Resource": ["*"]}],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "NotAction: everything but decryption, decrypt-data not",
        [{"Effect": "Allow", "NotAction": ["kms:cmk:decrypt*"], "Resource": ["*"]}],
        on_key(DECRYPT_DATA),
        IMPLICIT,
    ),
    (
        "NotAction through a v1.1 alias",
        [{"Effect": "Allow", "NotAction": ["kms:dek:*"], "Resource": ["*"]}],
        on_key(CREATE_DATAKEY),
        IMPLICIT,
    ),
    (
        "NotResource: every key but one, another key",
        [{"Effect": "Allow", "Action": ["kms:*:*"], "NotResource": [URN]}],
        on_key(DESCRIBE, OTHER_URN),
        ALLOW,
    ),
    (
        "NotResource: every key but one, that key",
        [{"Effect": "Allow", "Action": ["kms:*:*"], "NotResource": [URN]}],
        on_key(DESCRIBE),
        IMPLICIT,
    ),
    # explicit deny wins
    ("Deny after Allow", [allow("kms:*:*"), deny("kms:cmk:createDataKey")], on_key(CREATE_DATAKEY), DENY),
    ("Deny before Allow", [deny("kms:cmk:createDataKey"), allow("kms:*:*")], on_key(CREATE_DATAKEY), DENY),
    ("Deny by the v1.1 alias", [allow("kms:cmk:*"), deny("kms:dek:create")], on_key(CREATE_DATAKEY), DENY),
    (
        "a Deny of another key",
        [allow("kms:*:*"), deny("kms:*:*", resource=[URN])],
        on_key(DESCRIBE, OTHER_URN),
        ALLOW,
    ),
    ("a Deny of this key", [allow("kms:*:*"), deny("kms:*:*", resource=[URN])], on_key(DESCRIBE), DENY),
    ("a Deny alone", [deny("kms:cmk:get")], on_key(DESCRIBE), DENY),
    ("a Deny of another action alone", [deny("kms:cmk:get")], on_key(CREATE_DATAKEY), IMPLICIT),
    # conditions: strings
    (
        "StringEquals holds",
        [allow("kms:cmk:create", **when("StringEquals", "kms:KeySpec", "AES_256"))],
        on_nothing(CREATE_KEY, kms_keyspec="AES_256"),
        ALLOW,
    ),
    (
        "StringEquals fails",
        [allow("kms:cmk:create", **when("StringEquals", "kms:KeySpec", "AES_256"))],
        on_nothing(CREATE_KEY, kms_keyspec="SM4"),
        IMPLICIT,
    ),
    (
        "StringEquals is case-sensitive",
        [allow("kms:cmk:create", **when("StringEquals", "kms:KeySpec", "aes_256"))],
        on_nothing(CREATE_KEY, kms_keyspec="AES_256"),
        IMPLICIT,
    ),
    (
        "StringEquals on an absent key fails",
        [allow("kms:cmk:get", **when("StringEquals", "kms:RequestAlias", "alias/a"))],
        on_key(DESCRIBE),
        IMPLICIT,
    ),
    (
        "several values are ORed",
        [allow("kms:cmk:create", **when("StringEquals", "kms:KeySpec", ["AES_256", "SM4"]))],
        on_nothing(CREATE_KEY, kms_keyspec="SM4"),
        ALLOW,
    ),
    (
        "condition key names are case-insensitive",
        [allow("kms:cmk:create", **when("StringEquals", "KMS:KEYSPEC", "SM4"))],
        on_nothing(CREATE_KEY, kms_keyspec="SM4"),
        ALLOW,
    ),
    (
        "StringEqualsIgnoreCase",
        [allow("kms:cmk:create", **when("StringEqualsIgnoreCase", "kms:KeySpec", "aes_256"))],
        on_nothing(CREATE_KEY, kms_keyspec="AES_256"),
        ALLOW,
    ),
    (
        "StringNotEquals, a Deny that applies",
        [
            allow("kms:*:*"),
            deny("kms:cmk:create", resource=["*"], **when("StringNotEquals", "kms:KeySpec", "AES_256")),
        ],
        on_nothing(CREATE_KEY, kms_keyspec="RSA_2048"),
        DENY,
    ),
    (
        "StringNotEquals, a Deny that does not",
        [
            allow("kms:*:*"),
            deny("kms:cmk:create", resource=["*"], **when("StringNotEquals", "kms:KeySpec", "AES_256")),
        ],
        on_nothing(CREATE_KEY, kms_keyspec="AES_256"),
        ALLOW,
    ),
    (
        "StringNotEquals holds on an absent key",
        [allow("kms:cmk:get", **when("StringNotEquals", "kms:RequestAlias", "alias/a"))],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "StringLike with *",
        [allow("kms:*:*", **when("StringLike", "g:ResourceTag/env", "prod*"))],
        on_key(DESCRIBE, g_resourcetag_env="production"),
        ALLOW,
    ),
    (
        "StringLike not matching",
        [allow("kms:*:*", **when("StringLike", "g:ResourceTag/env", "prod*"))],
        on_key(DESCRIBE, g_resourcetag_env="dev"),
        IMPLICIT,
    ),
    (
        "StringLike on an absent tag fails",
        [allow("kms:*:*", **when("StringLike", "g:ResourceTag/env", "*"))],
        on_key(DESCRIBE),
        IMPLICIT,
    ),
    (
        "StringNotLike",
        [allow("kms:*:*", **when("StringNotLike", "kms:RequestAlias", "alias/prod-*"))],
        on_key(DESCRIBE, kms_requestalias="alias/dev-1"),
        ALLOW,
    ),
    (
        "StringStartWith",
        [allow("kms:*:*", **when("StringStartWith", "kms:RequestAlias", "alias/app-"))],
        on_key(DESCRIBE, kms_requestalias="alias/app-1"),
        ALLOW,
    ),
    # IfExists
    (
        "IfExists: absent key holds",
        [allow("kms:cmk:get", **when("StringEqualsIfExists", "kms:RequestAlias", "alias/a"))],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "IfExists: present key compared",
        [allow("kms:cmk:get", **when("StringEqualsIfExists", "kms:RequestAlias", "alias/a"))],
        on_key(DESCRIBE, kms_requestalias="alias/b"),
        IMPLICIT,
    ),
    # multi-valued keys
    (
        "ForAnyValue: one value matches",
        [allow("kms:*:*", **when("ForAnyValue:StringEquals", "kms:GrantOperations", ["encrypt-data"]))],
        on_key(CREATE_GRANT, kms_grantoperations=["describe-key", "encrypt-data"]),
        ALLOW,
    ),
    (
        "ForAnyValue: none matches",
        [allow("kms:*:*", **when("ForAnyValue:StringEquals", "kms:GrantOperations", ["encrypt-data"]))],
        on_key(CREATE_GRANT, kms_grantoperations=["describe-key"]),
        IMPLICIT,
    ),
    (
        "ForAllValues: every value allowed",
        [
            allow(
                "kms:*:*",
                **when(
                    "ForAllValues:StringEquals",
                    "kms:GrantOperations",
                    ["describe-key", "encrypt-data", "decrypt-data"],
                ),
            )
        ],
        on_key(CREATE_GRANT, kms_grantoperations=["encrypt-data", "decrypt-data"]),
        ALLOW,
    ),
    (
        "ForAllValues: one value not allowed",
        [
            allow(
                "kms:*:*",
                **when("ForAllValues:StringEquals", "kms:GrantOperations", ["describe-key", "encrypt-data"]),
            )
        ],
        on_key(CREATE_GRANT, kms_grantoperations=["encrypt-data", "create-grant"]),
        IMPLICIT,
    ),
    (
        "ForAllValues: no values at all holds",
        [allow("kms:*:*", **when("ForAllValues:StringEquals", "kms:GrantOperations", ["encrypt-data"]))],
        on_key(CREATE_GRANT),
        ALLOW,
    ),
    # Null
    (
        "Null true: the key is absent",
        [allow("kms:*:*", **when("Null", "kms:RequestAlias", "true"))],
        on_key(DESCRIBE),
        ALLOW,
    ),
    (
        "Null true: the key is present",
        [allow("kms:*:*", **when("Null", "kms:RequestAlias", "true"))],
        on_key(DESCRIBE, kms_requestalias="alias/a"),
        IMPLICIT,
    ),
    (
        "Null false: the key is present",
        [allow("kms:*:*", **when("Null", "kms:RequestAlias", "false"))],
        on_key(DESCRIBE, kms_requestalias="alias/a"),
        ALLOW,
    ),
    (
        "Null false: the key is absent",
        [allow("kms:*:*", **when("Null", "kms:RequestAlias", "false"))],
        on_key(DESCRIBE),
        IMPLICIT,
    ),
    # Bool and numbers
    (
        "Bool true",
        [allow("kms:*:*", **when("Bool", "g:MFAPresent", "true"))],
        on_key(DESCRIBE, g_mfapresent="true"),
        ALLOW,
    ),
    (
        "Bool false given",
        [allow("kms:*:*", **when("Bool", "g:MFAPresent", "true"))],
        on_key(DESCRIBE, g_mfapresent="false"),
        IMPLICIT,
    ),
    ("Bool absent", [allow("kms:*:*", **when("Bool", "g:MFAPresent", "true"))], on_key(DESCRIBE), IMPLICIT),
    (
        "NumberLessThan holds",
        [allow("kms:*:*", **when("NumberLessThan", "g:MFAAge", "3600"))],
        on_key(DESCRIBE, g_mfaage="100"),
        ALLOW,
    ),
    (
        "NumberLessThan fails",
        [allow("kms:*:*", **when("NumberLessThan", "g:MFAAge", "3600"))],
        on_key(DESCRIBE, g_mfaage="7200"),
        IMPLICIT,
    ),
    (
        "NumberLessThan: the bound is excluded",
        [allow("kms:*:*", **when("NumberLessThan", "g:MFAAge", "3600"))],
        on_key(DESCRIBE, g_mfaage="3600"),
        IMPLICIT,
    ),
    (
        "NumberLessThanEquals: the bound included",
        [allow("kms:*:*", **when("NumberLessThanEquals", "g:MFAAge", "3600"))],
        on_key(DESCRIBE, g_mfaage="3600"),
        ALLOW,
    ),
    (
        "NumberGreaterThan",
        [allow("kms:*:*", **when("NumberGreaterThan", "g:MFAAge", "10"))],
        on_key(DESCRIBE, g_mfaage="10.5"),
        ALLOW,
    ),
    (
        "NumberEquals compares numbers, not text",
        [allow("kms:*:*", **when("NumberEquals", "g:MFAAge", "10"))],
        on_key(DESCRIBE, g_mfaage="10.0"),
        ALLOW,
    ),
    (
        "a number that is not one fails",
        [allow("kms:*:*", **when("NumberLessThan", "g:MFAAge", "3600"))],
        on_key(DESCRIBE, g_mfaage="soon"),
        IMPLICIT,
    ),
    # several conditions are ANDed
    (
        "two operators, both hold",
        [
            allow(
                "kms:cmk:create",
                Condition={
                    "StringEquals": {"kms:KeySpec": "RSA_2048"},
                    "StringLike": {"kms:KeyUsage": "SIGN_*"},
                },
            )
        ],
        on_nothing(CREATE_KEY, kms_keyspec="RSA_2048", kms_keyusage="SIGN_VERIFY"),
        ALLOW,
    ),
    (
        "two operators, one fails",
        [
            allow(
                "kms:cmk:create",
                Condition={
                    "StringEquals": {"kms:KeySpec": "RSA_2048"},
                    "StringLike": {"kms:KeyUsage": "SIGN_*"},
                },
            )
        ],
        on_nothing(CREATE_KEY, kms_keyspec="RSA_2048", kms_keyusage="ENCRYPT_DECRYPT"),
        IMPLICIT,
    ),
    (
        "two keys of one operator, one fails",
        [allow("kms:*:*", Condition={"StringEquals": {"kms:KeySpec": "AES_256", "kms:KeyOrigin": "kms"}})],
        on_key(DESCRIBE, kms_keyspec="AES_256", kms_keyorigin="external"),
        IMPLICIT,
    ),
    # the example policy (3) of §2.7: all use, no production keys, AES_256 keys only
    (
        "§2.7 (3): a key tagged env=prod",
        [
            allow("kms:*:*", resource=["*"]),
            deny("kms:*:*", resource=ALL_ON_KEYS, **when("StringEquals", "g:ResourceTag/env", "prod")),
            deny("kms:cmk:create", resource=["*"], **when("StringNotEquals", "kms:KeySpec", "AES_256")),
        ],
        on_key(DECRYPT_DATA, g_resourcetag_env="prod"),
        DENY,
    ),
    (
        "§2.7 (3): a key tagged env=dev",
        [
            allow("kms:*:*", resource=["*"]),
            deny("kms:*:*", resource=ALL_ON_KEYS, **when("StringEquals", "g:ResourceTag/env", "prod")),
        ],
        on_key(DECRYPT_DATA, g_resourcetag_env="dev"),
        ALLOW,
    ),
]


@pytest.mark.parametrize(("why", "statements", "request_", "expected"), ROWS, ids=[row[0] for row in ROWS])
def test_evaluator_table(
    why: str, statements: list[dict[str, Any]], request_: Request, expected: str
) -> None:
    # Given the statements as one v5 policy (and, where the v1.1 syntax allows them, as v1.1 too)
    versions = ["5.0"]
    if all(set(s) <= {"Effect", "Action", "Resource", "Condition"} for s in statements):
        versions.append("1.1")
    for version in versions:
        policies = [parse_policy({"Version": version, "Statement": statements})] if statements else []
        # When the request is evaluated / Then the outcome is the row's
        assert evaluate(policies, request_).outcome.value == expected, (why, version)


def test_statements_split_over_policies_decide_as_one() -> None:
    # Given an Allow in one attached policy and a Deny in another
    allowing = parse_policy({"Version": "1.1", "Statement": [allow("kms:*:*")]})
    denying = parse_policy({"Version": "5.0", "Statement": [deny("kms:cmk:createDataKey", resource=[URN])]})
    # Then the Deny wins whichever order they come in, and only for its key
    for policies in ([allowing, denying], [denying, allowing]):
        assert evaluate(policies, on_key(CREATE_DATAKEY)).outcome.value == DENY
        assert evaluate(policies, on_key(CREATE_DATAKEY, OTHER_URN)).outcome.value == ALLOW


def test_the_deciding_statement_is_named() -> None:
    policy = parse_policy(
        {"Version": "5.0", "Statement": [{"Sid": "NoProd", **deny("kms:*:*")}, allow("kms:*:*")]}
    )
    decision = evaluate([policy], on_key(DESCRIBE))
    assert (decision.outcome.value, decision.statement) == (DENY, "statement 1 (NoProd)")
    allowed = evaluate(
        [parse_policy({"Version": "5.0", "Statement": [allow("kms:cmk:list"), allow("kms:cmk:get")]})],
        on_key(DESCRIBE),
    )
    assert (allowed.outcome.value, allowed.statement) == (ALLOW, "statement 2")
