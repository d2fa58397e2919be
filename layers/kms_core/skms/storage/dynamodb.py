"""The AWS adapter of the :class:`KeyStore` port: one DynamoDB table (``KeysTable`` in template.yaml).

Item layout (all in the project's partition ``PK = P#{project_id}``):

- key:     ``SK = K#{key_id}``, ``GSI1PK = P#{project_id}``, ``GSI1SK = {creation_date:013d}#{key_id}``,
  the record's fields as native attributes, ``materials`` a Map of Binary, ``revision`` a Number.
- alias:   ``SK = A#{alias}`` with ``key_id``: the alias reservation (uniqueness per project).
- counter: ``SK = COUNT`` with ``keys`` (Number), bumped in the create transaction, so
  ``count_keys`` is one GetItem.

Principals and service secrets are items of the same table, each in a partition of its own (their
``PK`` prefixes never start with ``P#``, so they are in no project's partition):

- access key: ``PK = AK#{access_key}``, ``SK = AK``;
- user:       ``PK = USER#{base64url(domain_name)}#{base64url(name)}``, ``SK = USER``
  (:func:`skms.storage.codec.user_key`: UTF-8, unpadded; the base64url alphabet has no ``#``, so
  names containing ``#`` or anything else cannot make two users share a key);
- secret:     ``PK = SYS#{name}``, ``SK = SECRET``, the value in ``value`` (Binary).

Record fields are native attributes: bytes as ``B``, tuples of strings as ``L`` of ``S`` (order
kept, may be empty). Creates are a PutItem conditional on ``attribute_not_exists(PK)``.

Only key items carry ``GSI1PK``, so the GSI lists keys of a project in creation order and nothing
else; listing never scans. Key-id uniqueness is enforced per project (ids are random UUIDs).
Errors are told apart by ``Error.Code`` and ``CancellationReasons[i].Code``, never by message.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import threading
import time
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from skms.domain import AccessKeyRecord, KeyRecord, UserRecord
from skms.errors import ConcurrentUpdate
from skms.storage import codec
from skms.storage.port import (
    AliasExists,
    KeyExists,
    KeyPage,
    KeyStore,
    PrincipalExists,
    StorageFailure,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]

GSI = "GSI1"
_KEY_ATTRS = ("PK", "SK", "GSI1PK", "GSI1SK")
_CONDITION_FAILED = "ConditionalCheckFailed"
# TransactionConflict: another transaction holds one of our items (e.g. two creates racing on
# the COUNT item). The SDK does not retry cancellations, so we do, briefly.
_TXN_ATTEMPTS = 5
_TXN_BACKOFF_S = 0.02


def _pk(project_id: str) -> str:
    return f"P#{project_id}"


def _key_sk(key_id: str) -> str:
    return f"K#{key_id}"


def _alias_sk(alias: str) -> str:
    return f"A#{alias}"


def _gsi1sk(record: KeyRecord) -> str:
    return f"{record.creation_date:013d}#{record.key_id}"


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _av(value: codec.Primitive) -> AttributeValueTypeDef:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, int):
        return _n(value)
    return _s(value)


def _py(value: AttributeValueTypeDef) -> codec.Primitive:
    if "S" in value:
        return value["S"]
    if "N" in value:
        return int(value["N"])
    if "BOOL" in value:
        return value["BOOL"]
    return None  # NULL


def _key(project_id: str, sk: str) -> Item:
    return {"PK": _s(_pk(project_id)), "SK": _s(sk)}


def _key_item(record: KeyRecord) -> Item:
    item: Item = {name: _av(value) for name, value in codec.to_fields(record).items()}
    item[codec.MATERIALS] = {
        "M": {version: {"B": blob} for version, blob in codec.materials_to_map(record.materials).items()}
    }
    item["PK"] = _s(_pk(record.project_id))
    item["SK"] = _s(_key_sk(record.key_id))
    item["GSI1PK"] = _s(_pk(record.project_id))
    item["GSI1SK"] = _s(_gsi1sk(record))
    return item


def _record(item: Item) -> KeyRecord:
    fields = {
        name: _py(value) for name, value in item.items() if name != codec.MATERIALS and name not in _KEY_ATTRS
    }
    materials = {version: blob["B"] for version, blob in item.get(codec.MATERIALS, {}).get("M", {}).items()}
    return codec.from_fields(fields, materials)


def _access_key_key(access_key: str) -> Item:
    return {"PK": _s(f"AK#{access_key}"), "SK": _s("AK")}


def _user_key(domain_name: str, name: str) -> Item:
    return {"PK": _s(f"USER#{codec.user_key(domain_name, name)}"), "SK": _s("USER")}


def _secret_key(name: str) -> Item:
    return {"PK": _s(f"SYS#{name}"), "SK": _s("SECRET")}


def _principal_av(value: codec.PrincipalValue) -> AttributeValueTypeDef:
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, tuple):
        return {"L": [_s(entry) for entry in value]}
    return _av(value)


def _principal_py(value: AttributeValueTypeDef) -> Any:
    if "B" in value:
        return value["B"]
    if "L" in value:
        return [entry["S"] for entry in value["L"]]
    return _py(value)


def _principal_item(key: Item, record: codec.PrincipalRecord) -> Item:
    item: Item = {name: _principal_av(value) for name, value in codec.principal_to_fields(record).items()}
    item.update(key)
    return item


def _principal(cls: type[codec.P], item: Item) -> codec.P:
    fields = {name: _principal_py(value) for name, value in item.items() if name not in _KEY_ATTRS}
    return codec.principal_from_fields(cls, fields)


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


def _reasons(error: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def _failure(error: ClientError | BotoCoreError) -> StorageFailure:
    """A StorageFailure naming the error code only (messages may quote item values)."""
    name = _code(error) if isinstance(error, ClientError) else type(error).__name__
    return StorageFailure(f"dynamodb: {name}")


def _encode_cursor(key: dict[str, str]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(project_id: str, cursor: str) -> Item:
    """The ExclusiveStartKey a cursor stands for; ValueError unless it belongs to this project."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ValueError("invalid cursor") from error
    if (
        not isinstance(key, dict)
        or sorted(key) != sorted(_KEY_ATTRS)
        or not all(isinstance(value, str) for value in key.values())
        or key["PK"] != _pk(project_id)
        or key["GSI1PK"] != _pk(project_id)
    ):
        raise ValueError("invalid cursor")
    return {name: _s(value) for name, value in key.items()}


class DynamoKeyStore(KeyStore):
    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, endpoint_url: str | None = None
    ) -> None:
        """``endpoint_url`` (e.g. DynamoDB Local) is used only when the client is created here."""
        self._table = table_name
        self._client_instance = client
        self._endpoint_url = endpoint_url
        self._client_lock = threading.Lock()

    def _client(self) -> DynamoDBClient:
        """Created on first use, not at import or construction (cold start, tests' mocks)."""
        if self._client_instance is None:
            with self._client_lock:
                if self._client_instance is None:
                    self._client_instance = boto3.client("dynamodb", endpoint_url=self._endpoint_url)
        return self._client_instance

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> list[str] | None:
        """Run a transaction; None on success, the cancellation codes if a condition failed."""
        for attempt in range(_TXN_ATTEMPTS):
            try:
                self._client().transact_write_items(TransactItems=items)
                return None
            except ClientError as error:
                if _code(error) != "TransactionCanceledException":
                    raise _failure(error) from error
                reasons = _reasons(error)
                if _CONDITION_FAILED in reasons:
                    return reasons
                if "TransactionConflict" not in reasons or attempt + 1 == _TXN_ATTEMPTS:
                    raise _failure(error) from error
                time.sleep(random.uniform(0, _TXN_BACKOFF_S * 2**attempt))  # noqa: S311 - jitter
            except BotoCoreError as error:
                raise _failure(error) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_item(self, key: Item) -> Item | None:
        try:
            response = self._client().get_item(TableName=self._table, Key=key, ConsistentRead=True)
        except (ClientError, BotoCoreError) as error:
            raise _failure(error) from error
        return response.get("Item")

    # -- the port --------------------------------------------------------------------------

    def create_key(self, record: KeyRecord) -> None:
        alias_item: Item = _key(record.project_id, _alias_sk(record.key_alias))
        alias_item["key_id"] = _s(record.key_id)
        reasons = self._transact(
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _key_item(record),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": alias_item,
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(record.project_id, "COUNT"),
                        "UpdateExpression": "ADD #n :one",
                        "ExpressionAttributeNames": {"#n": "keys"},
                        "ExpressionAttributeValues": {":one": _n(1)},
                    }
                },
            ]
        )
        if reasons is None:
            return
        if reasons[0] == _CONDITION_FAILED:
            raise KeyExists(record.key_id)
        raise AliasExists(record.key_alias)

    def get_key(self, project_id: str, key_id: str) -> KeyRecord | None:
        item = self._get_item(_key(project_id, _key_sk(key_id)))
        return None if item is None else _record(item)

    def get_key_by_alias(self, project_id: str, alias: str) -> KeyRecord | None:
        # Two reads, not atomic: a rename between them is detected by re-checking the alias.
        for _ in range(3):
            alias_item = self._get_item(_key(project_id, _alias_sk(alias)))
            if alias_item is None:
                return None
            record = self.get_key(project_id, alias_item["key_id"]["S"])
            if record is not None and record.key_alias == alias:
                return record
        return None

    def update_key(self, record: KeyRecord, expected_revision: int) -> KeyRecord:
        """One conditional PutItem when the alias is unchanged (the usual case); a transaction
        moving the alias reservation otherwise. The stored alias comes back with the failed
        condition (ReturnValuesOnConditionCheckFailure), so a rename costs no extra read."""
        stored = record.replace(revision=expected_revision + 1)
        names = {"#rev": "revision", "#alias": "key_alias"}
        try:
            self._client().put_item(
                TableName=self._table,
                Item=_key_item(stored),
                ConditionExpression="#rev = :expected AND #alias = :alias",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":expected": _n(expected_revision),
                    ":alias": _s(record.key_alias),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return stored
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise _failure(error) from error
            old = cast(dict[str, Any], error.response).get("Item")
        except BotoCoreError as error:
            raise _failure(error) from error
        if old is None:  # the key is absent, or this endpoint does not return the old item
            old = self._get_item(_key(record.project_id, _key_sk(record.key_id)))
        if old is None or _py(old["revision"]) != expected_revision:
            raise ConcurrentUpdate()
        old_alias = old["key_alias"]["S"]
        if old_alias == record.key_alias:  # changed back and forth under us
            raise ConcurrentUpdate()

        new_alias_item: Item = _key(record.project_id, _alias_sk(record.key_alias))
        new_alias_item["key_id"] = _s(record.key_id)
        reasons = self._transact(
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _key_item(stored),
                        "ConditionExpression": "#rev = :expected",
                        "ExpressionAttributeNames": {"#rev": "revision"},
                        "ExpressionAttributeValues": {":expected": _n(expected_revision)},
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _key(record.project_id, _alias_sk(old_alias)),
                        "ConditionExpression": "key_id = :kid",
                        "ExpressionAttributeValues": {":kid": _s(record.key_id)},
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": new_alias_item,
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
        if reasons is None:
            return stored
        if _CONDITION_FAILED in reasons[:2]:  # stale revision beats a taken alias: the retry re-reads
            raise ConcurrentUpdate()
        raise AliasExists(record.key_alias)

    def list_keys(self, project_id: str, limit: int, cursor: str | None = None) -> KeyPage:
        """Query GSI1 for ``limit + 1`` items (looping only if DynamoDB's 1 MB page cut them
        short) so ``next_cursor`` is None exactly on the last page, like the other adapters.
        The cursor is the GSI key of the page's last item, base64url JSON. GSI reads are
        eventually consistent: a key created a moment ago may show up a moment later."""
        if limit < 1:
            raise ValueError("limit must be positive")
        start = None if cursor is None else _decode_cursor(project_id, cursor)
        items: list[Item] = []
        while len(items) <= limit:
            request: QueryInputTypeDef = {
                "TableName": self._table,
                "IndexName": GSI,
                "KeyConditionExpression": "GSI1PK = :p",
                "ExpressionAttributeValues": {":p": _s(_pk(project_id))},
                "ScanIndexForward": True,
                "Limit": limit + 1 - len(items),
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            try:
                response = self._client().query(**request)
            except (ClientError, BotoCoreError) as error:
                raise _failure(error) from error
            items.extend(response["Items"])
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        page = items[:limit]
        next_cursor = None
        if len(items) > limit:
            next_cursor = _encode_cursor({name: page[-1][name]["S"] for name in _KEY_ATTRS})
        return KeyPage(records=[_record(item) for item in page], next_cursor=next_cursor)

    def count_keys(self, project_id: str) -> int:
        item = self._get_item(_key(project_id, "COUNT"))
        return 0 if item is None else int(item["keys"]["N"])

    # -- principals --------------------------------------------------------------------------

    def _put_if_absent(self, item: Item) -> bool:
        """PutItem conditional on the item's absence; False if it was already there."""
        try:
            self._client().put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise _failure(error) from error
        except BotoCoreError as error:
            raise _failure(error) from error
        return True

    def create_access_key(self, record: AccessKeyRecord) -> None:
        if not self._put_if_absent(_principal_item(_access_key_key(record.access_key), record)):
            raise PrincipalExists(record.access_key)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        item = self._get_item(_access_key_key(access_key))
        return None if item is None else _principal(AccessKeyRecord, item)

    def create_user(self, record: UserRecord) -> None:
        if not self._put_if_absent(_principal_item(_user_key(record.domain_name, record.name), record)):
            raise PrincipalExists(record.name)

    def get_user(self, domain_name: str, name: str) -> UserRecord | None:
        item = self._get_item(_user_key(domain_name, name))
        return None if item is None else _principal(UserRecord, item)

    def get_or_create_secret(self, name: str, wrapped: bytes) -> bytes:
        """Conditional PutItem; if the secret is already there, a consistent GetItem of it."""
        item: Item = {**_secret_key(name), "value": {"B": bytes(wrapped)}}
        if self._put_if_absent(item):
            return bytes(wrapped)
        stored = self._get_item(_secret_key(name))
        if stored is None:  # secrets are never deleted: only a store emptied under us gets here
            raise StorageFailure("dynamodb: secret vanished after a failed create")
        return bytes(stored["value"]["B"])
