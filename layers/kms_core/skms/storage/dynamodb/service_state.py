"""The DynamoDB adapter of the :class:`ServiceStateStore` port:

- secret: ``PK = SYS#{name}``, ``SK = SECRET``, the value in ``value`` (Binary); created by a
  PutItem conditional on ``attribute_not_exists(PK)``;
- failed logins: ``PK`` of the user (whether or not that user exists, see
  :func:`skms.storage.dynamodb.principals.user_partition`), ``SK = LOGIN-FAILURES#{window}``, a
  counter ``count`` (ADD) and the TTL attribute ``expiration``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from skms.storage.dynamodb.principals import user_partition
from skms.storage.dynamodb.table import CONDITIONAL_CHECK_FAILED, DynamoTable, code, failure, n, s
from skms.storage.port import ServiceStateStore, StorageFailure

if TYPE_CHECKING:
    from skms.storage.dynamodb.table import Item


def _login_failures_key(domain_name: str, name: str, window: int) -> Item:
    return {"PK": s(user_partition(domain_name, name)), "SK": s(f"LOGIN-FAILURES#{window}")}


def _secret_key(name: str) -> Item:
    return {"PK": s(f"SYS#{name}"), "SK": s("SECRET")}


class DynamoServiceStateStore(ServiceStateStore):
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def login_failures(self, domain_name: str, name: str, window: int) -> int:
        stored = self._table.get_item(_login_failures_key(domain_name, name, window))
        return 0 if stored is None else int(stored["count"]["N"])

    def add_login_failure(
        self, domain_name: str, name: str, window: int, expires_at: int, delta: int = 1
    ) -> int:
        """One UpdateItem ADD (atomic); the table's TTL on ``expiration`` removes old windows. A
        take-back (``delta`` < 0) is conditional on a count that stays at 0 or more, so it never
        creates a counter or takes one below 0 (a count at 0 stays until its TTL: 0 reads as none)."""
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": _login_failures_key(domain_name, name, window),
            "UpdateExpression": "ADD #count :delta SET #expiration = :expires_at",
            "ExpressionAttributeNames": {"#count": "count", "#expiration": "expiration"},
            "ExpressionAttributeValues": {":delta": n(delta), ":expires_at": n(expires_at)},
            "ReturnValues": "UPDATED_NEW",
        }
        if delta < 0:
            request["ConditionExpression"] = "#count >= :least"
            request["ExpressionAttributeValues"][":least"] = n(-delta)
        try:
            response = self._table.client().update_item(**request)
        except ClientError as error:
            if delta < 0 and code(error) == CONDITIONAL_CHECK_FAILED:
                return 0  # nothing (or not that much) to take back
            raise failure(error) from error
        except BotoCoreError as error:
            raise failure(error) from error
        return int(response["Attributes"]["count"]["N"])

    def get_secret(self, name: str) -> bytes | None:
        stored = self._table.get_item(_secret_key(name))
        return None if stored is None else bytes(stored["value"]["B"])

    def get_or_create_secret(self, name: str, wrapped: bytes) -> bytes:
        """Conditional PutItem; if the secret is already there, a consistent GetItem of it."""
        item: Item = {**_secret_key(name), "value": {"B": bytes(wrapped)}}
        if self._table.put_if_absent(item):
            return bytes(wrapped)
        stored = self._table.get_item(_secret_key(name))
        if stored is None:  # secrets are never deleted: only a store emptied under us gets here
            raise StorageFailure("dynamodb: secret vanished after a failed create")
        return bytes(stored["value"]["B"])
