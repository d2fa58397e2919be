"""The DynamoDB adapter of the :class:`AliasStore` port.

Item layout (one item per alias, in its domain's partition; no ``P#``, ``AK#``, ``USER#`` or
``SYS#`` partition is touched):

- ``PK = ALIAS#{domain_id}``, ``SK = A#{alias}``: the uniqueness of an alias in its domain (a create
  is a PutItem conditional on ``attribute_not_exists(PK)``); the record's fields as native
  attributes (``domain_id``, ``alias``, ``key_id``, ``project_id`` as S, ``create_time``,
  ``update_time`` as N);
- ``GSI1PK = ALIAS#{base64url(project_id)}#{base64url(key_id)}``, ``GSI1SK = {alias}``: a key's
  aliases in name order (base64url, UTF-8, unpadded: injective, as for users; never ``P#...``, so
  the key listings of GSI1 never meet an alias item);
- ``GSI2PK = ALIAS#{project_id}``, ``GSI2SK = {alias}``: a project's aliases in name order (never
  ``DUE``, so the deletion sweep of GSI2 never meets one).

Listings are a Query of one GSI partition from the cursor, ``Limit = limit + 1`` (more calls only if
DynamoDB's 1 MB page cut one short); the cursor names the page's last item (its domain and alias,
bound to the listing: :mod:`skms.storage.cursors`), from which the ExclusiveStartKey is rebuilt. GSI
reads are eventually consistent: an alias created or moved a moment ago may show up a moment later.

``delete_alias`` is a DeleteItem conditional on ``key_id``; ``move_alias`` an UpdateItem of
``key_id``, ``update_time`` and ``GSI1PK`` conditional on ``key_id`` and ``project_id`` (the
alias's project never changes, so neither do ``GSI2PK``/``GSI2SK``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from skms.domain import AliasRecord
from skms.errors import ConcurrentUpdate
from skms.storage import cursors
from skms.storage.dynamodb.table import CONDITIONAL_CHECK_FAILED, DynamoTable, code, failure, n, py, s
from skms.storage.port import AliasExists, AliasNotFound, AliasPage, AliasStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

    from skms.storage.dynamodb.table import Item

KEY_INDEX = "GSI1"
PROJECT_INDEX = "GSI2"
_PREFIX = "ALIAS#"
_STRINGS = ("domain_id", "alias", "key_id", "project_id")
_NUMBERS = ("create_time", "update_time")


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def _key(domain_id: str, alias: str) -> Item:
    return {"PK": s(f"{_PREFIX}{domain_id}"), "SK": s(f"A#{alias}")}


def _key_partition(project_id: str, key_id: str) -> str:
    return f"{_PREFIX}{_b64url(project_id)}#{_b64url(key_id)}"


def _project_partition(project_id: str) -> str:
    return f"{_PREFIX}{project_id}"


def _item(record: AliasRecord) -> Item:
    item: Item = {name: s(getattr(record, name)) for name in _STRINGS}
    item.update({name: n(getattr(record, name)) for name in _NUMBERS})
    item.update(_key(record.domain_id, record.alias))
    item["GSI1PK"] = s(_key_partition(record.project_id, record.key_id))
    item["GSI1SK"] = s(record.alias)
    item["GSI2PK"] = s(_project_partition(record.project_id))
    item["GSI2SK"] = s(record.alias)
    return item


def _record(item: Item) -> AliasRecord:
    fields: dict[str, Any] = {name: py(item[name]) for name in (*_STRINGS, *_NUMBERS)}
    return AliasRecord(**fields)


class DynamoAliasStore(AliasStore):
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def create_alias(self, record: AliasRecord) -> None:
        if not self._table.put_if_absent(_item(record)):
            raise AliasExists(record.alias)

    def get_alias(self, domain_id: str, alias: str) -> AliasRecord | None:
        item = self._table.get_item(_key(domain_id, alias))
        return None if item is None else _record(item)

    def _page(
        self, scope: tuple[str, ...], index: str, partition: str, limit: int, cursor: str | None
    ) -> AliasPage:
        if limit < 1:
            raise ValueError("limit must be positive")
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": f"{index}PK"},
            "ExpressionAttributeValues": {":pk": s(partition)},
            "ScanIndexForward": True,
        }
        if cursor is not None:
            domain_id, alias = cursors.alias_position(scope, cursor)
            request["ExclusiveStartKey"] = {
                **_key(domain_id, alias),
                f"{index}PK": s(partition),
                f"{index}SK": s(alias),
            }
        items: list[Item] = []
        while len(items) <= limit:
            request["Limit"] = limit + 1 - len(items)
            response = self._table.query(request)
            items.extend(response["Items"])
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
            request["ExclusiveStartKey"] = start
        records = [_record(item) for item in items[:limit]]
        next_cursor = None
        if len(items) > limit:
            next_cursor = cursors.alias_cursor(scope, records[-1].domain_id, records[-1].alias)
        return AliasPage(records=records, next_cursor=next_cursor)

    def list_key_aliases(
        self, project_id: str, key_id: str, limit: int, cursor: str | None = None
    ) -> AliasPage:
        scope = cursors.key_aliases_scope(project_id, key_id)
        return self._page(scope, KEY_INDEX, _key_partition(project_id, key_id), limit, cursor)

    def list_project_aliases(self, project_id: str, limit: int, cursor: str | None = None) -> AliasPage:
        scope = cursors.project_aliases_scope(project_id)
        return self._page(scope, PROJECT_INDEX, _project_partition(project_id), limit, cursor)

    def delete_alias(self, domain_id: str, alias: str, *, key_id: str) -> AliasRecord:
        try:
            response = self._table.client().delete_item(
                TableName=self._table.name,
                Key=_key(domain_id, alias),
                ConditionExpression="key_id = :kid",
                ExpressionAttributeValues={":kid": s(key_id)},
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if code(error) == CONDITIONAL_CHECK_FAILED:
                raise AliasNotFound(alias) from error
            raise failure(error) from error
        except BotoCoreError as error:
            raise failure(error) from error
        return _record(response["Attributes"])

    def move_alias(self, current: AliasRecord, *, to_key_id: str, update_time: int) -> AliasRecord:
        try:
            response = self._table.client().update_item(
                TableName=self._table.name,
                Key=_key(current.domain_id, current.alias),
                UpdateExpression="SET key_id = :to, update_time = :time, GSI1PK = :gsi1pk",
                ConditionExpression="key_id = :from AND project_id = :project",
                ExpressionAttributeValues={
                    ":to": s(to_key_id),
                    ":time": n(update_time),
                    ":gsi1pk": s(_key_partition(current.project_id, to_key_id)),
                    ":from": s(current.key_id),
                    ":project": s(current.project_id),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if code(error) != CONDITIONAL_CHECK_FAILED:
                raise failure(error) from error
            stored = cast(dict[str, Any], error.response).get("Item")
            if stored is None:  # absent, or the old item did not come back: read it
                stored = self._table.get_item(_key(current.domain_id, current.alias))
            if stored is None:
                raise AliasNotFound(current.alias) from error
            raise ConcurrentUpdate() from error
        except BotoCoreError as error:
            raise failure(error) from error
        return _record(response["Attributes"])
