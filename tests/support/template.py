"""Read template.yaml, the one source of truth of the DynamoDB schema, so tests build the same table.

CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``, ...) are not YAML that
:class:`yaml.SafeLoader` knows; :class:`CfnLoader` turns them into their long forms
(``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``) instead of failing.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import yaml

from skms.local.template import FunctionRef

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And",
            "Base64",
            "Cidr",
            "Equals",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
        )
    },
}

# The create_table arguments that template.yaml's table Properties carry over verbatim.
_TABLE_ARGS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
)


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form intrinsic functions."""


def _short_tag(long_name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt":  # !GetAtt Res.Attr == {"Fn::GetAtt": ["Res", "Attr"]}
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


for _short, _long in _SHORT_TAGS.items():
    CfnLoader.add_constructor(f"!{_short}", _short_tag(_long))


def load_template(path: pathlib.Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=CfnLoader)
    assert isinstance(document, dict)
    return document


def table_properties(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    resource = (template or load_template())["Resources"][logical_id]
    assert resource["Type"] == "AWS::DynamoDB::Table", resource["Type"]
    properties = resource["Properties"]
    assert isinstance(properties, dict)
    return properties


def create_table_from_template(
    client: DynamoDBClient, logical_id: str, table_name: str, template: dict[str, Any] | None = None
) -> None:
    """Create ``table_name`` with the key schema, indexes and billing of ``logical_id``."""
    properties = table_properties(logical_id, template)
    arguments = {name: properties[name] for name in _TABLE_ARGS if name in properties}
    client.create_table(TableName=table_name, **arguments)
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})


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
