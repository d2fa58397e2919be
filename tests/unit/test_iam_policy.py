"""The IAM policy evaluator, table-driven: (policy statements, request) -> decision.

The expectations are written from access-control.md §2.3–§2.6 and AWS IAM's documented semantics,
not from the implementation's tables: each row says in words why it decides as it does.
"""

from __future__ import annotations

from typing import Any

import pytest

from skms.iam.actions import ACTIONS
from skms.iam.policy import (
    SYSTEM_POLICIES,
    Outcome,
    PolicyError,
    Request,
    evaluate,
    key_urn,
    parse_policy,
)

DOMAIN = "3bab8e245e854f68af5967c00dd43127"
KEY = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
OTHER_KEY = "1d0466b0-e727-4d9c-b35d-f84bb474a37f"
URN = key_urn("cn-north-4", DOMAIN, KEY)
ALLOW, DENY, NONE = Outcome.ALLOW, Outcome.DENY, Outcome.IMPLICIT_DENY


def request(operation: str, key_id: str | None = KEY, /, **context: str | list[str]) -> Request:
    action = ACTIONS[operation]
    resource = key_urn("cn-north-4", DOMAIN, key_id) if action.on_key and key_id else None
    values = {k.lower(): (v,) if isinstance(v, str) else tuple(v) for k, v in context.items()}
    return Request(action.names, resource, values)


def v11(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1.1", "Statement": list(statements)}


def v5(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "5.0", "Statement": list(statements)}


def allow(*actions: str, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), **extra}


def deny(*actions: str, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": list(actions), **extra}


CASES: list[tuple[str, list[dict[str, Any]], Request, Outcome]] = [
    # --- default deny and the basic Allow
    ("no policy at all denies", [], request("describe-key"), NONE),
    ("an exact v5 action allows", [v5(allow("kms:cmk:get", Resource=["*"]))], request("describe-key"), ALLOW),
    (
        "a v1.1 alias allows the v5 operation",
        [v11(allow("kms:dek:create"))],
        request("create-datakey"),
        ALLOW,
    ),
    (
        "kms:dek:crypto covers decrypt-datakey",
        [v11(allow("kms:dek:crypto"))],
        request("decrypt-datakey"),
        ALLOW,
    ),
    (
        "kms:dek:crypto does not cover encrypt-data",
        [v11(allow("kms:dek:crypto"))],
        request("encrypt-data"),
        NONE,
    ),
    ("another action does not allow", [v11(allow("kms:cmk:get"))], request("create-datakey"), NONE),
    ("kms:*:* allows everything of KMS", [v11(allow("kms:*:*"))], request("sign"), ALLOW),
    ("kms:cmk:* allows the cmk actions", [v11(allow("kms:cmk:*"))], request("encrypt-data"), ALLOW),
    (
        "kms:cmk:* also takes create-datakey by its v5 name",
        [v11(allow("kms:cmk:*"))],
        request("create-datakey"),
        ALLOW,
    ),
    ("kms:grant:* does not reach cmk actions", [v11(allow("kms:grant:*"))], request("describe-key"), NONE),
    ("a bare * allows every action", [v5(allow("*", Resource=["*"]))], request("verify"), ALLOW),
    ("another service's wildcard does not reach KMS", [v11(allow("obs:*:*"))], request("describe-key"), NONE),
    ("actions compare case-insensitively", [v11(allow("KMS:CMK:GET"))], request("describe-key"), ALLOW),
    ("a ? wildcard matches one character", [v11(allow("kms:cmk:ge?"))], request("describe-key"), ALLOW),
    # --- explicit deny wins, in any policy, in any order
    (
        "a Deny beats an Allow in the same policy",
        [v11(allow("kms:*:*"), deny("kms:cmk:sign"))],
        request("sign"),
        DENY,
    ),
    (
        "a Deny in another policy beats an Allow",
        [v11(allow("kms:cmk:sign")), v5(deny("kms:*:*", Resource=["*"]))],
        request("sign"),
        DENY,
    ),
    (
        "a Deny of another action leaves the Allow",
        [v11(allow("kms:*:*"), deny("kms:cmk:sign"))],
        request("verify"),
        ALLOW,
    ),
    ("a Deny alone is still a deny", [v11(deny("kms:cmk:get"))], request("describe-key"), DENY),
    # --- resources (§2.3)
    (
        "the key's own URN allows",
        [v5(allow("kms:cmk:encryptData", Resource=[URN]))],
        request("encrypt-data"),
        ALLOW,
    ),
    (
        "another key's URN does not allow",
        [v5(allow("kms:cmk:encryptData", Resource=[URN]))],
        request("encrypt-data", OTHER_KEY),
        NONE,
    ),
    (
        "the v1.1 form KMS:*:*:KeyId:<id> allows",
        [v11(allow("kms:cmk:crypto", Resource=[f"KMS:*:*:KeyId:{KEY}"]))],
        request("decrypt-data"),
        ALLOW,
    ),
    (
        "the resource type compares case-insensitively",
        [v11(allow("kms:cmk:crypto", Resource=[f"kms:*:*:keyid:{KEY}"]))],
        request("decrypt-data"),
        ALLOW,
    ),
    (
        "the key id compares exactly",
        [v11(allow("kms:cmk:crypto", Resource=[f"kms:*:*:KeyId:{KEY.upper()}"]))],
        request("decrypt-data"),
        NONE,
    ),
    (
        "another account's keys do not match",
        [v5(allow("kms:*:*", Resource=["kms:*:00000000000000000000000000000000:KeyId:*"]))],
        request("describe-key"),
        NONE,
    ),
    (
        "another region does not match",
        [v5(allow("kms:*:*", Resource=[f"kms:eu-west-0:{DOMAIN}:KeyId:*"]))],
        request("describe-key"),
        NONE,
    ),
    (
        "a path wildcard matches any key",
        [v5(allow("kms:*:*", Resource=["kms:*:*:KeyId:*"]))],
        request("describe-key", OTHER_KEY),
        ALLOW,
    ),
    (
        "an operation on no key needs Resource * (or none)",
        [v5(allow("kms:*:*", Resource=["kms:*:*:KeyId:*"]))],
        request("create-key", None),
        NONE,
    ),
    (
        "an operation on no key, Resource *",
        [v5(allow("kms:*:*", Resource=["*"]))],
        request("create-key", None),
        ALLOW,
    ),
    (
        "an operation on no key, no Resource (v1.1)",
        [v11(allow("kms::generateRandom"))],
        request("gen-random", None),
        ALLOW,
    ),
    (
        "NotResource excludes the key",
        [v5(allow("kms:*:*", NotResource=[URN]))],
        request("describe-key"),
        NONE,
    ),
    (
        "NotResource leaves other keys",
        [v5(allow("kms:*:*", NotResource=[URN]))],
        request("describe-key", OTHER_KEY),
        ALLOW,
    ),
    (
        "NotAction allows everything else",
        [v5({"Effect": "Allow", "NotAction": ["kms:cmk:sign"], "Resource": ["*"]})],
        request("verify"),
        ALLOW,
    ),
    (
        "NotAction does not allow the listed action",
        [v5({"Effect": "Allow", "NotAction": ["kms:cmk:sign"], "Resource": ["*"]})],
        request("sign"),
        NONE,
    ),
    # --- conditions (§2.4)
    (
        "StringEquals on kms:KeySpec holds",
        [v11(allow("kms:*:*", Condition={"StringEquals": {"kms:KeySpec": ["AES_256", "SM4"]}}))],
        request("encrypt-data", **{"kms:KeySpec": "SM4"}),
        ALLOW,
    ),
    (
        "StringEquals on kms:KeySpec fails for another spec",
        [v11(allow("kms:*:*", Condition={"StringEquals": {"kms:KeySpec": ["AES_256"]}}))],
        request("encrypt-data", **{"kms:KeySpec": "RSA_2048"}),
        NONE,
    ),
    (
        "condition keys compare case-insensitively, values exactly",
        [v11(allow("kms:*:*", Condition={"StringEquals": {"KMS:KEYSPEC": ["aes_256"]}}))],
        request("encrypt-data", **{"kms:KeySpec": "AES_256"}),
        NONE,
    ),
    (
        "StringEqualsIgnoreCase ignores the case of values",
        [v11(allow("kms:*:*", Condition={"StringEqualsIgnoreCase": {"kms:KeyUsage": ["encrypt_decrypt"]}}))],
        request("encrypt-data", **{"kms:KeyUsage": "ENCRYPT_DECRYPT"}),
        ALLOW,
    ),
    (
        "a missing key fails a positive operator",
        [v11(allow("kms:*:*", Condition={"StringEquals": {"kms:KeyOrigin": ["kms"]}}))],
        request("encrypt-data"),
        NONE,
    ),
    (
        "IfExists holds when the key is missing",
        [v11(allow("kms:*:*", Condition={"StringEqualsIfExists": {"kms:KeyOrigin": ["kms"]}}))],
        request("encrypt-data"),
        ALLOW,
    ),
    (
        "IfExists still checks a present key",
        [v11(allow("kms:*:*", Condition={"StringEqualsIfExists": {"kms:KeyOrigin": ["kms"]}}))],
        request("encrypt-data", **{"kms:KeyOrigin": "external"}),
        NONE,
    ),
    (
        "a Deny unless AES_256 (StringNotEquals) refuses RSA keys",
        [
            v5(
                allow("kms:*:*", Resource=["*"]),
                deny(
                    "kms:cmk:create",
                    Resource=["*"],
                    Condition={"StringNotEquals": {"kms:KeySpec": "AES_256"}},
                ),
            )
        ],
        request("create-key", None, **{"kms:KeySpec": "RSA_2048"}),
        DENY,
    ),
    (
        "the same Deny lets AES_256 through",
        [
            v5(
                allow("kms:*:*", Resource=["*"]),
                deny(
                    "kms:cmk:create",
                    Resource=["*"],
                    Condition={"StringNotEquals": {"kms:KeySpec": "AES_256"}},
                ),
            )
        ],
        request("create-key", None, **{"kms:KeySpec": "AES_256"}),
        ALLOW,
    ),
    (
        "a negated operator holds when the key is missing (as AWS IAM)",
        [v11(allow("kms:*:*"), deny("kms:*:*", Condition={"StringNotEquals": {"kms:KeySpec": ["AES_256"]}}))],
        request("gen-random", None),
        DENY,
    ),
    (
        "all operators and keys of a statement must hold",
        [
            v11(
                allow(
                    "kms:*:*",
                    Condition={
                        "StringEquals": {"kms:KeySpec": ["AES_256"], "kms:KeyUsage": ["ENCRYPT_DECRYPT"]},
                        "StringLike": {"g:EnterpriseProjectId": ["0"]},
                    },
                )
            )
        ],
        request(
            "encrypt-data",
            **{"kms:KeySpec": "AES_256", "kms:KeyUsage": "SIGN_VERIFY", "g:EnterpriseProjectId": "0"},
        ),
        NONE,
    ),
    (
        "StringLike with a wildcard",
        [v11(allow("kms:*:*", Condition={"StringLike": {"kms:KeySpec": ["RSA_*"]}}))],
        request("sign", **{"kms:KeySpec": "RSA_4096"}),
        ALLOW,
    ),
    (
        "a tag condition on the key's tags",
        [
            v5(
                allow("kms:*:*", Resource=["*"]),
                deny(
                    "kms:*:*",
                    Resource=["kms:*:*:KeyId:*"],
                    Condition={"StringEquals": {"g:ResourceTag/env": "prod"}},
                ),
            )
        ],
        request("decrypt-data", **{"g:ResourceTag/env": "prod"}),
        DENY,
    ),
    (
        "the tag Deny leaves untagged keys",
        [
            v5(
                allow("kms:*:*", Resource=["*"]),
                deny(
                    "kms:*:*",
                    Resource=["kms:*:*:KeyId:*"],
                    Condition={"StringEquals": {"g:ResourceTag/env": "prod"}},
                ),
            )
        ],
        request("decrypt-data"),
        ALLOW,
    ),
    (
        "ForAllValues: every grant operation must be listed",
        [
            v5(
                allow(
                    "kms:cmk:createGrant",
                    Resource=["*"],
                    Condition={
                        "ForAllValues:StringEquals": {
                            "kms:GrantOperations": ["describe-key", "encrypt-data", "decrypt-data"]
                        }
                    },
                )
            )
        ],
        request("create-grant", **{"kms:GrantOperations": ["encrypt-data", "create-datakey"]}),
        NONE,
    ),
    (
        "ForAllValues: a subset passes",
        [
            v5(
                allow(
                    "kms:cmk:createGrant",
                    Resource=["*"],
                    Condition={
                        "ForAllValues:StringEquals": {
                            "kms:GrantOperations": ["describe-key", "encrypt-data", "decrypt-data"]
                        }
                    },
                )
            )
        ],
        request("create-grant", **{"kms:GrantOperations": ["encrypt-data", "decrypt-data"]}),
        ALLOW,
    ),
    (
        "ForAnyValue: one listed operation is enough",
        [
            v5(
                allow(
                    "kms:cmk:createGrant",
                    Resource=["*"],
                    Condition={"ForAnyValue:StringEquals": {"kms:GrantOperations": ["describe-key"]}},
                )
            )
        ],
        request("create-grant", **{"kms:GrantOperations": ["encrypt-data", "describe-key"]}),
        ALLOW,
    ),
    (
        "Null: true means the key must be absent",
        [v11(allow("kms:*:*", Condition={"Null": {"kms:RequestAlias": ["true"]}}))],
        request("encrypt-data", **{"kms:RequestAlias": "alias/orders"}),
        NONE,
    ),
    (
        "NumberLessThan on g:MFAAge",
        [v11(allow("kms:*:*", Condition={"NumberLessThan": {"g:MFAAge": ["3600"]}}))],
        request("encrypt-data", **{"g:MFAAge": "60"}),
        ALLOW,
    ),
    (
        "DateLessThan on g:CurrentTime: expired",
        [v11(allow("kms:*:*", Condition={"DateLessThan": {"g:CurrentTime": ["2020-01-01T00:00:00Z"]}}))],
        request("encrypt-data", **{"g:CurrentTime": "2026-12-06T19:00:00Z"}),
        NONE,
    ),
    (
        "Bool on g:MFAPresent",
        [v11(allow("kms:*:*", Condition={"Bool": {"g:MFAPresent": ["true"]}}))],
        request("encrypt-data", **{"g:MFAPresent": "true"}),
        ALLOW,
    ),
]


@pytest.mark.parametrize(("why", "documents", "asked", "expected"), CASES, ids=[case[0] for case in CASES])
def test_evaluation(why: str, documents: list[dict[str, Any]], asked: Request, expected: Outcome) -> None:
    policies = [parse_policy(document) for document in documents]
    assert evaluate(policies, asked).outcome is expected, why


def test_a_deny_names_the_statement_that_decided() -> None:
    policy = parse_policy(
        v5(allow("kms:*:*", Resource=["*"]), {"Sid": "NoSigning", **deny("kms:cmk:sign", Resource=["*"])})
    )
    decision = evaluate([policy], request("sign"))
    assert decision.outcome is DENY
    assert decision.statement == "statement 2 (NoSigning)"


@pytest.mark.parametrize(
    ("operation", "read_only_allows"),
    [
        ("describe-key", True),
        ("list-keys", True),
        ("get-publickey", True),
        ("show-user-quotas", True),
        ("encrypt-data", False),
        ("create-key", False),
        ("disable-key", False),
        ("create-datakey", False),
    ],
)
def test_system_policies(operation: str, read_only_allows: bool) -> None:
    asked = request(operation, KEY if ACTIONS[operation].on_key else None)
    assert evaluate([SYSTEM_POLICIES["KMS Administrator"]], asked).outcome is ALLOW
    assert evaluate([SYSTEM_POLICIES["KMS CMKFullAccess"]], asked).outcome is ALLOW
    expected = ALLOW if read_only_allows else NONE
    assert evaluate([SYSTEM_POLICIES["KMS CMKReadOnlyAccess"]], asked).outcome is expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not a policy", "JSON object"),
        ({"Version": "2012-10-17", "Statement": [allow("kms:cmk:get")]}, "Version"),
        ({"Version": "1.1", "Statement": []}, "non-empty"),
        (v11({"Effect": "Maybe", "Action": ["kms:cmk:get"]}), "statement 1: Effect"),
        (
            v11(allow("kms:cmk:get"), allow("kms:cmk:teleport")),
            "statement 2: unknown action 'kms:cmk:teleport'",
        ),
        (v11(allow("kms-cmk-get")), "statement 1: 'kms-cmk-get' is not an action"),
        (v11(allow("kms:cmk:get", Resource=["KMS:KeyId:x"])), "is not a resource"),
        (
            v11(allow("kms:cmk:get", Condition={"StringSortOf": {"kms:KeySpec": ["AES_256"]}})),
            "unknown condition operator 'StringSortOf'",
        ),
        (
            v11(allow("kms:cmk:get", Condition={"ForSomeValues:StringEquals": {"kms:KeySpec": ["x"]}})),
            "qualifier",
        ),
        (
            v11(allow("kms:cmk:get", Condition={"StringEquals": {"kms:KeyColour": ["red"]}})),
            "unknown condition key 'kms:KeyColour'",
        ),
        (
            v11(allow("kms:cmk:get", Condition={"StringEquals": {"kms:KeySpec": []}})),
            "statement 1: kms:KeySpec",
        ),
        (v11({"Effect": "Allow", "NotAction": ["kms:cmk:get"]}), "not allowed in a 1.1 policy"),
        (
            v5({"Effect": "Allow", "Action": ["kms:cmk:get"], "NotAction": ["kms:cmk:list"]}),
            "exactly one of Action",
        ),
        (
            v5({"Sid": "Both", "Effect": "Allow", "Action": ["*"], "Resource": ["*"], "NotResource": ["*"]}),
            "statement 1 (Both)",
        ),
        ({"Version": "5.0", "Statement": [allow("*")], "Extra": 1}, "unknown field"),
    ],
)
def test_malformed_documents_are_refused_naming_the_statement(document: Any, message: str) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy(document)
    assert message in str(refused.value)


def test_every_operation_has_an_action_named_in_kms() -> None:
    for operation, action in ACTIONS.items():
        assert action.name.startswith("kms:"), operation
        assert len(action.name.split(":")) == 3, operation


def test_every_authenticated_operation_has_its_action() -> None:
    # The functions' operations come from their handlers (endpoint() records each one's spec)
    from skms.api.handler import endpoint_of
    from skms.sam_template import load_handler, routes_from_template
    from tests.conftest import REPO_ROOT

    operations = set()
    for route in routes_from_template(REPO_ROOT / "template.yaml"):
        spec = endpoint_of(load_handler(route))
        if spec is not None and not spec.public:
            operations.add(spec.operation)
    assert operations
    assert operations <= set(ACTIONS), sorted(operations - set(ACTIONS))
