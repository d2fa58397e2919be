"""The DynamoDB adapter of the :class:`PrincipalStore` port. Each principal is an item in a
partition of its own (no ``PK`` prefix of a principal starts with ``P#``, so none is in a project's
partition):

- access key: ``PK = AK#{access_key}``, ``SK = AK``;
- user:       ``PK = USER#{base64url(domain_name)}#{base64url(name)}``, ``SK = USER``
  (:func:`skms.storage.codec.user_key`: UTF-8, unpadded; the base64url alphabet has no ``#``, so
  names containing ``#`` or anything else cannot make two users share a key).

Record fields are native attributes: bytes as ``B``, tuples of strings as ``L`` of ``S`` (order
kept, may be empty). Creates are a PutItem conditional on ``attribute_not_exists(PK)``.

- user by id: ``PK = USERID#{base64url(domain_id)}#{base64url(user_id)}``, ``SK = USERID``, with the
  user's ``domain_name`` and ``name`` (written with the user, in one transaction);
- project claim: ``PK = PROJECT#{project_id}``, ``SK = PROJECT``;
- custom policy: ``PK = POLICY#{base64url(domain_id)}#{base64url(name)}``, ``SK = POLICY``.

Changes of an access key or a user are a PutItem conditional on the stored ``version``. The
listings are Scans: they serve the operator's CLI only, never a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from skms.domain import AccessKeyRecord, PolicyRecord, ProjectClaim, UserRecord
from skms.storage import codec
from skms.storage.dynamodb.table import (
    CONDITIONAL_CHECK_FAILED,
    DynamoTable,
    av,
    code,
    failure,
    n,
    py,
    s,
    translated,
)
from skms.storage.port import PrincipalExists, PrincipalStore, StorageFailure

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


def _user_id_key(domain_id: str, user_id: str) -> Item:
    return {"PK": s(f"USERID#{codec.user_key(domain_id, user_id)}"), "SK": s("USERID")}


def _user_pointer(record: UserRecord) -> Item:
    item = _user_id_key(record.domain_id, record.user_id)
    item.update(domain_name=s(record.domain_name), name=s(record.name))
    return item


def _project_key(project_id: str) -> Item:
    return {"PK": s(f"PROJECT#{project_id}"), "SK": s("PROJECT")}


def _policy_key(domain_id: str, name: str) -> Item:
    return {"PK": s(f"POLICY#{codec.user_key(domain_id, name)}"), "SK": s("POLICY")}


_VERSION_IS = "#version = :version"


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

    def _put_if(self, item: Item, condition: str, values: Item, names: dict[str, str] | None = None) -> bool:
        """PutItem under ``condition``; False if the condition failed."""
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._table.client().put_item(**request)
        except ClientError as error:
            if code(error) == CONDITIONAL_CHECK_FAILED:
                return False
            raise failure(error) from error
        except BotoCoreError as error:
            raise failure(error) from error
        return True

    def _delete(self, key: Item) -> bool:
        with translated():
            response = self._table.client().delete_item(
                TableName=self._table.name, Key=key, ReturnValues="ALL_OLD"
            )
        return "Attributes" in response

    def _scan(self, prefix: str, sort_key: str) -> list[Item]:
        """Every item whose PK starts with ``prefix`` and whose SK is ``sort_key``: a Scan, for the
        operator's listings only (no request path lists principals)."""
        items: list[Item] = []
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "FilterExpression": "begins_with(PK, :prefix) AND SK = :sk",
            "ExpressionAttributeValues": {":prefix": s(prefix), ":sk": s(sort_key)},
            "ConsistentRead": True,
        }
        while True:
            with translated():
                response = self._table.client().scan(**request)
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            request["ExclusiveStartKey"] = last

    # -- access keys -------------------------------------------------------------------------------

    def create_access_key(self, record: AccessKeyRecord) -> None:
        if not self._table.put_if_absent(_principal_item(_access_key_key(record.access_key), record)):
            raise PrincipalExists(record.access_key)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        item = self._table.get_item(_access_key_key(access_key))
        return None if item is None else _principal(AccessKeyRecord, item)

    def replace_access_key(self, record: AccessKeyRecord, *, expected_version: int) -> bool:
        item = _principal_item(_access_key_key(record.access_key), record)
        return self._put_if(item, _VERSION_IS, {":version": n(expected_version)}, {"#version": "version"})

    def delete_access_key(self, access_key: str) -> bool:
        return self._delete(_access_key_key(access_key))

    def list_access_keys(self, domain_id: str | None = None) -> list[AccessKeyRecord]:
        records = [_principal(AccessKeyRecord, item) for item in self._scan("AK#", "AK")]
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id), key=lambda r: r.access_key
        )

    # -- users -------------------------------------------------------------------------------------

    def create_user(self, record: UserRecord) -> None:
        absent = "attribute_not_exists(PK)"
        cancelled = self._table.transact(
            [
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": _principal_item(_user_key(record.domain_name, record.name), record),
                        "ConditionExpression": absent,
                    }
                },
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": _user_pointer(record),
                        "ConditionExpression": absent,
                    }
                },
            ]
        )
        if cancelled is not None:
            raise PrincipalExists(record.name)

    def get_user(self, domain_name: str, name: str) -> UserRecord | None:
        item = self._table.get_item(_user_key(domain_name, name))
        return None if item is None else _principal(UserRecord, item)

    def get_user_by_id(self, domain_id: str, user_id: str) -> UserRecord | None:
        pointer = self._table.get_item(_user_id_key(domain_id, user_id))
        if pointer is None:
            return None
        user = self.get_user(str(py(pointer["domain_name"])), str(py(pointer["name"])))
        return user if user is not None and user.user_id == user_id else None

    def replace_user(self, record: UserRecord, *, expected_version: int) -> bool:
        cancelled = self._table.transact(
            [
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": _principal_item(_user_key(record.domain_name, record.name), record),
                        "ConditionExpression": f"{_VERSION_IS} AND user_id = :user_id",
                        "ExpressionAttributeNames": {"#version": "version"},
                        "ExpressionAttributeValues": {
                            ":version": n(expected_version),
                            ":user_id": s(record.user_id),
                        },
                    }
                },
                # The index by id is the same for the user's whole life: writing it again is
                # harmless, and indexes a user made before ids were indexed.
                {"Put": {"TableName": self._table.name, "Item": _user_pointer(record)}},
            ]
        )
        return cancelled is None

    def delete_user(self, record: UserRecord) -> bool:
        cancelled = self._table.transact(
            [
                {
                    "Delete": {
                        "TableName": self._table.name,
                        "Key": _user_key(record.domain_name, record.name),
                        "ConditionExpression": "user_id = :user_id",
                        "ExpressionAttributeValues": {":user_id": s(record.user_id)},
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table.name,
                        "Key": _user_id_key(record.domain_id, record.user_id),
                    }
                },
            ]
        )
        return cancelled is None

    def list_users(self, domain_id: str | None = None) -> list[UserRecord]:
        records = [_principal(UserRecord, item) for item in self._scan("USER#", "USER")]
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id),
            key=lambda r: (r.domain_name, r.name),
        )

    # -- projects ----------------------------------------------------------------------------------

    def claim_project(self, claim: ProjectClaim) -> ProjectClaim:
        if self._table.put_if_absent(_principal_item(_project_key(claim.project_id), claim)):
            return claim
        existing = self.get_project(claim.project_id)
        if existing is None:  # pragma: no cover - claims are never deleted
            raise StorageFailure("dynamodb: the project claim vanished")
        return existing

    def get_project(self, project_id: str) -> ProjectClaim | None:
        item = self._table.get_item(_project_key(project_id))
        return None if item is None else _principal(ProjectClaim, item)

    # -- custom policies ---------------------------------------------------------------------------

    def create_policy(self, record: PolicyRecord) -> None:
        if not self._table.put_if_absent(_principal_item(_policy_key(record.domain_id, record.name), record)):
            raise PrincipalExists(record.name)

    def get_policy(self, domain_id: str, name: str) -> PolicyRecord | None:
        item = self._table.get_item(_policy_key(domain_id, name))
        return None if item is None else _principal(PolicyRecord, item)

    def list_policies(self, domain_id: str | None = None) -> list[PolicyRecord]:
        records = [_principal(PolicyRecord, item) for item in self._scan("POLICY#", "POLICY")]
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id),
            key=lambda r: (r.domain_id, r.name),
        )
