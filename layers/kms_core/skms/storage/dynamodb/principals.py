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

Changes of an access key or a user are conditional on the stored ``version``.

Listings (the operator's CLI: ``skms access-key|user|policy list``) are Queries, never Scans of the
table. Each domain keeps a partition of listing items, one per principal, holding only immutable
keys (the record is read with BatchGetItem, so enable/disable or attached policies need no change
of the listing item):

- ``PK = PRINCIPALS#D#{domain_id}``, ``SK = AK#{access_key}`` | ``USER#{user_key(domain_name,
  name)}`` | ``POLICY#{name}``, with ``ref`` = the record's ``PK``;
- the domains seen: ``PK = PRINCIPALS#DOMAINS``, ``SK = D#{domain_id}`` (created if absent, before
  the record's transaction: at worst a domain with nothing to list), read by the listings of every
  domain.

A listing item is written in the same TransactWriteItems as its record's create and deleted in the
same one as its delete; a change (the record's conditional Put) writes it again, so a record made
before listing items existed is listed once it is changed. A table with no domain partition at all
(every principal made before this layout) is listed by the old Scan; :meth:`index_listings` (one
Scan, once, as an upgrade step) indexes the rest.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, cast

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
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

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
_ABSENT = "attribute_not_exists(PK)"
_DOMAINS_PARTITION = "PRINCIPALS#DOMAINS"
_BATCH_GET_LIMIT = 100  # keys per BatchGetItem
_BATCH_ATTEMPTS = 8
_BATCH_BACKOFF_S = 0.02


def _listing_partition(domain_id: str) -> str:
    """``PRINCIPALS#D#...`` never equals ``PRINCIPALS#DOMAINS`` (``O`` is not ``#``)."""
    return f"PRINCIPALS#D#{domain_id}"


def _listing_item(domain_id: str, sort_key: str, record_key: Item) -> Item:
    return {"PK": s(_listing_partition(domain_id)), "SK": s(sort_key), "ref": record_key["PK"]}


def _access_key_listing(record: AccessKeyRecord) -> Item:
    return _listing_item(record.domain_id, f"AK#{record.access_key}", _access_key_key(record.access_key))


def _user_listing(record: UserRecord) -> Item:
    sort_key = f"USER#{codec.user_key(record.domain_name, record.name)}"
    return _listing_item(record.domain_id, sort_key, _user_key(record.domain_name, record.name))


def _policy_listing(record: PolicyRecord) -> Item:
    return _listing_item(
        record.domain_id, f"POLICY#{record.name}", _policy_key(record.domain_id, record.name)
    )


def _listing_key(item: Item) -> Item:
    return {"PK": item["PK"], "SK": item["SK"]}


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
        """Every item whose PK starts with ``prefix`` and whose SK is ``sort_key``: a Scan, only for
        a table whose principals were all made before listing partitions (no domain partition)."""
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

    def _query(self, partition: str, prefix: str) -> list[Item]:
        """Every item of ``partition`` whose SK starts with ``prefix``, page by page."""
        items: list[Item] = []
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": s(partition), ":prefix": s(prefix)},
            "ConsistentRead": True,
        }
        while True:
            response = self._table.query(cast("QueryInputTypeDef", request))
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            request["ExclusiveStartKey"] = last

    def _batch_get(self, keys: list[Item]) -> list[Item]:
        """The items at ``keys`` that exist (BatchGetItem, strongly consistent), any order."""
        found: list[Item] = []
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            pending: list[Item] = keys[start : start + _BATCH_GET_LIMIT]
            for attempt in range(_BATCH_ATTEMPTS):
                with translated():
                    response = self._table.client().batch_get_item(
                        RequestItems={self._table.name: {"Keys": pending, "ConsistentRead": True}}
                    )
                found.extend(response.get("Responses", {}).get(self._table.name, []))
                unprocessed = response.get("UnprocessedKeys", {}).get(self._table.name)
                pending = list(unprocessed["Keys"]) if unprocessed else []
                if not pending:
                    break
                if attempt + 1 == _BATCH_ATTEMPTS:
                    raise StorageFailure("dynamodb: UnprocessedKeys")
                time.sleep(random.uniform(0, _BATCH_BACKOFF_S * 2**attempt))  # noqa: S311 - jitter
        return found

    def _seen_domain(self, domain_id: str) -> None:
        """Record ``domain_id`` among the domains listed by ``domain_id=None`` (create if absent).
        Not in the record's transaction: every create would conflict on one item."""
        self._table.put_if_absent(
            {"PK": s(_DOMAINS_PARTITION), "SK": s(f"D#{domain_id}"), "domain_id": s(domain_id)}
        )

    def _domains(self) -> list[str]:
        return [str(py(item["domain_id"])) for item in self._query(_DOMAINS_PARTITION, "D#")]

    def _listed(self, kind: str, domain_id: str | None) -> list[Item] | None:
        """The records of ``kind`` (``AK``, ``USER``, ``POLICY``) of one domain or of all; None if
        the table has no domain partition at all (then the caller falls back to the old Scan)."""
        if domain_id is None:
            domains = self._domains()
            if not domains:
                return None
        else:
            domains = [domain_id]
        refs: dict[str, Item] = {}  # by the record's PK: a record is read once
        for domain in domains:
            for item in self._query(_listing_partition(domain), f"{kind}#"):
                refs[str(py(item["ref"]))] = {"PK": item["ref"], "SK": s(kind)}
        if not refs and domain_id is not None and not self._domains():
            return None
        return self._batch_get(list(refs.values()))

    def index_listings(self) -> int:
        """Write the listing items of every principal made before they existed (one Scan of the
        table, for a one-time upgrade step; idempotent); the number of principals indexed."""
        indexed = 0
        kinds: list[tuple[str, str, Any]] = [
            ("AK#", "AK", lambda item: _access_key_listing(_principal(AccessKeyRecord, item))),
            ("USER#", "USER", lambda item: _user_listing(_principal(UserRecord, item))),
            ("POLICY#", "POLICY", lambda item: _policy_listing(_principal(PolicyRecord, item))),
        ]
        for prefix, sort_key, listing_of in kinds:
            for item in self._scan(prefix, sort_key):
                listing = listing_of(item)
                self._seen_domain(listing["PK"]["S"].removeprefix("PRINCIPALS#D#"))
                with translated():
                    self._table.client().put_item(TableName=self._table.name, Item=listing)
                indexed += 1
        return indexed

    def _put(self, item: Item, condition: str | None = None) -> TransactWriteItemTypeDef:
        put: dict[str, Any] = {"TableName": self._table.name, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        return cast("TransactWriteItemTypeDef", {"Put": put})

    def _delete_op(self, key: Item) -> TransactWriteItemTypeDef:
        return {"Delete": {"TableName": self._table.name, "Key": key}}

    # -- access keys -------------------------------------------------------------------------------

    def create_access_key(self, record: AccessKeyRecord) -> None:
        self._seen_domain(record.domain_id)
        item = _principal_item(_access_key_key(record.access_key), record)
        cancelled = self._table.transact([self._put(item, _ABSENT), self._put(_access_key_listing(record))])
        if cancelled is not None:
            raise PrincipalExists(record.access_key)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        item = self._table.get_item(_access_key_key(access_key))
        return None if item is None else _principal(AccessKeyRecord, item)

    def replace_access_key(self, record: AccessKeyRecord, *, expected_version: int) -> bool:
        item = _principal_item(_access_key_key(record.access_key), record)
        put = self._put(item, f"{_VERSION_IS} AND domain_id = :domain_id")
        put["Put"]["ExpressionAttributeNames"] = {"#version": "version"}
        put["Put"]["ExpressionAttributeValues"] = {
            ":version": n(expected_version),
            ":domain_id": s(record.domain_id),
        }
        self._seen_domain(record.domain_id)
        # The listing item is immutable: writing it again is harmless, and lists a key made before
        # listing items existed.
        return self._table.transact([put, self._put(_access_key_listing(record))]) is None

    def delete_access_key(self, access_key: str) -> bool:
        current = self.get_access_key(access_key)
        if current is None:
            return False
        delete = self._delete_op(_access_key_key(access_key))
        delete["Delete"]["ConditionExpression"] = "domain_id = :domain_id"
        delete["Delete"]["ExpressionAttributeValues"] = {":domain_id": s(current.domain_id)}
        listing = self._delete_op(_listing_key(_access_key_listing(current)))
        return self._table.transact([delete, listing]) is None

    def list_access_keys(self, domain_id: str | None = None) -> list[AccessKeyRecord]:
        items = self._listed("AK", domain_id)
        if items is None:
            items = self._scan("AK#", "AK")
        records = [_principal(AccessKeyRecord, item) for item in items]
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id), key=lambda r: r.access_key
        )

    # -- users -------------------------------------------------------------------------------------

    def create_user(self, record: UserRecord) -> None:
        absent = _ABSENT
        self._seen_domain(record.domain_id)
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
                self._put(_user_listing(record)),
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
        self._seen_domain(record.domain_id)
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
                # The index by id and the listing item are the same for the user's whole life:
                # writing them again is harmless, and indexes a user made before they existed.
                {"Put": {"TableName": self._table.name, "Item": _user_pointer(record)}},
                self._put(_user_listing(record)),
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
                self._delete_op(_listing_key(_user_listing(record))),
            ]
        )
        return cancelled is None

    def list_users(self, domain_id: str | None = None) -> list[UserRecord]:
        items = self._listed("USER", domain_id)
        if items is None:
            items = self._scan("USER#", "USER")
        records = [_principal(UserRecord, item) for item in items]
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
        self._seen_domain(record.domain_id)
        item = _principal_item(_policy_key(record.domain_id, record.name), record)
        if self._table.transact([self._put(item, _ABSENT), self._put(_policy_listing(record))]) is not None:
            raise PrincipalExists(record.name)

    def get_policy(self, domain_id: str, name: str) -> PolicyRecord | None:
        item = self._table.get_item(_policy_key(domain_id, name))
        return None if item is None else _principal(PolicyRecord, item)

    def list_policies(self, domain_id: str | None = None) -> list[PolicyRecord]:
        items = self._listed("POLICY", domain_id)
        if items is None:
            items = self._scan("POLICY#", "POLICY")
        records = [_principal(PolicyRecord, item) for item in items]
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id),
            key=lambda r: (r.domain_id, r.name),
        )
