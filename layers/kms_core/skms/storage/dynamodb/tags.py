"""The DynamoDB adapter of the :class:`TagStore` port.

Item layout (every item in a ``TAG#`` partition of its own, so IAM can grant tags alone; no ``P#``,
``ALIAS#``, ``AK#``, ``USER#`` or ``SYS#`` partition is touched). ``b64`` is base64url of the UTF-8
text, unpadded: injective and free of ``#``, so no tag key, value or project id can forge another's
item:

- a key's tags: ``PK = TAG#{b64 project_id}``, ``SK = K#{key_id}``, with ``tags`` (M of S) and
  ``revision`` (N): what show-kms-tags reads (one GetItem), and what every change is conditional on;
- one index item per (project, tag key, value, key): ``PK = TAG#{b64 project_id}#{b64 tag key}``,
  ``SK = {b64 value}#{key_id}``: a tag filter queries the partition of its tag key (all of it for
  any value, ``begins_with(SK, "{b64 value}#")`` per value), and the conditions' key sets are
  intersected — only index items of the tags asked for are read, never a key item. The common filter,
  one tag key with given values, reads less: its total is the sum of the values' counters, and a page
  reads per value only the first ``offset + limit`` items of its run (key-id order), merged;
- one counter per (project, tag key, value): ``PK = TAG#{b64 project_id}``, ``SK =
  T#{b64 tag key}#{b64 value}``, ``count`` (N): list-kms-tags is one Query of ``begins_with(SK,
  "T#")`` keeping ``count > 0``, however many keys carry each tag.

A change is one TransactWriteItems: the key's item (Put, or Delete when no tag is left) conditional
on the revision read, a Delete and a Put of the index items whose value changed and an ``ADD count``
on their counters. A lost race re-reads and retries. The limit on tags per key is checked on the
state read, which the revision condition pins. With at most 20 tags per key a change is at most 81
items (the limit of a transaction is 100).
"""

from __future__ import annotations

import base64
import heapq
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from skms.errors import ConcurrentUpdate
from skms.storage.dynamodb.table import DynamoTable, s
from skms.storage.port import TagCondition, TagLimitExceeded, TagMatches, TagStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef, TransactWriteItemTypeDef

    from skms.storage.dynamodb.table import Item

_PREFIX = "TAG#"
_ATTEMPTS = 8


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def _from_b64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")


def _project_partition(project_id: str) -> str:
    return f"{_PREFIX}{_b64(project_id)}"


def _tag_partition(project_id: str, tag_key: str) -> str:
    return f"{_PREFIX}{_b64(project_id)}#{_b64(tag_key)}"


def _set_key(project_id: str, key_id: str) -> Item:
    return {"PK": s(_project_partition(project_id)), "SK": s(f"K#{key_id}")}


def _index_key(project_id: str, key_id: str, tag_key: str, value: str) -> Item:
    return {"PK": s(_tag_partition(project_id, tag_key)), "SK": s(f"{_b64(value)}#{key_id}")}


def _counter_key(project_id: str, tag_key: str, value: str) -> Item:
    return {"PK": s(_project_partition(project_id)), "SK": s(f"T#{_b64(tag_key)}#{_b64(value)}")}


class DynamoTagStore(TagStore):
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    # -- reads ---------------------------------------------------------------------------------

    def _read(self, project_id: str, key_id: str) -> tuple[dict[str, str], int]:
        """The key's tags and the revision of its item (0: no item)."""
        item = self._table.get_item(_set_key(project_id, key_id))
        if item is None:
            return {}, 0
        tags = {name: value["S"] for name, value in item["tags"]["M"].items() if "S" in value}
        return tags, int(item["revision"]["N"])

    def get_tags(self, project_id: str, key_id: str) -> dict[str, str]:
        return dict(sorted(self._read(project_id, key_id)[0].items()))

    def _query_all(self, request: QueryInputTypeDef) -> list[Item]:
        items: list[Item] = []
        while True:
            response = self._table.query(request)
            items.extend(response["Items"])
            start = response.get("LastEvaluatedKey")
            if start is None:
                return items
            request["ExclusiveStartKey"] = start

    def _partition(self, partition: str, sk_prefix: str, projection: str) -> list[Item]:
        values = {":pk": s(partition)}
        condition = "PK = :pk"
        if sk_prefix:  # DynamoDB refuses begins_with of ""
            values[":prefix"] = s(sk_prefix)
            condition += " AND begins_with(SK, :prefix)"
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ProjectionExpression": projection,
            "ConsistentRead": True,
        }
        return self._query_all(request)

    def _keys_meeting(self, project_id: str, condition: TagCondition) -> set[str]:
        partition = _tag_partition(project_id, condition.key)
        prefixes = [f"{_b64(value)}#" for value in condition.values] or [""]
        return {
            item["key_id"]["S"]
            for prefix in prefixes
            for item in self._partition(partition, prefix, "key_id")
        }

    def find_keys(
        self,
        project_id: str,
        conditions: Sequence[TagCondition],
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> TagMatches:
        if len(conditions) == 1 and conditions[0].values:
            return self._one_condition(project_id, conditions[0], offset, limit)
        found: set[str] | None = None
        if not conditions:
            found = {
                item["SK"]["S"][2:] for item in self._partition(_project_partition(project_id), "K#", "SK")
            }
        for condition in conditions:
            meeting = self._keys_meeting(project_id, condition)
            found = meeting if found is None else found & meeting
            if not found:
                break
        ordered = sorted(found or ())
        end = None if limit is None else offset + limit
        return TagMatches(key_ids=ordered[offset:end], total=len(ordered))

    def _one_condition(
        self, project_id: str, condition: TagCondition, offset: int, limit: int | None
    ) -> TagMatches:
        """One tag key with given values (the common filter): the total is the sum of the values'
        counters (a GetItem each), and the page reads, per value, only the first ``offset + limit``
        index items of its run — each run is in key-id order (``SK = {b64 value}#{key_id}``), and the
        runs are merged — so a first page costs the same at 100 keys as at 10,000."""
        values = sorted(set(condition.values))
        total = 0
        for value in values:
            counter = self._table.get_item(_counter_key(project_id, condition.key, value))
            total += 0 if counter is None else max(0, int(counter["count"]["N"]))
        if limit == 0 or (limit is not None and offset >= total):
            return TagMatches(key_ids=[], total=total)
        wanted = None if limit is None else offset + limit
        partition = _tag_partition(project_id, condition.key)
        runs = [self._run(partition, f"{_b64(value)}#", wanted) for value in values]
        merged = list(itertools.islice(heapq.merge(*runs), offset, wanted))
        return TagMatches(key_ids=merged, total=total)

    def _run(self, partition: str, prefix: str, wanted: int | None) -> list[str]:
        """The key ids of the index items under ``prefix``, ascending, at most ``wanted`` (None: all)."""
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": s(partition), ":prefix": s(prefix)},
            "ProjectionExpression": "key_id",
            "ConsistentRead": True,
        }
        key_ids: list[str] = []
        while wanted is None or len(key_ids) < wanted:
            if wanted is not None:
                request["Limit"] = wanted - len(key_ids)
            response = self._table.query(request)
            key_ids.extend(item["key_id"]["S"] for item in response["Items"])
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
            request["ExclusiveStartKey"] = start
        return key_ids

    def project_tags(self, project_id: str) -> dict[str, list[str]]:
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "FilterExpression": "#count > :zero",
            "ExpressionAttributeNames": {"#count": "count"},
            "ExpressionAttributeValues": {
                ":pk": s(_project_partition(project_id)),
                ":prefix": s("T#"),
                ":zero": {"N": "0"},
            },
            "ProjectionExpression": "SK",
            "ConsistentRead": True,
        }
        tags: dict[str, list[str]] = {}
        for item in self._query_all(request):
            _t, name, value = item["SK"]["S"].split("#")
            tags.setdefault(_from_b64(name), []).append(_from_b64(value))
        return {name: sorted(tags[name]) for name in sorted(tags)}

    # -- writes --------------------------------------------------------------------------------

    def _transaction(
        self, project_id: str, key_id: str, current: dict[str, str], revision: int, wanted: dict[str, str]
    ) -> list[TransactWriteItemTypeDef]:
        table = self._table.name
        key = _set_key(project_id, key_id)
        if revision:
            condition = {
                "ConditionExpression": "revision = :rev",
                "ExpressionAttributeValues": {":rev": {"N": str(revision)}},
            }
        else:
            condition = {"ConditionExpression": "attribute_not_exists(PK)"}
        items: list[TransactWriteItemTypeDef] = []
        if wanted:
            item: Item = {
                **key,
                "key_id": s(key_id),
                "tags": {"M": {name: s(value) for name, value in wanted.items()}},
                "revision": {"N": str(revision + 1)},
            }
            items.append({"Put": {"TableName": table, "Item": item, **condition}})  # type: ignore[typeddict-item]
        else:
            items.append({"Delete": {"TableName": table, "Key": key, **condition}})  # type: ignore[typeddict-item]

        def count(tag_key: str, value: str, delta: int) -> TransactWriteItemTypeDef:
            return {
                "Update": {
                    "TableName": table,
                    "Key": _counter_key(project_id, tag_key, value),
                    "UpdateExpression": "ADD #count :delta",
                    "ExpressionAttributeNames": {"#count": "count"},
                    "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
                }
            }

        for name, value in current.items():
            if wanted.get(name) != value:
                items.append(
                    {"Delete": {"TableName": table, "Key": _index_key(project_id, key_id, name, value)}}
                )
                items.append(count(name, value, -1))
        for name, value in wanted.items():
            if current.get(name) != value:
                index_item: Item = {**_index_key(project_id, key_id, name, value), "key_id": s(key_id)}
                items.append({"Put": {"TableName": table, "Item": index_item}})
                items.append(count(name, value, 1))
        return items

    def _change(
        self,
        project_id: str,
        key_id: str,
        edit: Callable[[dict[str, str]], dict[str, str]],
        max_tags: int | None,
    ) -> dict[str, str]:
        for _ in range(_ATTEMPTS):
            current, revision = self._read(project_id, key_id)
            wanted = edit(current)
            if max_tags is not None and len(wanted) > max_tags:
                raise TagLimitExceeded(key_id)
            if wanted == current:
                return dict(sorted(current.items()))
            if self._table.transact(self._transaction(project_id, key_id, current, revision, wanted)) is None:
                return dict(sorted(wanted.items()))
        raise ConcurrentUpdate()

    def change_tags(
        self,
        project_id: str,
        key_id: str,
        *,
        put: Mapping[str, str],
        remove: Collection[str] = (),
        max_tags: int,
    ) -> dict[str, str]:
        def edit(current: dict[str, str]) -> dict[str, str]:
            changed = {name: value for name, value in current.items() if name not in remove}
            changed.update(put)
            return changed

        return self._change(project_id, key_id, edit, max_tags)

    def delete_tags(self, project_id: str, key_id: str) -> None:
        self._change(project_id, key_id, lambda _current: {}, None)
