"""The DynamoDB adapter of the :class:`KeyStore` port (key items, their ``key_alias`` reservations
and counters; the table is shared, see :mod:`skms.storage.dynamodb`).

Item layout (all in the project's partition ``PK = P#{project_id}``):

- key:     ``SK = K#{key_id}``, ``GSI1PK = P#{project_id}``, ``GSI1SK = {creation_date:013d}#{key_id}``,
  the record's fields as native attributes, ``materials`` a Map of Binary, ``revision`` a Number.
  ``deleted_at`` is absent while the key is live (a Number once it is a tombstone; an item holding
  NULL there is read as live too). A tombstone has no ``GSI1PK``/``GSI1SK``: it leaves the index,
  so listings never read it, while its item keeps the id (and its alias item the alias) reserved.
  While the key is live, pending deletion (state ``"4"``) and has a ``scheduled_deletion_date``, it
  also carries ``GSI2PK = DUE`` and ``GSI2SK = {scheduled_deletion_date:013d}#{project_id}#{key_id}``
  (and only then: GSI2 is a sparse index of the keys pending deletion, in date order; an external
  key whose imported material expires is there too, at ``expiration_time``: ``KeyRecord.due_at``). While the
  key is on the automatic rotation schedule (``KeyRecord.rotation_due_at``: live, enabled, rotation
  enabled; never pending deletion at the same time) it carries ``GSI2PK = ROTATE`` and
  ``GSI2SK = {next_rotation_time:013d}#{project_id}#{key_id}`` instead: GSI2's second partition.
- key alias: ``SK = A#{key_alias}`` with ``key_id``: the reservation of a key's ``key_alias``
  (uniqueness per project; alias records live elsewhere, see :mod:`skms.storage.dynamodb.aliases`).
- counters: one per group of live keys sharing the list filters' values (``key_spec``,
  ``key_state``, ``enterprise_project_id``: :data:`skms.storage.codec.FILTER_FIELDS`):
  ``SK = COUNT#{b64(key_spec)}#{b64(key_state)}#{b64(enterprise_project_id)}`` (base64url, UTF-8,
  unpadded: no part can hold the ``#``, so the encoding is injective), with ``keys`` (Number) and
  the three values as plain String attributes. They change in the same transaction as the key
  item: a create ADDs 1 to its group; an update that moves a live key to another group (a state or
  enterprise project change: the spec never changes) ADDs -1 to the old group and 1 to the new
  one, the deletion that makes it a tombstone ADDs -1 to its group. Those key writes are
  conditional on the revision, so of two racing updates only the winner moves a counter.
  A ``SK = TOTAL`` item counts the project's live keys across groups: create-key's transaction
  ADDs 1 to it on the condition that it is below the quota, and a key becoming a tombstone ADDs
  -1, so concurrent creates cannot overshoot the quota. A ``SK = DEFAULTS`` item counts the
  project's live service default keys the same way (for user-instances).
  ``count_keys`` is one Query of the partition's ``COUNT#`` items (a handful: one per group ever
  used) summing those that match the filters: its cost follows the groups, not the keys.

Only live key items carry ``GSI1PK``, so the GSI lists the live keys of a project in creation order
and nothing else; listing never scans. A cursor is a position in the index (the creation date and
id of a page's last key, bound to the project: :mod:`skms.storage.cursors`), so it stays valid
after that key became a tombstone and left the index. List
filters are a ``FilterExpression`` on that Query (with the tombstone exclusion, kept as a guard),
so a filtered page reads the index from the cursor until it has found its keys: its cost follows
the keys it skips, and it may take several Query calls when matches are sparse.
``due_for_deletion`` is a Query of GSI2 (one partition, ``DUE``, holding only the keys pending
deletion of every project) up to a date: it never reads a key that is not pending deletion.
Key-id uniqueness is enforced per project (ids are random UUIDs).

A table written by the previous version of this adapter has a single ``SK = COUNT`` item per
project (now ignored, and left in place) instead of the ``COUNT#`` groups, and no GSI2 attributes:
run :meth:`DynamoKeyStore.rebuild_counts` once per project after deploying (while the project
sees no writes), which recounts the groups and rewrites the index attributes of its key items.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from botocore.exceptions import BotoCoreError, ClientError

from skms.domain import KeyRecord
from skms.errors import ConcurrentUpdate
from skms.storage import codec, cursors
from skms.storage.dynamodb.table import (
    CONDITION_FAILED,
    CONDITIONAL_CHECK_FAILED,
    DynamoTable,
    av,
    code,
    failure,
    n,
    py,
    s,
)
from skms.storage.port import (
    AliasExists,
    KeyExists,
    KeyFilter,
    KeyPage,
    KeyStore,
    QuotaExceeded,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

    from skms.storage.dynamodb.table import Item

GSI = "GSI1"
DUE_GSI = "GSI2"
_DUE = "DUE"  # the GSI2PK of keys pending deletion
_ROTATE = "ROTATE"  # the GSI2PK of keys on the automatic rotation schedule
_KEY_ATTRS = ("PK", "SK", "GSI1PK", "GSI1SK")
_DUE_ATTRS = ("GSI2PK", "GSI2SK")
_INDEX_ATTRS = (*_KEY_ATTRS, *_DUE_ATTRS)  # every attribute of a key item that is no record field
_COUNT_PREFIX = "COUNT#"
_COUNT_ATTR = "keys"
_TOTAL_SK = "TOTAL"  # the project's live keys, all groups together: what create_key's quota checks
_DEFAULTS_SK = "DEFAULTS"  # the project's live service default keys (user-instances leaves them out)
# A filtered listing's Query Limit (items read, not matched) doubles each call up to this.
_MAX_QUERY_LIMIT = 1000
# Live: no deleted_at, or NULL there. Shared by filters and conditions; uses #del and :null.
_LIVE = "(attribute_not_exists(#del) OR #del = :null)"
_TOMBSTONE = f"NOT {_LIVE}"
# How many keys' last seen (revision, alias, liveness, group) a store remembers (see update_key).
_SEEN_SIZE = 1024

Group = tuple[str, ...]  # a key's values of codec.FILTER_FIELDS, in that order


def _pk(project_id: str) -> str:
    return f"P#{project_id}"


def _key_sk(key_id: str) -> str:
    return f"K#{key_id}"


def _alias_sk(alias: str) -> str:
    return f"A#{alias}"


def _gsi1sk(record: KeyRecord) -> str:
    return f"{record.creation_date:013d}#{record.key_id}"


def _is_due(record: KeyRecord) -> bool:
    """In GSI2's ``DUE`` partition: live, with work for the sweep at a date, whether the date has
    passed or not (``KeyRecord.due_at``: pending deletion, or imported material that expires)."""
    return codec.is_live(record) and record.due_at is not None


def _gsi2sk(record: KeyRecord) -> str:
    return f"{record.due_at:013d}#{record.project_id}#{record.key_id}"


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def _group(record: KeyRecord) -> Group:
    fields = codec.to_fields(record)
    return tuple(str(fields[name]) for name in codec.FILTER_FIELDS)


def _count_sk(group: Group) -> str:
    """``COUNT#`` then each value in base64url, joined by ``#``: injective (no part holds a ``#``)."""
    return _COUNT_PREFIX + "#".join(_b64url(value) for value in group)


class _Shape(NamedTuple):
    """What an update must know of the stored version it replaces to keep the other items right:
    the alias reservation to move, and the counter group to leave (if live)."""

    alias: str
    live: bool
    group: Group


def _shape(record: KeyRecord) -> _Shape:
    return _Shape(record.key_alias, codec.is_live(record), _group(record))


def _key(project_id: str, sk: str) -> Item:
    return {"PK": s(_pk(project_id)), "SK": s(sk)}


def _key_item(record: KeyRecord) -> Item:
    """The full item; no ``deleted_at`` while live, no GSI keys once a tombstone (see above)."""
    fields = codec.to_fields(record)
    if fields[codec.DELETED_AT] is None:
        del fields[codec.DELETED_AT]
    item: Item = {name: av(value) for name, value in fields.items()}
    item[codec.MATERIALS] = {
        "M": {version: {"B": blob} for version, blob in codec.materials_to_map(record.materials).items()}
    }
    item["PK"] = s(_pk(record.project_id))
    item["SK"] = s(_key_sk(record.key_id))
    if codec.is_live(record):
        item["GSI1PK"] = s(_pk(record.project_id))
        item["GSI1SK"] = s(_gsi1sk(record))
    if _is_due(record):
        item["GSI2PK"] = s(_DUE)
        item["GSI2SK"] = s(_gsi2sk(record))
    elif record.rotation_due_at is not None:
        item["GSI2PK"] = s(_ROTATE)
        item["GSI2SK"] = s(f"{record.rotation_due_at:013d}#{record.project_id}#{record.key_id}")
    return item


def _is_live_item(item: Item) -> bool:
    return codec.DELETED_AT not in item or py(item[codec.DELETED_AT]) is None


def _item_shape(item: Item) -> _Shape:
    """The shape of a stored key item (the fields are always there: to_fields writes them all)."""
    group = tuple(str(py(item[name])) for name in codec.FILTER_FIELDS)
    return _Shape(cast(str, py(item["key_alias"])), _is_live_item(item), group)


def _counter_moves(old: _Shape, new: _Shape) -> list[tuple[Group, int]]:
    """The counter ADDs of an update from ``old`` to ``new``: none unless liveness or group changes
    (then never twice the same counter item, which one transaction could not hold)."""
    if old.live == new.live and (not old.live or old.group == new.group):
        return []
    moves = []
    if old.live:
        moves.append((old.group, -1))
    if new.live:
        moves.append((new.group, 1))
    return moves


def _list_filter(filters: KeyFilter | None) -> tuple[str, dict[str, str], dict[str, AttributeValueTypeDef]]:
    """FilterExpression, names and values of a listing: live keys matching the set filters."""
    names = {"#del": codec.DELETED_AT}
    values: dict[str, AttributeValueTypeDef] = {":null": {"NULL": True}}
    clauses = [_LIVE]
    for index, (name, value) in enumerate(codec.filter_fields(filters).items()):
        names[f"#f{index}"] = name
        values[f":f{index}"] = s(value)
        clauses.append(f"#f{index} = :f{index}")
    return " AND ".join(clauses), names, values


def _record(item: Item) -> KeyRecord:
    fields = {
        name: py(value)
        for name, value in item.items()
        if name != codec.MATERIALS and name not in _INDEX_ATTRS
    }
    materials = {version: blob["B"] for version, blob in item.get(codec.MATERIALS, {}).get("M", {}).items()}
    return codec.from_fields(fields, materials)


_UUID = re.compile(r"[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}")


def _start_key(project_id: str, cursor: str) -> Item:
    """The ExclusiveStartKey (GSI1 position) a cursor stands for; ValueError unless it is a cursor
    of this project naming a real key id (a forged empty or odd attribute would make DynamoDB
    answer a ValidationException, i.e. a 500)."""
    creation_date, key_id = cursors.key_position(project_id, cursor)
    if not _UUID.fullmatch(key_id):
        raise ValueError("invalid cursor")
    return {
        "PK": s(_pk(project_id)),
        "SK": s(_key_sk(key_id)),
        "GSI1PK": s(_pk(project_id)),
        "GSI1SK": s(f"{creation_date:013d}#{key_id}"),
    }


class DynamoKeyStore(KeyStore):
    def __init__(self, table: DynamoTable) -> None:
        self._table = table
        self._seen: OrderedDict[tuple[str, str], tuple[int, _Shape]] = OrderedDict()
        self._seen_lock = threading.Lock()

    def _remember(self, record: KeyRecord) -> None:
        """Note the shape of ``record`` at its revision (the newest seen wins), for update_key."""
        key = (record.project_id, record.key_id)
        with self._seen_lock:
            seen = self._seen.get(key)
            if seen is None or seen[0] <= record.revision:
                self._seen[key] = (record.revision, _shape(record))
            self._seen.move_to_end(key)
            while len(self._seen) > _SEEN_SIZE:
                self._seen.popitem(last=False)

    def _recall(self, project_id: str, key_id: str, revision: int) -> _Shape | None:
        with self._seen_lock:
            seen = self._seen.get((project_id, key_id))
        return seen[1] if seen is not None and seen[0] == revision else None

    def _total_update(
        self, project_id: str, delta: int, quota: int | None = None, sk: str = _TOTAL_SK
    ) -> TransactWriteItemTypeDef:
        """ADD ``delta`` to the project's TOTAL counter (or the counter ``sk``); with ``quota``,
        only while it is below it (a missing counter counts as 0)."""
        update: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": _key(project_id, sk),
            "UpdateExpression": "ADD #n :delta",
            "ExpressionAttributeNames": {"#n": _COUNT_ATTR},
            "ExpressionAttributeValues": {":delta": n(delta)},
        }
        if quota is not None:
            update["ConditionExpression"] = "attribute_not_exists(#n) OR #n < :quota"
            update["ExpressionAttributeValues"][":quota"] = n(quota)
        return cast("TransactWriteItemTypeDef", {"Update": update})

    def _count_update(self, project_id: str, group: Group, delta: int) -> TransactWriteItemTypeDef:
        """ADD ``delta`` to the counter of ``group`` in the project, creating it with its values
        (unconditional: the other items of its transaction carry the conditions)."""
        names = {"#n": _COUNT_ATTR}
        values: dict[str, AttributeValueTypeDef] = {":delta": n(delta)}
        sets = []
        for index, (name, value) in enumerate(zip(codec.FILTER_FIELDS, group, strict=True)):
            names[f"#g{index}"] = name
            values[f":g{index}"] = s(value)
            sets.append(f"#g{index} = :g{index}")
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": _key(project_id, _count_sk(group)),
                "UpdateExpression": f"ADD #n :delta SET {', '.join(sets)}",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def create_key(self, record: KeyRecord, *, quota: int | None = None) -> None:
        alias_item: Item = _key(record.project_id, _alias_sk(record.key_alias))
        alias_item["key_id"] = s(record.key_id)
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": _key_item(record),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": alias_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
        if codec.is_live(record):  # the counters count live keys only
            items.append(self._count_update(record.project_id, _group(record), 1))
            items.append(self._total_update(record.project_id, 1, quota))
            if record.is_default_key:
                items.append(self._total_update(record.project_id, 1, sk=_DEFAULTS_SK))
        reasons = self._table.transact(items)
        if reasons is None:
            self._remember(record)
            return
        if reasons[0] == CONDITION_FAILED:
            raise KeyExists(record.key_id)
        if reasons[1] == CONDITION_FAILED:
            raise AliasExists(record.key_alias)
        raise QuotaExceeded(record.project_id)

    def get_key(self, project_id: str, key_id: str) -> KeyRecord | None:
        item = self._table.get_item(_key(project_id, _key_sk(key_id)))
        if item is None:
            return None
        record = _record(item)
        self._remember(record)
        return record

    def get_key_by_alias(self, project_id: str, alias: str) -> KeyRecord | None:
        # Two reads, not atomic: a rename between them is detected by re-checking the alias.
        for _ in range(3):
            alias_item = self._table.get_item(_key(project_id, _alias_sk(alias)))
            if alias_item is None:
                return None
            record = self.get_key(project_id, alias_item["key_id"]["S"])
            if record is not None and record.key_alias == alias:
                return record
        return None

    def update_key(self, record: KeyRecord, expected_revision: int) -> KeyRecord:
        """A write conditional on the revision and on the stored version's shape this update
        assumes (alias, liveness, counter group). The assumption is what this store last read or
        wrote of the key at ``expected_revision`` (a read-modify-write reads it first), else a
        guess: the alias and group unchanged and the key live. If that shape is the new one's too
        (same alias, same group, still live: a description, rotation, material... update), the
        write is one conditional PutItem. Else it is one transaction: the key's Put, plus the
        alias reservation moved (Delete the old, Put the new if absent) on a rename, plus the
        counter moves (-1 on the old group if it was live, +1 on the new one if it is live). If
        the assumption was wrong, the stored item (returned with the failed PutItem, or read) at
        the expected revision tells the truth and the write is made again once on it; a stored
        revision other than ``expected_revision`` is a :class:`ConcurrentUpdate`."""
        stored = record.replace(revision=expected_revision + 1)
        assumed = self._recall(record.project_id, record.key_id, expected_revision) or _Shape(
            record.key_alias, True, _group(record)
        )
        for _ in range(2):
            written, old = self._write_update(stored, expected_revision, assumed)
            if written:
                self._remember(stored)
                return stored
            if old is None:  # the key is absent, or the old item did not come back
                old = self._table.get_item(_key(record.project_id, _key_sk(record.key_id)))
            if old is None or py(old["revision"]) != expected_revision:
                raise ConcurrentUpdate()
            actual = _item_shape(old)
            if actual == assumed:  # changed and changed back under us
                raise ConcurrentUpdate()
            assumed = actual
        raise ConcurrentUpdate()  # the stored item moved between our read and our second write

    def _write_update(
        self, stored: KeyRecord, expected_revision: int, old: _Shape
    ) -> tuple[bool, Item | None]:
        """Write ``stored`` over a key assumed at ``expected_revision`` with the shape ``old``:
        (True, None) if written, (False, the stored item if it came back) if the key's condition
        failed; AliasExists if the new alias is taken."""
        clauses = ["#rev = :expected", "#alias = :alias", _LIVE if old.live else _TOMBSTONE]
        names = {"#rev": "revision", "#alias": "key_alias", "#del": codec.DELETED_AT}
        values: dict[str, AttributeValueTypeDef] = {
            ":expected": n(expected_revision),
            ":alias": s(old.alias),
            ":null": {"NULL": True},
        }
        for index, (name, value) in enumerate(zip(codec.FILTER_FIELDS, old.group, strict=True)):
            names[f"#g{index}"] = name
            values[f":g{index}"] = s(value)
            clauses.append(f"#g{index} = :g{index}")
        condition = " AND ".join(clauses)
        moves_alias = old.alias != stored.key_alias
        moves = _counter_moves(old, _shape(stored))
        if not moves_alias and not moves:
            try:
                self._table.client().put_item(
                    TableName=self._table.name,
                    Item=_key_item(stored),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return True, None
            except ClientError as error:
                if code(error) != CONDITIONAL_CHECK_FAILED:
                    raise failure(error) from error
                return False, cast(dict[str, Any], error.response).get("Item")
            except BotoCoreError as error:
                raise failure(error) from error

        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": _key_item(stored),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        if moves_alias:
            new_alias_item: Item = _key(stored.project_id, _alias_sk(stored.key_alias))
            new_alias_item["key_id"] = s(stored.key_id)
            items.append(
                {
                    "Delete": {
                        "TableName": self._table.name,
                        "Key": _key(stored.project_id, _alias_sk(old.alias)),
                        "ConditionExpression": "key_id = :kid",
                        "ExpressionAttributeValues": {":kid": s(stored.key_id)},
                    }
                }
            )
            items.append(
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": new_alias_item,
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        items.extend(self._count_update(stored.project_id, group, delta) for group, delta in moves)
        if liveness := sum(delta for _, delta in moves):  # a key became a tombstone
            items.append(self._total_update(stored.project_id, liveness))
            if stored.is_default_key:
                items.append(self._total_update(stored.project_id, liveness, sk=_DEFAULTS_SK))
        reasons = self._table.transact(items)
        if reasons is None:
            return True, None
        if reasons[0] == CONDITION_FAILED:  # a stale guess beats a taken alias: re-evaluated
            return False, None
        if moves_alias and reasons[1] == CONDITION_FAILED:  # the old alias is not ours
            raise ConcurrentUpdate()
        raise AliasExists(stored.key_alias)

    def _query_request(self, project_id: str, filters: KeyFilter | None) -> QueryInputTypeDef:
        expression, names, values = _list_filter(filters)
        return {
            "TableName": self._table.name,
            "IndexName": GSI,
            "KeyConditionExpression": "GSI1PK = :p",
            "FilterExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":p": s(_pk(project_id)), **values},
            "ScanIndexForward": True,
        }

    def _partition_items(self, project_id: str, sk_prefix: str) -> Iterator[Item]:
        """Every item of the project's partition whose SK starts with ``sk_prefix``, strongly
        consistent, page after page."""
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :p AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":p": s(_pk(project_id)), ":prefix": s(sk_prefix)},
            "ConsistentRead": True,
        }
        while True:
            response = self._table.query(request)
            yield from response["Items"]
            start = response.get("LastEvaluatedKey")
            if start is None:
                return
            request["ExclusiveStartKey"] = start

    def list_keys(
        self, project_id: str, limit: int, cursor: str | None = None, *, filters: KeyFilter | None = None
    ) -> KeyPage:
        """Query GSI1 from the cursor until ``limit + 1`` matching items are found or the
        partition ends, so ``next_cursor`` is None exactly on the last page, like the other
        adapters. ``Limit`` counts the items read, before the FilterExpression: it starts at
        ``limit + 1`` and, while filters reject items, doubles each call (up to
        ``_MAX_QUERY_LIMIT``), so a page of sparse matches takes few calls; without filters one
        call does (more only if DynamoDB's 1 MB page cut it short). The items read past the
        page's last one are dropped: the cursor names the page's last key
        (:mod:`skms.storage.cursors`), from which its GSI position is rebuilt. GSI reads are
        eventually consistent: a key created a moment ago may show up a moment later."""
        if limit < 1:
            raise ValueError("limit must be positive")
        start = None if cursor is None else _start_key(project_id, cursor)
        request = self._query_request(project_id, filters)
        items: list[Item] = []
        read_limit = limit + 1
        while len(items) <= limit:
            request["Limit"] = read_limit
            if start is not None:
                request["ExclusiveStartKey"] = start
            response = self._table.query(request)
            items.extend(response["Items"])
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
            missing = limit + 1 - len(items)
            if response["Count"] == response["ScannedCount"]:  # cut short by the 1 MB page size
                read_limit = missing
            else:  # the filters rejected some: read more at once
                read_limit = min(max(2 * read_limit, missing), _MAX_QUERY_LIMIT)
        records = [_record(item) for item in items[:limit]]
        next_cursor = None
        if len(items) > limit:
            last = records[-1]
            next_cursor = cursors.key_cursor(project_id, last.creation_date, last.key_id)
        return KeyPage(records=records, next_cursor=next_cursor)

    def count_keys(self, project_id: str, *, filters: KeyFilter | None = None) -> int:
        """One strongly consistent Query of the partition's ``COUNT#`` items (one per group of
        live keys: a handful, whatever the number of keys), summing ``keys`` of the groups whose
        values match the filters (of every group without filters). Never reads a key item."""
        wanted = codec.filter_fields(filters)
        return sum(
            int(py(item[_COUNT_ATTR]) or 0)
            for item in self._partition_items(project_id, _COUNT_PREFIX)
            if all(item.get(name, {}).get("S") == value for name, value in wanted.items())
        )

    def count_default_keys(self, project_id: str) -> int:
        """One GetItem of the project's ``DEFAULTS`` counter."""
        item = self._table.get_item(_key(project_id, _DEFAULTS_SK))
        return 0 if item is None else int(py(item[_COUNT_ATTR]) or 0)

    def due_for_deletion(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """A Query of the sparse GSI2 (``GSI2PK = DUE``, so only keys pending deletion are
        read), ascending, up to ``GSI2SK < {now_ms + 1:013d}``: every date <= ``now_ms``, whatever
        characters the ids after it hold (fixed-width dates compare as numbers), oldest first,
        then by project and key id. Further Query calls only if DynamoDB's 1 MB page cut one short.

        GSI reads are eventually consistent: a key scheduled, cancelled or deleted a moment ago
        may be missing, or come back in its previous version. That is fine for the sweep, which
        re-checks each record and tombstones it by a write conditional on its revision (a stale
        record fails that condition and is re-read)."""
        return self._gsi2_partition(_DUE, now_ms, limit)

    def due_for_rotation(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """A Query of GSI2's ``ROTATE`` partition (only keys on the rotation schedule), ascending,
        up to ``GSI2SK < {now_ms + 1:013d}``, as :meth:`due_for_deletion` reads ``DUE``. Eventually
        consistent: the rotation re-checks each record and writes conditionally on its revision."""
        return self._gsi2_partition(_ROTATE, now_ms, limit)

    def _gsi2_partition(self, partition: str, now_ms: int, limit: int) -> list[KeyRecord]:
        if limit < 1:
            return []
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "IndexName": DUE_GSI,
            "KeyConditionExpression": "GSI2PK = :due AND GSI2SK < :upper",
            "ExpressionAttributeValues": {":due": s(partition), ":upper": s(f"{now_ms + 1:013d}")},
            "ScanIndexForward": True,
        }
        records: list[KeyRecord] = []
        while len(records) < limit:
            request["Limit"] = limit - len(records)
            response = self._table.query(request)
            records.extend(_record(item) for item in response["Items"])
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
            request["ExclusiveStartKey"] = start
        for record in records:
            self._remember(record)
        return records

    def rebuild_counts(self, project_id: str) -> int:
        """Recount the project's groups from its key items and rewrite the index attributes
        (GSI1, GSI2) of any key item that lacks them or has stale ones; return the live keys.

        For a table written by the previous version of this adapter (single ``COUNT`` item, no
        GSI2 attributes), run once per project after deploying; it may be run again at any time
        to repair the counters. Reads the whole partition (strongly consistent Queries of its
        ``K#`` items) and sets each counter to an absolute value, so a key write made while it
        runs may be lost from the counts: run it while the project sees no writes. The index
        attributes are rewritten by an UpdateItem conditional on the revision read (a key
        updated meanwhile was rewritten whole by the update, so it is skipped)."""
        counts: dict[Group, int] = {}
        defaults = 0
        for item in self._partition_items(project_id, "K#"):
            record = _record(item)
            if codec.is_live(record):
                group = _group(record)
                counts[group] = counts.get(group, 0) + 1
                defaults += record.is_default_key
            self._repair_index_attributes(item, record)
        for item in self._partition_items(project_id, _COUNT_PREFIX):
            counts.setdefault(tuple(str(py(item[name])) for name in codec.FILTER_FIELDS), 0)
        counters: list[Item] = []
        for group, keys in counts.items():
            counter: Item = _key(project_id, _count_sk(group))
            counter.update({name: s(value) for name, value in zip(codec.FILTER_FIELDS, group, strict=True)})
            counter[_COUNT_ATTR] = n(keys)
            counters.append(counter)
        counters.append({**_key(project_id, _TOTAL_SK), _COUNT_ATTR: n(sum(counts.values()))})
        counters.append({**_key(project_id, _DEFAULTS_SK), _COUNT_ATTR: n(defaults)})
        for counter in counters:
            try:
                self._table.client().put_item(TableName=self._table.name, Item=counter)
            except (ClientError, BotoCoreError) as error:
                raise failure(error) from error
        return sum(counts.values())

    def _repair_index_attributes(self, item: Item, record: KeyRecord) -> None:
        expected = _key_item(record)
        stale = [name for name in ("GSI1PK", "GSI1SK", *_DUE_ATTRS) if item.get(name) != expected.get(name)]
        if not stale:
            return
        names = {f"#a{index}": name for index, name in enumerate(stale)}
        values: dict[str, AttributeValueTypeDef] = {":rev": n(record.revision)}
        sets, removes = [], []
        for index, name in enumerate(stale):
            if name in expected:
                values[f":a{index}"] = expected[name]
                sets.append(f"#a{index} = :a{index}")
            else:
                removes.append(f"#a{index}")
        parts = []
        if sets:
            parts.append(f"SET {', '.join(sets)}")
        if removes:
            parts.append(f"REMOVE {', '.join(removes)}")
        try:
            self._table.client().update_item(
                TableName=self._table.name,
                Key=_key(record.project_id, _key_sk(record.key_id)),
                UpdateExpression=" ".join(parts),
                ConditionExpression="#rev = :rev",
                ExpressionAttributeNames={**names, "#rev": "revision"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if code(error) != CONDITIONAL_CHECK_FAILED:
                raise failure(error) from error
        except BotoCoreError as error:
            raise failure(error) from error
