"""Idempotent retries on DynamoDB (Powertools' DynamoDB persistence layer on the keys table)."""

from __future__ import annotations

import boto3

from skms.runtime import Services

SEQ = "919c82d4-8046-4722-9094-35c3c6524cff"


def test_a_retried_create_is_answered_from_the_idempotency_record(kms, aws_services: Services) -> None:
    # Given a create-key with a sequence
    first = kms.call("create_key", {"key_alias": "orders", "sequence": SEQ})
    assert first.status == 200
    # When it is retried with the same body / Then the first answer comes back and one key exists
    again = kms.call("create_key", {"key_alias": "orders", "sequence": SEQ})
    assert (again.status, again.body) == (200, first.body)
    assert aws_services.stores.keys.count_keys("0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e") == 1
    # And the record lives in the keys table's IDEMPOTENCY partition, with a TTL and no secret
    table = aws_services.settings.table_name
    assert table is not None
    items = boto3.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "IDEMPOTENCY"}},
    )["Items"]
    assert len(items) == 1
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
