"""The DynamoDB adapter of the :class:`PrincipalStore` port. Each principal is an item in a
partition of its own (no ``PK`` prefix of a principal starts with ``P#``, so none is in a project's
partition):

- access key: ``PK = AK#{access_key}``, ``SK = AK``;
- user:       ``PK = USER#{base64url(domain_name)}#{base64url(name)}``, ``SK = USER``
  (:func:`skms.storage.codec.user_key`: UTF-8, unpadded; the base64url alphabet has no ``#``, so
  names containing ``#`` or anything else cannot make two users share a key).

Record fields are native attributes: bytes as ``B``, tuples of strings as ``L`` of ``S`` (order
kept, may be empty). Creates are a PutItem conditional on ``attribute_not_exists(PK)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skms.domain import AccessKeyRecord, UserRecord
from skms.storage import codec
from skms.storage.dynamodb.table import DynamoTable, av, py, s
from skms.storage.port import PrincipalExists, PrincipalStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from skms.storage.dynamodb.table import Item

_TABLE_KEY_ATTRS = ("PK", "SK")


def user_partition(domain_name: str, name: str) -> str:
    """The ``PK`` of a user (also of its failed-login counters, see the service state)."""
    return f"USER#{codec.user_key(domain_name, name)}"


def _access_key_key(access_key: str) -> Item:
    return {"PK": s(f"AK#{access_key}"), "SK": s("AK")}


def _user_key(domain_name: str, name: str) -> Item:
    return {"PK": s(user_partition(domain_name, name)), "SK": s("USER")}


def _principal_av(value: codec.PrincipalValue) -> AttributeValueTypeDef:
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, tuple):
        return {"L": [s(entry) for entry in value]}
    return av(value)


def _principal_py(value: AttributeValueTypeDef) -> Any:
    if "B" in value:
        return value["B"]
    if "L" in value:
        return [entry["S"] for entry in value["L"]]
    return py(value)


def _principal_item(key: Item, record: codec.PrincipalRecord) -> Item:
    item: Item = {name: _principal_av(value) for name, value in codec.principal_to_fields(record).items()}
    item.update(key)
    return item


def _principal(cls: type[codec.P], item: Item) -> codec.P:
    fields = {name: _principal_py(value) for name, value in item.items() if name not in _TABLE_KEY_ATTRS}
    return codec.principal_from_fields(cls, fields)


class DynamoPrincipalStore(PrincipalStore):
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def create_access_key(self, record: AccessKeyRecord) -> None:
        if not self._table.put_if_absent(_principal_item(_access_key_key(record.access_key), record)):
            raise PrincipalExists(record.access_key)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        item = self._table.get_item(_access_key_key(access_key))
        return None if item is None else _principal(AccessKeyRecord, item)

    def create_user(self, record: UserRecord) -> None:
        if not self._table.put_if_absent(_principal_item(_user_key(record.domain_name, record.name), record)):
            raise PrincipalExists(record.name)

    def get_user(self, domain_name: str, name: str) -> UserRecord | None:
        item = self._table.get_item(_user_key(domain_name, name))
        return None if item is None else _principal(UserRecord, item)
