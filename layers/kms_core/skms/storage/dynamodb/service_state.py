"""The DynamoDB adapter of the :class:`ServiceStateStore` port:

- secret: ``PK = SYS#{name}``, ``SK = SECRET``, the value in ``value`` (Binary); created by a
  PutItem conditional on ``attribute_not_exists(PK)``;
- failed logins: ``PK`` of the user (whether or not that user exists, see
  :func:`skms.storage.dynamodb.principals.user_partition`), ``SK = LOGIN-FAILURES#{window}``, a
  counter ``count`` (ADD) and the TTL attribute ``expiration``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skms.storage.dynamodb.principals import user_partition
from skms.storage.dynamodb.table import DynamoTable, n, s, translated
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
        """One UpdateItem ADD (atomic); the table's TTL on ``expiration`` removes old windows."""
        with translated():
            response = self._table.client().update_item(
                TableName=self._table.name,
                Key=_login_failures_key(domain_name, name, window),
                UpdateExpression="ADD #count :delta SET #expiration = :expires_at",
                ExpressionAttributeNames={"#count": "count", "#expiration": "expiration"},
                ExpressionAttributeValues={":delta": n(delta), ":expires_at": n(expires_at)},
                ReturnValues="UPDATED_NEW",
            )
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
