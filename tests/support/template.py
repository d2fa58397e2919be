"""Read template.yaml, the one source of truth of the DynamoDB schema, so tests build the same table.

Parsing (CloudFormation short tags included) and creating the table are the layer's
(:mod:`skms.sam_template`, :mod:`skms.storage.dynamodb.provision`, which ``skms create-table`` uses
too); this module adds what only tests need: the functions of the template and its IAM grants.
"""

from __future__ import annotations

import fnmatch
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skms import sam_template
from skms.sam_template import FunctionRef
from skms.storage.dynamodb import provision

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


def load_template(path: pathlib.Path = TEMPLATE_PATH) -> dict[str, Any]:
    return sam_template.load_template(path)


def table_properties(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    return provision.table_properties(template or load_template(), logical_id)


def create_table_from_template(
    client: DynamoDBClient, logical_id: str, table_name: str, template: dict[str, Any] | None = None
) -> None:
    """Create ``table_name`` with the key schema, indexes, billing and TTL of ``logical_id``."""
    provision.create_table(client, table_name, table_properties(logical_id, template))


def template_functions(path: pathlib.Path = TEMPLATE_PATH) -> dict[str, FunctionRef]:
    """Every ``AWS::Serverless::Function`` of the template, by the name of its CodeUri directory
    (``functions/<name>/``, whose sample events are ``events/<name>/``)."""
    resources = load_template(path)["Resources"]
    found = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            props = resource["Properties"]
            code_uri = (path.parent / props["CodeUri"]).resolve()
            found[code_uri.name] = FunctionRef(logical_id, code_uri, props["Handler"])
    return found


# -- the template's IAM grants, checked against the AWS calls a function makes -----------------
#
# moto does not evaluate IAM, so a function whose policies miss a right passes every moto-backed
# test and fails once deployed. ``denied_calls`` closes that gap for the grants this template
# uses: Allow statements of the managed policies a function lists, on the stack's table, its
# indexes and its root key, with the condition keys below. It is a check of the template against
# recorded calls, not an IAM implementation: a condition it does not know fails the check.

_STACK_ARNS = {
    "KeysTable.Arn": "table",
    "RootKey.Arn": "root-key",
}


@dataclass(frozen=True)
class AwsCall:
    """One permission an AWS API call needs: a DynamoDB item action (one per item of a
    transaction) or a KMS action, with what IAM's condition keys would see."""

    action: str  # e.g. dynamodb:GetItem, kms:Decrypt
    resource: str  # table, table/index/<name>, root-key
    context: dict[str, list[str]]  # condition key -> values


def _resolve(node: Any, mappings: dict[str, Any]) -> Any:
    """Intrinsics of the policies, as the stack resolves them (ARNs as the names above)."""
    if isinstance(node, list):
        return [_resolve(item, mappings) for item in node]
    if not isinstance(node, dict):
        return node
    if "Fn::FindInMap" in node:
        kind, top, second = node["Fn::FindInMap"]
        return mappings[kind][top][second]
    if "Fn::GetAtt" in node:
        return _STACK_ARNS[".".join(node["Fn::GetAtt"])]
    if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
        text = node["Fn::Sub"]
        for name, value in _STACK_ARNS.items():
            text = text.replace("${" + name + "}", value)
        assert "${" not in text, text
        return text
    return {key: _resolve(value, mappings) for key, value in node.items()}


def function_statements(logical_id: str, template: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The Allow statements of the policies a function lists, intrinsics resolved."""
    template = template or load_template()
    resources = template["Resources"]
    statements = []
    for policy in resources[logical_id]["Properties"].get("Policies", []):
        document = resources[policy["Ref"]]["Properties"]["PolicyDocument"] if "Ref" in policy else policy
        for statement in _resolve(document, template.get("Mappings", {}))["Statement"]:
            assert statement["Effect"] == "Allow", statement
            statements.append(statement)
    return statements


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, allowed: Any, context: dict[str, list[str]]) -> bool:
    patterns = [str(value) for value in _listed(allowed)]
    values = context.get(key)
    if operator == "ForAllValues:StringLike":
        return all(any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns) for value in values or [])
    if operator == "ForAllValues:StringEquals":
        return all(value in patterns for value in values or [])
    if operator == "StringEqualsIfExists":
        return values is None or all(value in patterns for value in values)
    if operator == "StringEquals":
        return values is not None and all(value in patterns for value in values)
    raise AssertionError(f"condition operator {operator} is not modelled by this check")


def allows(statement: dict[str, Any], call: AwsCall) -> bool:
    if call.action not in _listed(statement["Action"]) or call.resource not in _listed(statement["Resource"]):
        return False
    return all(
        _condition_holds(operator, key, allowed, call.context)
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, allowed in keys.items()
    )


def _key_condition_partition(params: dict[str, Any]) -> str:
    """The partition key value of a Query: the value of its KeyConditionExpression's first ``=``."""
    expression = params["KeyConditionExpression"]
    placeholder = expression.split("=", 1)[1].split()[0]
    value: str = params["ExpressionAttributeValues"][placeholder]["S"]
    return value


def _item_call(action: str, request: dict[str, Any]) -> AwsCall:
    key = request.get("Key") or request["Item"]
    context = {"dynamodb:LeadingKeys": [key["PK"]["S"]]}
    attributes = (
        set(key)
        | set(request.get("Item", {}))
        | set((request.get("ExpressionAttributeNames") or {}).values())
    )
    context["dynamodb:Attributes"] = sorted(attributes)
    if "ReturnValues" in request:
        context["dynamodb:ReturnValues"] = [request["ReturnValues"]]
    return AwsCall(f"dynamodb:{action}", "table", context)


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def calls_of(service: str, operation: str, params: dict[str, Any]) -> list[AwsCall]:
    """The permissions an API call needs, as IAM checks them."""
    if service == "dynamodb" and operation in {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}:
        return [_item_call(operation, params)]
    if service == "dynamodb" and operation == "TransactWriteItems":
        return [
            _item_call(_TRANSACT_ACTIONS[kind], request)
            for item in params["TransactItems"]
            for kind, request in item.items()
        ]
    if service == "dynamodb" and operation == "Query":
        index = params.get("IndexName")
        resource = f"table/index/{index}" if index else "table"
        return [
            AwsCall("dynamodb:Query", resource, {"dynamodb:LeadingKeys": [_key_condition_partition(params)]})
        ]
    if service == "kms" and operation in {"Encrypt", "Decrypt"}:
        context = {
            f"kms:EncryptionContext:{k}": [v] for k, v in (params.get("EncryptionContext") or {}).items()
        }
        return [AwsCall(f"kms:{operation}", "root-key", context)]
    return [AwsCall(f"{service}:{operation}", "?", {})]  # granted by no statement of this template


def denied_calls(
    logical_id: str, calls: list[AwsCall], template: dict[str, Any] | None = None
) -> list[AwsCall]:
    """The calls that none of the function's statements allows."""
    statements = function_statements(logical_id, template)
    return [call for call in calls if not any(allows(statement, call) for statement in statements)]
