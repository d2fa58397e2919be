"""The one DynamoDB table shared by the stores of the AWS backend (``KeysTable`` in template.yaml):
its lazily created client, the single-item and transaction calls the stores make, and the one
translation of driver errors into :class:`StorageFailure`.

Errors are told apart by ``Error.Code`` and ``CancellationReasons[i].Code``, never by message
text, and a :class:`StorageFailure` names the code only (messages may quote item values).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from skms.storage import codec
from skms.storage.port import StorageFailure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        QueryOutputTypeDef,
        TransactWriteItemTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]

CONDITION_FAILED = "ConditionalCheckFailed"  # a cancellation reason of a transaction
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"  # the error of a single-item write
# TransactionConflict: another transaction holds one of our items (e.g. two creates racing on
# a counter item). The SDK does not retry cancellations, so we do, briefly.
_TXN_ATTEMPTS = 5
_TXN_BACKOFF_S = 0.02


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def av(value: codec.Primitive) -> AttributeValueTypeDef:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, int):
        return n(value)
    return s(value)


def py(value: AttributeValueTypeDef) -> codec.Primitive:
    if "S" in value:
        return value["S"]
    if "N" in value:
        return int(value["N"])
    if "BOOL" in value:
        return value["BOOL"]
    return None  # NULL


def code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


def reasons(error: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def failure(error: ClientError | BotoCoreError) -> StorageFailure:
    """The one translation of a driver error: a StorageFailure naming its code only. Raise it
    ``from`` the error (or use :func:`translated`)."""
    name = code(error) if isinstance(error, ClientError) else type(error).__name__
    return StorageFailure(f"dynamodb: {name}")


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Driver errors raised inside become :func:`failure`, chained with ``from``."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise failure(error) from error


class DynamoTable:
    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, endpoint_url: str | None = None
    ) -> None:
        """``endpoint_url`` (e.g. DynamoDB Local) is used only when the client is created here."""
        self.name = table_name
        self._client_instance = client
        self._endpoint_url = endpoint_url
        self._client_lock = threading.Lock()

    def client(self) -> DynamoDBClient:
        """Created on first use, not at import or construction (cold start, tests' mocks), and
        shared by every store on this table."""
        if self._client_instance is None:
            with self._client_lock:
                if self._client_instance is None:
                    self._client_instance = boto3.client("dynamodb", endpoint_url=self._endpoint_url)
        return self._client_instance

    def transact(self, items: list[TransactWriteItemTypeDef]) -> list[str] | None:
        """Run a transaction; None on success, the cancellation codes if a condition failed."""
        for attempt in range(_TXN_ATTEMPTS):
            try:
                self.client().transact_write_items(TransactItems=items)
                return None
            except ClientError as error:
                if code(error) != "TransactionCanceledException":
                    raise failure(error) from error
                cancelled = reasons(error)
                if CONDITION_FAILED in cancelled:
                    return cancelled
                if "TransactionConflict" not in cancelled or attempt + 1 == _TXN_ATTEMPTS:
                    raise failure(error) from error
                time.sleep(random.uniform(0, _TXN_BACKOFF_S * 2**attempt))  # noqa: S311 - jitter
            except BotoCoreError as error:
                raise failure(error) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def get_item(self, key: Item) -> Item | None:
        """A strongly consistent GetItem."""
        with translated():
            response = self.client().get_item(TableName=self.name, Key=key, ConsistentRead=True)
        return response.get("Item")

    def put_if_absent(self, item: Item) -> bool:
        """PutItem conditional on the item's absence; False if it was already there."""
        try:
            self.client().put_item(
                TableName=self.name, Item=item, ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as error:
            if code(error) == CONDITIONAL_CHECK_FAILED:
                return False
            raise failure(error) from error
        except BotoCoreError as error:
            raise failure(error) from error
        return True

    def query(self, request: QueryInputTypeDef) -> QueryOutputTypeDef:
        with translated():
            return self.client().query(**request)
