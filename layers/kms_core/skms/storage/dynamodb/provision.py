"""Creating and checking the table of the AWS backend from template.yaml's ``KeysTable``: one
implementation for ``skms create-table`` (any DynamoDB endpoint: moto, DynamoDB Local, AWS) and the
tests' moto tables, so the schema has one source of truth.

What is carried over: the key schema, attribute definitions, secondary indexes, billing and the
TTL attribute. Encryption at rest and point-in-time recovery are deployment settings of the stack
(DynamoDB Local and moto ignore them), not part of the schema the adapters rely on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from skms.storage.dynamodb.table import code, failure
from skms.storage.port import StorageFailure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE_RESOURCE = "KeysTable"  # the logical id of the table in template.yaml
# The create_table arguments that the template's table Properties carry over verbatim.
_TABLE_ARGS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
)
# A new table with two GSIs is ACTIVE within seconds locally and within a minute or two on AWS.
_WAIT_DELAY_S = 1
_WAIT_ATTEMPTS = 180


class TableMissing(StorageFailure):
    """The configured table does not exist on the endpoint."""


class TableMismatch(StorageFailure):
    """A table of that name exists but its keys or indexes are not the template's."""


def client(endpoint_url: str | None = None) -> DynamoDBClient:
    """A DynamoDB client for the management commands (``endpoint_url``: DynamoDB Local, moto)."""
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint_url)


def table_properties(template: Mapping[str, Any], logical_id: str = TABLE_RESOURCE) -> dict[str, Any]:
    """The ``Properties`` of an ``AWS::DynamoDB::Table`` resource of a parsed template."""
    resource = (template.get("Resources") or {}).get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::DynamoDB::Table":
        raise ValueError(f"the template has no AWS::DynamoDB::Table named {logical_id}")
    properties = resource.get("Properties")
    if not isinstance(properties, dict):
        raise ValueError(f"{logical_id} has no Properties")
    return properties


def _where(table_name: str, client: DynamoDBClient) -> str:
    return f"{table_name} at {client.meta.endpoint_url}"


def _shape(key_schema: Any, indexes: Any) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    def keys(schema: Any) -> list[tuple[str, str]]:
        return [(element["AttributeName"], element["KeyType"]) for element in schema or []]

    return keys(key_schema), {index["IndexName"]: keys(index["KeySchema"]) for index in indexes or []}


def describe(client: DynamoDBClient, table_name: str) -> dict[str, Any]:
    """DescribeTable; :class:`TableMissing` if there is no such table."""
    try:
        return dict(client.describe_table(TableName=table_name)["Table"])
    except ClientError as error:
        if code(error) == "ResourceNotFoundException":
            raise TableMissing(
                f"the DynamoDB table {_where(table_name, client)} does not exist: "
                "create it with `skms create-table`"
            ) from error
        raise failure(error) from error
    except BotoCoreError as error:
        raise failure(error) from error


def require_table(client: DynamoDBClient, table_name: str) -> None:
    """Fail clearly (:class:`TableMissing`) before serving from a table that is not there."""
    describe(client, table_name)


def create_table(client: DynamoDBClient, table_name: str, properties: Mapping[str, Any]) -> bool:
    """Create ``table_name`` as ``properties`` describe it, wait until it is active and enable its
    TTL. Idempotent: an existing table with the same keys and indexes is fine (its TTL is
    enabled if it is not yet); one with other keys or indexes raises :class:`TableMismatch`.
    Returns whether the table was created by this call."""
    arguments = {name: properties[name] for name in _TABLE_ARGS if name in properties}
    created = True
    try:
        client.create_table(TableName=table_name, **arguments)
    except ClientError as error:
        if code(error) != "ResourceInUseException":
            raise failure(error) from error
        created = False
    except BotoCoreError as error:
        raise failure(error) from error
    try:
        client.get_waiter("table_exists").wait(
            TableName=table_name, WaiterConfig={"Delay": _WAIT_DELAY_S, "MaxAttempts": _WAIT_ATTEMPTS}
        )
    except BotoCoreError as error:  # WaiterError included
        raise failure(error) from error
    table = describe(client, table_name)
    expected = _shape(arguments.get("KeySchema"), arguments.get("GlobalSecondaryIndexes"))
    if _shape(table.get("KeySchema"), table.get("GlobalSecondaryIndexes")) != expected:
        raise TableMismatch(
            f"the DynamoDB table {_where(table_name, client)} exists with other keys or indexes "
            "than template.yaml's: use another --table-name"
        )
    _enable_ttl(client, table_name, properties.get("TimeToLiveSpecification"))
    return created


def _enable_ttl(client: DynamoDBClient, table_name: str, spec: Mapping[str, Any] | None) -> None:
    if not spec or not spec.get("Enabled"):
        return
    try:
        current = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": spec["AttributeName"], "Enabled": True},
        )
    except (ClientError, BotoCoreError) as error:
        raise failure(error) from error
