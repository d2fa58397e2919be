"""template.yaml: the routes it serves, and least privilege by item kind.

The grants are read from the template and evaluated with tests/support/template.py (the calls
each function really makes are checked in tests/integration/test_every_event.py); here, what no
function may do, whatever it calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from skms.sam_template import routes_from_template
from tests.conftest import TEMPLATE
from tests.support.template import AwsCall, allows, denied_calls, function_statements, load_template

K = "/v1.0/{project_id}/kms/"
# What the template served before its policies were shared: every route, its function, its guard.
ROUTES = {
    ("POST", K + "enable-key-rotation", "EnableKeyRotationFunction", True),
    ("POST", K + "disable-key-rotation", "DisableKeyRotationFunction", True),
    ("POST", K + "get-key-rotation-status", "ShowKeyRotationStatusFunction", True),
    ("POST", K + "update-key-rotation-interval", "UpdateKeyRotationIntervalFunction", True),
    ("POST", K + "rotate-on-demand", "RotateOnDemandFunction", True),
    ("POST", K + "get-parameters-for-import", "GetParametersForImportFunction", True),
    ("POST", K + "import-key-material", "ImportKeyMaterialFunction", True),
    ("POST", K + "delete-imported-key-material", "DeleteImportedKeyMaterialFunction", True),
    ("GET", "/", "ShowVersionsFunction", False),
    ("GET", "/{version_id}", "ShowVersionFunction", False),
    ("POST", "/v3/auth/tokens", "CreateTokenFunction", False),
    ("GET", K + "user-instances", "ShowUserInstancesFunction", True),
    ("GET", K + "user-quotas", "ShowUserQuotasFunction", True),
    ("POST", K + "aliases", "CreateAliasFunction", True),
    ("DELETE", K + "aliases", "DeleteAliasFunction", True),
    ("GET", K + "aliases", "ListAliasesFunction", True),
    ("POST", K + "alias/associate", "AssociateAliasFunction", True),
    *(
        ("POST", K + path, function, True)
        for path, function in {
            "cancel-key-deletion": "CancelKeyDeletionFunction",
            "create-datakey": "CreateDatakeyFunction",
            "create-datakey-without-plaintext": "CreateDatakeyWithoutPlaintextFunction",
            "create-ec-datakey-pair": "CreateEcDatakeyPairFunction",
            "create-key": "CreateKeyFunction",
            "create-rsa-datakey-pair": "CreateRsaDatakeyPairFunction",
            "decrypt-data": "DecryptDataFunction",
            "decrypt-datakey": "DecryptDatakeyFunction",
            "derive-shared-secret": "DeriveSharedSecretFunction",
            "describe-key": "DescribeKeyFunction",
            "disable-key": "DisableKeyFunction",
            "enable-key": "EnableKeyFunction",
            "encrypt-data": "EncryptDataFunction",
            "encrypt-datakey": "EncryptDatakeyFunction",
            "gen-random": "CreateRandomFunction",
            "generate-mac": "GenerateMacFunction",
            "get-publickey": "ShowPublicKeyFunction",
            "list-keys": "ListKeysFunction",
            "re-encrypt": "ReEncryptFunction",
            "schedule-key-deletion": "ScheduleKeyDeletionFunction",
            "sign": "SignFunction",
            "update-key-alias": "UpdateKeyAliasFunction",
            "update-key-description": "UpdateKeyDescriptionFunction",
            "verify": "ValidateSignatureFunction",
            "verify-mac": "VerifyMacFunction",
        }.items()
    ),
    # tags (spec §8)
    ("POST", K + "{key_id}/tags", "CreateKmsTagFunction", True),
    ("POST", K + "{key_id}/tags/action", "BatchCreateKmsTagsFunction", True),
    ("DELETE", K + "{key_id}/tags/{key}", "DeleteTagFunction", True),
    ("GET", K + "{key_id}/tags", "ShowKmsTagsFunction", True),
    ("GET", K + "tags", "ListKmsTagsFunction", True),
    ("POST", K + "resource_instances/action", "ListKmsByTagsFunction", True),
    # grants (spec §7)
    ("POST", K + "create-grant", "CreateGrantFunction", True),
    ("POST", K + "revoke-grant", "CancelGrantFunction", True),
    ("POST", K + "retire-grant", "CancelSelfGrantFunction", True),
    ("POST", K + "list-grants", "ListGrantsFunction", True),
    ("POST", K + "list-retirable-grants", "ListRetirableGrantsFunction", True),
}

TEMPLATE_DOC = load_template(TEMPLATE)
RESOURCES: dict[str, Any] = TEMPLATE_DOC["Resources"]
FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")
IDEMPOTENT = {
    "CreateKeyFunction",
    "EnableKeyFunction",
    "DisableKeyFunction",
    "ScheduleKeyDeletionFunction",
    "CancelKeyDeletionFunction",
    "UpdateKeyAliasFunction",
    "UpdateKeyDescriptionFunction",
    "EnableKeyRotationFunction",
    "DisableKeyRotationFunction",
    "UpdateKeyRotationIntervalFunction",
    "ImportKeyMaterialFunction",
    "DeleteImportedKeyMaterialFunction",
    "CreateGrantFunction",
}
PRINCIPAL_FUNCTIONS = {"AuthorizerFunction", "CreateTokenFunction"}
# The functions behind the authorizer: they read the caller's principal (user, policies).
AUTHENTICATED_FUNCTIONS = {function for _, _, function, authorized in ROUTES if authorized}
TAG_WRITERS = {
    "CreateKmsTagFunction",
    "BatchCreateKmsTagsFunction",
    "DeleteTagFunction",
    "DeleteExpiredKeysFunction",  # a deleted key's tags go with it
}
TAG_READERS = TAG_WRITERS | {"ShowKmsTagsFunction", "ListKmsTagsFunction", "ListKmsByTagsFunction"}
TAG_FUNCTIONS = TAG_READERS - {"DeleteExpiredKeysFunction"}
TAG_PARTITIONS = ("TAG#cHJvamVjdA", "TAG#cHJvamVjdA#ZW52")  # a project's tag sets, one tag key's index


def _item(action: str, leading_key: str, *attributes: str) -> AwsCall:
    context = {"dynamodb:LeadingKeys": [leading_key]}
    if attributes:
        context["dynamodb:Attributes"] = ["PK", "SK", *attributes]
    return AwsCall(f"dynamodb:{action}", "table", context)


def _allowed(function: str, call: AwsCall) -> bool:
    return not denied_calls(function, [call], TEMPLATE_DOC)


def test_the_template_serves_every_route_it_served() -> None:
    routes = {
        (route.method, route.path, route.function, route.authorizer is not None)
        for route in routes_from_template(TEMPLATE)
    }
    assert routes == ROUTES


def test_functions_reference_shared_policies_only() -> None:
    # A new function lists policies; it does not paste statements
    for function in FUNCTIONS:
        for policy in RESOURCES[function]["Properties"].get("Policies", []):
            assert set(policy) == {"Ref"}, function
            assert RESOURCES[policy["Ref"]]["Type"] == "AWS::IAM::ManagedPolicy", function


def test_every_dynamodb_grant_is_scoped_by_leading_keys() -> None:
    for name, resource in RESOURCES.items():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("dynamodb:") for action in actions):
                assert "dynamodb:LeadingKeys" in statement["Condition"]["ForAllValues:StringLike"], name
            assert "dynamodb:Scan" not in actions, name  # the one read without a leading key


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("action", ["PutItem", "UpdateItem", "DeleteItem"])
def test_no_function_writes_access_keys_users_or_other_secrets(function: str, action: str) -> None:
    for leading_key in ("AK#AKEXAMPLE", "USER#ZXhhbXBsZQ#YWxpY2U", "SYS#another-secret"):
        # a write names its attributes (IAM's dynamodb:Attributes): here a record's, not a counter's
        assert not _allowed(function, _item(action, leading_key, "secret_key")), (function, leading_key)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_the_token_function_counts_logins_and_only_their_attributes(function: str) -> None:
    counter = _item("UpdateItem", "USER#ZXhhbXBsZQ#YWxpY2U", "count", "expiration")
    assert _allowed(function, counter) == (function == "CreateTokenFunction")
    assert not _allowed(function, _item("UpdateItem", "USER#ZXhhbXBsZQ#YWxpY2U", "password_hash"))
    assert not _allowed(function, _item("GetItem", "SYS#another-secret"))
    # Reading a user (a token's user, an access key's owner, whose policies apply) is every
    # authenticated function's, and the token function's (it checks the password)
    reads_users = _allowed(function, _item("GetItem", "USER#ZXhhbXBsZQ#YWxpY2U"))
    assert reads_users == (function in AUTHENTICATED_FUNCTIONS | PRINCIPAL_FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_authenticated_functions_read_but_never_write_users_policies_and_projects(function: str) -> None:
    authenticated = function in AUTHENTICATED_FUNCTIONS or function == "AuthorizerFunction"
    for leading_key in ("USERID#ZA#dQ", "POLICY#ZA#cmVhZC1vbmx5", "AK#AKEXAMPLE"):
        assert _allowed(function, _item("GetItem", leading_key)) == authenticated, leading_key
        for action in ("PutItem", "UpdateItem", "DeleteItem"):
            assert not _allowed(function, _item(action, leading_key, "enabled")), (action, leading_key)
    for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        assert not _allowed(function, _item(action, "PROJECT#0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e", "domain_id"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_the_principal_functions_touch_the_token_signing_key(function: str) -> None:
    for action in ("GetItem", "PutItem"):
        assert _allowed(function, _item(action, "SYS#token-signing-key")) == (function in PRINCIPAL_FUNCTIONS)
        rotated = _item(action, "SYS#token-signing-key#2")  # `skms token-key rotate`'s next key
        assert _allowed(function, rotated) == (function in PRINCIPAL_FUNCTIONS)
    service_secret = AwsCall("kms:Decrypt", "root-key", {"kms:EncryptionContext:purpose": ["service-secret"]})
    assert _allowed(function, service_secret) == (function in PRINCIPAL_FUNCTIONS)


@pytest.mark.parametrize("function", sorted(PRINCIPAL_FUNCTIONS))
def test_principal_functions_never_touch_project_items(function: str) -> None:
    for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"):
        assert not _allowed(function, _item(action, "P#0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e")), action


@pytest.mark.parametrize("function", FUNCTIONS)
def test_idempotency_records_and_deletes_are_granted_only_where_used(function: str) -> None:
    assert _allowed(function, _item("PutItem", "IDEMPOTENCY#3f")) == (function in IDEMPOTENT)
    assert not _allowed(function, _item("PutItem", "IDEMPOTENCYX"))
    # Only a rename deletes a project item (the old alias reservation)
    deletes = _allowed(function, _item("DeleteItem", "P#0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"))
    assert deletes == (function == "UpdateKeyAliasFunction")


def test_the_due_index_is_read_by_the_sweep_alone() -> None:
    due = AwsCall("dynamodb:Query", "table/index/GSI2", {"dynamodb:LeadingKeys": ["DUE"]})
    assert [f for f in FUNCTIONS if _allowed(f, due)] == ["DeleteExpiredKeysFunction"]
    other_project = AwsCall("dynamodb:Query", "table/index/GSI2", {"dynamodb:LeadingKeys": ["P#x"]})
    assert not any(_allowed(f, other_project) for f in FUNCTIONS)


def test_the_rotation_index_is_read_by_the_rotation_schedule_alone() -> None:
    rotate = AwsCall("dynamodb:Query", "table/index/GSI2", {"dynamodb:LeadingKeys": ["ROTATE"]})
    assert [f for f in FUNCTIONS if _allowed(f, rotate)] == ["RotateDueKeysFunction"]


def test_only_the_import_functions_seal_and_open_import_tokens() -> None:
    seal = AwsCall("kms:Encrypt", "root-key", {"kms:EncryptionContext:purpose": ["import-wrapping-key"]})
    open_ = AwsCall("kms:Decrypt", "root-key", {"kms:EncryptionContext:purpose": ["import-wrapping-key"]})
    assert [f for f in FUNCTIONS if _allowed(f, seal)] == ["GetParametersForImportFunction"]
    assert [f for f in FUNCTIONS if _allowed(f, open_)] == ["ImportKeyMaterialFunction"]


def test_only_rotation_and_key_creation_wrap_new_material() -> None:
    wrap = AwsCall("kms:Encrypt", "root-key", {"kms:EncryptionContext:purpose": ["cmk-material"]})
    wrapping = {f for f in FUNCTIONS if _allowed(f, wrap)}
    assert {"RotateOnDemandFunction", "RotateDueKeysFunction", "CreateKeyFunction"} <= wrapping
    assert not {"EnableKeyRotationFunction", "ShowKeyRotationStatusFunction"} & wrapping


# The functions whose request may name a key by alias (the gate's ALIAS_USES), and the alias operations.
ALIAS_RESOLVERS = {
    "CreateDatakeyFunction",
    "CreateDatakeyWithoutPlaintextFunction",
    "CreateEcDatakeyPairFunction",
    "CreateRsaDatakeyPairFunction",
    "DecryptDataFunction",
    "DecryptDatakeyFunction",
    "DeriveSharedSecretFunction",
    "EncryptDataFunction",
    "EncryptDatakeyFunction",
    "GenerateMacFunction",
    "ReEncryptFunction",
    "ShowPublicKeyFunction",
    "SignFunction",
    "ValidateSignatureFunction",
    "VerifyMacFunction",
}
ALIAS_ITEM = "ALIAS#5d8c2a4f9e1b47c3a6d0f2e8b4c1a937"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_alias_items_are_granted_by_what_each_function_does_with_them(function: str) -> None:
    reads = _allowed(function, _item("GetItem", ALIAS_ITEM))
    assert reads == (function in ALIAS_RESOLVERS | {"DeleteAliasFunction", "AssociateAliasFunction"})
    for action in ("PutItem", "UpdateItem"):
        writes = _allowed(function, _item(action, ALIAS_ITEM, "key_id"))
        assert writes == (function in {"CreateAliasFunction", "AssociateAliasFunction"}), action
    deletes = _allowed(function, _item("DeleteItem", ALIAS_ITEM))
    assert deletes == (function in {"DeleteAliasFunction", "DeleteExpiredKeysFunction"})
    for index, partition in (("GSI1", "ALIAS#cA#aw"), ("GSI2", "ALIAS#" + "0" * 32)):
        query = AwsCall("dynamodb:Query", f"table/index/{index}", {"dynamodb:LeadingKeys": [partition]})
        assert _allowed(function, query) == (function in {"ListAliasesFunction", "DeleteExpiredKeysFunction"})
    # No alias grant reaches the base table by Query, nor another kind of item
    assert not _allowed(function, AwsCall("dynamodb:Query", "table", {"dynamodb:LeadingKeys": [ALIAS_ITEM]}))


@pytest.mark.parametrize(
    "function",
    ["CreateAliasFunction", "DeleteAliasFunction", "ListAliasesFunction", "AssociateAliasFunction"],
)
def test_alias_functions_never_write_keys_or_use_key_material(function: str) -> None:
    for action in ("PutItem", "UpdateItem", "DeleteItem"):
        assert not _allowed(function, _item(action, "P#0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e", "key_state")), (
            action
        )
    for action in ("kms:Encrypt", "kms:Decrypt"):
        call = AwsCall(action, "root-key", {"kms:EncryptionContext:purpose": ["cmk-material"]})
        assert not _allowed(function, call), action


def test_the_check_denies_what_no_statement_names() -> None:
    statements = function_statements("SignFunction", TEMPLATE_DOC)
    assert not any(allows(s, AwsCall("kms:GenerateDataKey", "root-key", {})) for s in statements)
    assert not any(allows(s, AwsCall("dynamodb:GetItem", "other-table", {})) for s in statements)
    with pytest.raises(AssertionError, match="not modelled"):
        allows(
            {"Action": "x:Y", "Resource": "r", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "1"}}},
            AwsCall("x:Y", "r", {}),
        )


def test_token_concurrency_and_point_in_time_recovery_are_parameters() -> None:
    token = RESOURCES["CreateTokenFunction"]["Properties"]
    assert token["ReservedConcurrentExecutions"] == {"Ref": "TokenConcurrency"}
    assert TEMPLATE_DOC["Parameters"]["TokenConcurrency"]["MinValue"] >= 1
    pitr = RESOURCES["KeysTable"]["Properties"]["PointInTimeRecoverySpecification"]
    assert pitr["PointInTimeRecoveryEnabled"] == {"Fn::If": ["HasPointInTimeRecovery", True, False]}
    assert TEMPLATE_DOC["Parameters"]["PointInTimeRecovery"]["AllowedValues"] == ["true", "false"]


def test_no_powertools_setting_that_nothing_reads() -> None:
    variables = TEMPLATE_DOC["Globals"]["Function"]["Environment"]["Variables"]
    assert not [name for name in variables if name.startswith(("POWERTOOLS_METRICS", "POWERTOOLS_TRACER"))]


def test_every_role_stays_within_the_default_managed_policy_quota() -> None:
    # IAM attaches at most 10 managed policies to a role by default; SAM adds two to each function's
    # role (AWSLambdaBasicExecutionRole and, with Tracing: Active, AWSXrayWriteOnlyAccess).
    counts = {f: len(RESOURCES[f]["Properties"].get("Policies", [])) for f in FUNCTIONS}
    assert max(counts.values()) <= 10 - 2, counts


@pytest.mark.parametrize("function", FUNCTIONS)
def test_tag_items_are_read_and_written_only_by_the_tag_functions_and_the_sweep(function: str) -> None:
    for partition in TAG_PARTITIONS:
        for action in ("GetItem", "Query"):
            assert _allowed(function, _item(action, partition)) == (function in TAG_READERS), action
        for action in ("PutItem", "UpdateItem", "DeleteItem"):
            assert _allowed(function, _item(action, partition)) == (function in TAG_WRITERS), action


@pytest.mark.parametrize("function", sorted(TAG_FUNCTIONS))
def test_tag_functions_only_read_keys_and_never_write_them(function: str) -> None:
    project_item = "P#0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
    assert not any(
        _allowed(function, _item(action, project_item)) for action in ("PutItem", "UpdateItem", "DeleteItem")
    )
    assert not _allowed(
        function, AwsCall("dynamodb:Query", "table/index/GSI1", {"dynamodb:LeadingKeys": [project_item]})
    )
    unwrap = AwsCall("kms:Decrypt", "root-key", {"kms:EncryptionContext:purpose": ["cmk-material"]})
    assert not _allowed(function, unwrap)


def test_replay_protection_and_direct_invocations_are_parameters() -> None:
    parameters = TEMPLATE_DOC["Parameters"]
    assert parameters["ReplayProtection"]["AllowedValues"] == ["state-changing", "all", "off"]
    assert parameters["ReplayProtection"]["Default"] == "state-changing"
    assert parameters["DirectInvocationProjects"]["Default"] == ""  # off by default
    variables = TEMPLATE_DOC["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["KMS_REPLAY_PROTECTION"] == {"Ref": "ReplayProtection"}
    assert variables["KMS_DIRECT_INVOCATION_PROJECTS"] == {"Ref": "DirectInvocationProjects"}
    # Direct invokers are named in resource policies only when the parameter names one
    permissions = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Lambda::Permission"}
    assert permissions
    for permission in permissions.values():
        assert permission["Condition"] == "HasDirectInvoker"
        assert permission["Properties"]["Principal"] == {"Ref": "DirectInvoker"}
    # ReplayProtection=all grants the replay records to the other functions, and only then
    assert RESOURCES["ReplayRecordsPolicy"]["Condition"] == "ReplayProtectsAll"
