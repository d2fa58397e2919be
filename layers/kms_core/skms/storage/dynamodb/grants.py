"""The DynamoDB adapter of the :class:`GrantStore` port.

Item layout (every partition begins ``GRANT#``, so IAM can grant grants alone; no other kind's
partition is touched). Project ids come first only where a key id (a UUID, no ``#``) ends the
partition, so no two keys' partitions can be confused:

- a grant: ``PK = GRANT#K#{project_id}#{key_id}``, ``SK = G#{grant_id}``, with every field: a
  key's grants are one Query, in grant-id order (list-grants, the deletion sweep);
- its key's counter: ``PK = GRANT#C#{project_id}``, ``SK = K#{key_id}``, ``count`` (N): the limit
  per key is this item's condition in each create's transaction; user-quotas queries the partition;
- a copy per grantee: ``PK = GRANT#E#{grantee type}#{grantee}``, ``SK = {key_id}#{grant_id}``: the
  grants one principal holds on a key id, in any project (``begins_with(SK, "{key_id}#")``);
- a copy per retirer (:func:`retirers_of`): ``PK = GRANT#R#{retirer}``, ``SK = {grant_id}``:
  list-retirable-grants queries the caller's retirer partitions (its own, its domain's), and
  retire-grant reads one item of each.

A create is one TransactWriteItems: ``ADD count 1`` on the counter conditional on ``count <
limit`` (absent: 0), and the grant and its copies conditional on their absence; so concurrent
creates cannot pass the limit. A delete removes the grant (conditional on its presence) and its
copies and takes 1 off the counter, in one transaction too. At most 6 items per transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from skms.storage.dynamodb.table import CONDITION_FAILED, DynamoTable, n, s
from skms.storage.port import (
    GrantLimitExceeded,
    GrantPage,
    GrantRecord,
    GrantStore,
    StorageFailure,
    retirers_of,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef, TransactWriteItemTypeDef

    from skms.storage.dynamodb.table import Item


def _grant_key(project_id: str, key_id: str, grant_id: str) -> Item:
    return {"PK": s(f"GRANT#K#{project_id}#{key_id}"), "SK": s(f"G#{grant_id}")}


def _counter_key(project_id: str, key_id: str) -> Item:
    return {"PK": s(f"GRANT#C#{project_id}"), "SK": s(f"K#{key_id}")}


def _grantee_key(grant: GrantRecord) -> Item:
    return {
        "PK": s(f"GRANT#E#{grant.grantee_principal_type}#{grant.grantee_principal}"),
        "SK": s(f"{grant.key_id}#{grant.grant_id}"),
    }


def _retirer_key(retirer: str, grant_id: str) -> Item:
    return {"PK": s(f"GRANT#R#{retirer}"), "SK": s(grant_id)}


def _fields(grant: GrantRecord) -> Item:
    return {
        "grant_id": s(grant.grant_id),
        "key_id": s(grant.key_id),
        "project_id": s(grant.project_id),
        "domain_id": s(grant.domain_id),
        "name": s(grant.name),
        "grantee_principal": s(grant.grantee_principal),
        "grantee_principal_type": s(grant.grantee_principal_type),
        "operations": {"L": [s(operation) for operation in grant.operations]},
        "issuing_principal": s(grant.issuing_principal),
        "retiring_principal": s(grant.retiring_principal),
        "creation_date": n(grant.creation_date),
    }


def _grant(item: Item) -> GrantRecord:
    return GrantRecord(
        grant_id=item["grant_id"]["S"],
        key_id=item["key_id"]["S"],
        project_id=item["project_id"]["S"],
        domain_id=item["domain_id"]["S"],
        name=item["name"]["S"],
        grantee_principal=item["grantee_principal"]["S"],
        grantee_principal_type=item["grantee_principal_type"]["S"],
        operations=tuple(value["S"] for value in item["operations"]["L"]),
        issuing_principal=item["issuing_principal"]["S"],
        retiring_principal=item["retiring_principal"]["S"],
        creation_date=int(item["creation_date"]["N"]),
    )


def _copies(grant: GrantRecord) -> list[Item]:
    """The keys of the grant's copies: per grantee, per retirer."""
    return [_grantee_key(grant), *(_retirer_key(name, grant.grant_id) for name in retirers_of(grant))]


def _page(grants: list[GrantRecord], limit: int, after: str | None, total: int) -> GrantPage:
    following = sorted((g for g in grants if after is None or g.grant_id > after), key=lambda g: g.grant_id)
    page = following[:limit]
    return GrantPage(page, page[-1].grant_id if len(following) > limit else None, total)


class DynamoGrantStore(GrantStore):
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    # -- reads ---------------------------------------------------------------------------------

    def _query(
        self, partition: str, *, sk_prefix: str = "", after: str = "", limit: int | None = None
    ) -> list[Item]:
        values: dict[str, object] = {":pk": s(partition)}
        condition = "PK = :pk"
        if after:
            values[":after"] = s(after)
            condition += " AND SK > :after"
        elif sk_prefix:
            values[":prefix"] = s(sk_prefix)
            condition += " AND begins_with(SK, :prefix)"
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,  # type: ignore[typeddict-item]
            "ConsistentRead": True,
        }
        items: list[Item] = []
        while True:
            if limit is not None:
                request["Limit"] = limit - len(items)
            response = self._table.query(request)
            items.extend(response["Items"])
            start = response.get("LastEvaluatedKey")
            if start is None or (limit is not None and len(items) >= limit):
                return items
            request["ExclusiveStartKey"] = start

    def get_grant(self, project_id: str, key_id: str, grant_id: str) -> GrantRecord | None:
        item = self._table.get_item(_grant_key(project_id, key_id, grant_id))
        return None if item is None else _grant(item)

    def list_key_grants(
        self, project_id: str, key_id: str, limit: int, after: str | None = None
    ) -> GrantPage:
        partition = _grant_key(project_id, key_id, "")["PK"]["S"]
        items = self._query(partition, sk_prefix="G#", after=f"G#{after}" if after else "", limit=limit + 1)
        grants = [_grant(item) for item in items]
        page = grants[:limit]
        more = len(grants) > limit
        return GrantPage(page, page[-1].grant_id if more else None, self.count_key_grants(project_id, key_id))

    def count_key_grants(self, project_id: str, key_id: str) -> int:
        item = self._table.get_item(_counter_key(project_id, key_id))
        return 0 if item is None else int(item["count"]["N"])

    def max_grants_per_key(self, project_id: str) -> int:
        items = self._query(f"GRANT#C#{project_id}", sk_prefix="K#")
        return max((int(item["count"]["N"]) for item in items), default=0)

    def grants_held(self, grantee_type: str, grantee: str, key_id: str) -> list[GrantRecord]:
        items = self._query(f"GRANT#E#{grantee_type}#{grantee}", sk_prefix=f"{key_id}#")
        return [_grant(item) for item in items]

    def retirable_grant(self, retirers: Sequence[str], grant_id: str) -> GrantRecord | None:
        for retirer in retirers:
            item = self._table.get_item(_retirer_key(retirer, grant_id))
            if item is not None:
                return _grant(item)
        return None

    def list_retirable(self, retirers: Sequence[str], limit: int, after: str | None = None) -> GrantPage:
        # The caller's retirer partitions (at most two) are read whole: the total counts each grant
        # once, however many of the caller's names may retire it.
        found: dict[str, GrantRecord] = {}
        for retirer in dict.fromkeys(retirers):
            for item in self._query(f"GRANT#R#{retirer}"):
                grant = _grant(item)
                found[grant.grant_id] = grant
        return _page(list(found.values()), limit, after, len(found))

    # -- writes --------------------------------------------------------------------------------

    def create_grant(self, grant: GrantRecord, *, max_per_key: int) -> None:
        table = self._table.name
        fields = _fields(grant)
        absent = "attribute_not_exists(PK)"
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": table,
                    "Key": _counter_key(grant.project_id, grant.key_id),
                    "UpdateExpression": "ADD #count :one",
                    "ConditionExpression": "attribute_not_exists(#count) OR #count < :max",
                    "ExpressionAttributeNames": {"#count": "count"},
                    "ExpressionAttributeValues": {":one": n(1), ":max": n(max_per_key)},
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": {**_grant_key(grant.project_id, grant.key_id, grant.grant_id), **fields},
                    "ConditionExpression": absent,
                }
            },
        ]
        items += [
            {"Put": {"TableName": table, "Item": {**key, **fields}, "ConditionExpression": absent}}
            for key in _copies(grant)
        ]
        cancelled = self._table.transact(items)
        if cancelled is None:
            return
        if cancelled[0] == CONDITION_FAILED:
            raise GrantLimitExceeded(grant.key_id)
        raise StorageFailure("dynamodb: grant id taken")  # 256 random bits: never in practice

    def delete_grant(self, project_id: str, key_id: str, grant_id: str) -> bool:
        grant = self.get_grant(project_id, key_id, grant_id)
        if grant is None:
            return False
        table = self._table.name
        items: list[TransactWriteItemTypeDef] = [
            {
                "Delete": {
                    "TableName": table,
                    "Key": _grant_key(project_id, key_id, grant_id),
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": _counter_key(project_id, key_id),
                    "UpdateExpression": "ADD #count :minus",
                    "ExpressionAttributeNames": {"#count": "count"},
                    "ExpressionAttributeValues": {":minus": n(-1)},
                }
            },
        ]
        items += [{"Delete": {"TableName": table, "Key": key}} for key in _copies(grant)]
        return self._table.transact(items) is None  # a condition failed: deleted meanwhile

    def delete_key_grants(self, project_id: str, key_id: str) -> int:
        partition = _grant_key(project_id, key_id, "")["PK"]["S"]
        deleted = 0
        for item in self._query(partition, sk_prefix="G#"):
            deleted += self.delete_grant(project_id, key_id, item["grant_id"]["S"])
        return deleted
