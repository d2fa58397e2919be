"""Idempotent retries on DynamoDB (Powertools' DynamoDB persistence layer on the keys table)."""

from __future__ import annotations

import boto3

from skms.runtime import Services
from skms.storage.idempotency import PARTITION_PREFIX

SEQ = "919c82d4-8046-4722-9094-35c3c6524cff"


def test_a_retried_create_is_answered_from_the_idempotency_record(kms, aws_services: Services) -> None:
    # Given a create-key with a sequence
    first = kms.call("create_key", {"key_alias": "orders", "sequence": SEQ})
    assert first.status == 200
    # When it is retried with the same body / Then the first answer comes back and one key exists
    again = kms.call("create_key", {"key_alias": "orders", "sequence": SEQ})
    assert (again.status, again.body) == (200, first.body)
    assert aws_services.stores.keys.count_keys("0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e") == 1
    # And the record lives in one of the keys table's IDEMPOTENCY#xx partitions, with a TTL
    table = aws_services.settings.table_name
    assert table is not None
    items = [
        item
        for item in boto3.client("dynamodb").scan(TableName=table)["Items"]
        if item["PK"]["S"].startswith("IDEMPOTENCY")
    ]
    assert len(items) == 1
    assert items[0]["PK"]["S"].startswith(PARTITION_PREFIX)
    assert len(items[0]["PK"]["S"]) == len(PARTITION_PREFIX) + 2
    assert int(items[0]["expiration"]["N"]) > 0
    assert items[0]["status"]["S"] == "COMPLETED"


def test_the_same_sequence_with_another_body_is_refused(kms, aws_services: Services) -> None:
    assert kms.call("create_key", {"key_alias": "a", "sequence": SEQ}).status == 200
    reply = kms.call("create_key", {"key_alias": "b", "sequence": SEQ})
    assert (reply.status, reply.body["error"]["error_code"]) == (400, "KMS.0206")
    assert aws_services.stores.keys.get_key_by_alias("0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e", "b") is None


def test_a_retried_disable_is_not_an_error(kms, aws_services: Services) -> None:
    key_id = kms.create_key("k")
    first = kms.call("disable_key", {"key_id": key_id, "sequence": SEQ})
    again = kms.call("disable_key", {"key_id": key_id, "sequence": SEQ})
    assert (first.status, again.status, again.body) == (200, 200, first.body)
    plain_retry = kms.call("disable_key", {"key_id": key_id})
    assert plain_retry.body["error"]["error_code"] == "KMS.1301"


def test_records_spread_over_partitions(kms, aws_services: Services) -> None:
    # Given sequenced creates of several keys
    for n in range(8):
        assert kms.call("create_key", {"key_alias": f"k{n}", "sequence": f"{SEQ[:-2]}{n:02d}"}).status == 200
    # Then their records do not all share one partition
    table = aws_services.settings.table_name
    assert table is not None
    partitions = {
        item["PK"]["S"]
        for item in boto3.client("dynamodb").scan(TableName=table)["Items"]
        if item["PK"]["S"].startswith(PARTITION_PREFIX)
    }
    assert len(partitions) > 1


def test_a_record_in_the_old_static_partition_is_ignored(kms, aws_services: Services) -> None:
    # Given a record left by an earlier version in the single IDEMPOTENCY partition
    table = aws_services.settings.table_name
    assert table is not None
    first = kms.call("create_key", {"key_alias": "old", "sequence": SEQ})
    client = boto3.client("dynamodb")
    item = next(i for i in client.scan(TableName=table)["Items"] if i["PK"]["S"].startswith(PARTITION_PREFIX))
    client.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})
    client.put_item(TableName=table, Item={**item, "PK": {"S": "IDEMPOTENCY"}})
    # When the same sequence comes with another alias / Then it is a new request, not KMS.0206
    again = kms.call("create_key", {"key_alias": "new", "sequence": SEQ})
    assert again.status == 200
    assert again.body["key_info"]["key_id"] != first.body["key_info"]["key_id"]
