"""The management CLI on a deployed stack's table (``--table-name`` / ``--root-key-id``), under moto:
the credentials it creates there are the ones the stack's authorizer and functions accept."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from skms import cli
from tests.integration.conftest import EXAMPLE_DOMAIN_ID, PROJECT_ID, AwsResources, Principals

KMS_ENV = (
    "KMS_STORAGE",
    "KMS_TABLE_NAME",
    "KMS_ROOT_KEY",
    "KMS_ROOT_KEY_ID",
    "KMS_DATA_DIR",
    "KMS_DOMAIN_ID",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The CLI writes its options into os.environ: start from none, and restore afterwards."""
    for name in KMS_ENV:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a local store, if the CLI wrongly fell back to it, lands here


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert cli.main(list(argv)) == 0
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result, dict)
    return result


def _stack_options(resources: AwsResources) -> tuple[str, ...]:
    return ("--table-name", resources.table_name, "--root-key-id", resources.root_key_arn)


def _items(table_name: str) -> list[dict[str, Any]]:
    # A test-only look at the whole (tiny) table, to show where things were written.
    return list(boto3.client("dynamodb").scan(TableName=table_name)["Items"])


def test_access_key_create_on_the_stack_table_is_accepted_by_the_stack(
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
    aws_resources: AwsResources,
    aws_services: Any,
    kms: Any,
) -> None:
    # Given an access key created with the CLI on the stack's table and root key
    created = _run(
        capsys,
        "access-key",
        "create",
        *_stack_options(aws_resources),
        "--project-id",
        PROJECT_ID,
        "--domain-id",
        EXAMPLE_DOMAIN_ID,
    )
    assert created["project_ids"] == [PROJECT_ID]
    principals = Principals(
        access_key=created["access"],
        secret_key=created["secret"],
        domain_id=EXAMPLE_DOMAIN_ID,
        project_ids=(PROJECT_ID,),
        user_name="",
        password="",
        domain_name="",
    )
    # When a request signed with it goes through the stack's authorizer to a function
    reply = kms.gateway("create_key", kms.signed_api_event("create_key", principals))
    # Then it is accepted and the key is created
    assert reply.status == 200, reply.raw_body
    assert kms.api(
        "describe_key",
        kms.signed_api_event("describe_key", principals, {"key_id": reply.body["key_info"]["key_id"]}),
    ).body["key_info"]["key_alias"]
    # And the table holds the access key with its secret only wrapped, and nothing went to a local store
    items = _items(aws_resources.table_name)
    access_items = [item for item in items if item["PK"]["S"] == f"AK#{created['access']}"]
    assert len(access_items) == 1
    assert created["secret"].encode() not in json.dumps(access_items, default=repr).encode()
    assert created["secret"].encode() not in bytes(access_items[0]["secret_wrapped"]["B"])


def test_user_create_on_the_stack_table_gets_a_token_from_the_stack(
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    aws_resources: AwsResources,
    aws_services: Any,
    kms: Any,
) -> None:
    # Given a user created with the CLI on the stack's table, the password on standard input
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-cli-password\n"))
    created = _run(
        capsys,
        "user",
        "create",
        *_stack_options(aws_resources),
        "--name",
        "carol",
        "--project-id",
        PROJECT_ID,
        "--domain-name",
        "cli-domain",
        "--domain-id",
        EXAMPLE_DOMAIN_ID,  # the project's owner (the sample principals claimed it)
        "--policy",
        "KMS Administrator",
    )
    assert (created["name"], created["domain_name"]) == ("carol", "cli-domain")
    assert created["policies"] == ["KMS Administrator"]
    user = Principals(
        access_key="",
        secret_key="",
        domain_id=created["domain_id"],
        project_ids=(PROJECT_ID,),
        user_name="carol",
        password="a-long-cli-password",
        domain_name="cli-domain",
    )
    # When the stack's token function is asked for a token with that password
    reply = kms.api("create_token", kms.token_event(user))
    # Then it issues one, and a wrong password is refused
    assert reply.status == 201, reply.raw_body
    assert reply.headers["X-Subject-Token"]
    assert kms.api("create_token", kms.token_event(user, password="not-it")).status == 401
    # And the password is nowhere in the table
    assert b"a-long-cli-password" not in json.dumps(_items(aws_resources.table_name), default=repr).encode()


def test_index_principals_lists_the_principals_of_an_older_table(
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
    aws_resources: AwsResources,
    aws_services: Any,
) -> None:
    # Given principals whose listing items are missing (a table written before listings existed)
    created = _run(capsys, "access-key", "create", *_stack_options(aws_resources), "--project-id", PROJECT_ID)
    dynamodb = boto3.client("dynamodb")
    listings = [
        item for item in _items(aws_resources.table_name) if item["PK"]["S"].startswith("PRINCIPALS#D#")
    ]
    assert listings
    for item in listings:
        dynamodb.delete_item(TableName=aws_resources.table_name, Key={"PK": item["PK"], "SK": item["SK"]})
    # When the CLI indexes them
    result = _run(capsys, "index-principals", "--table-name", aws_resources.table_name)
    # Then it reports them, and the listing finds the access key again
    assert result["indexed"] >= len(listings)
    listed = _run(capsys, "access-key", "list", *_stack_options(aws_resources))
    assert created["access"] in json.dumps(listed)
    assert created["secret"] not in json.dumps(listed)


def test_rebuild_counts_restores_the_quota_counter_of_an_older_table(
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
    aws_resources: AwsResources,
    aws_services: Any,
    kms: Any,
) -> None:
    from skms.storage.port import QuotaExceeded

    # Given a project with 3 keys whose TOTAL and DEFAULTS counters are missing (a table written
    # before those counters existed)
    for _ in range(3):
        kms.create_key()
    dynamodb = boto3.client("dynamodb")
    partition = f"P#{PROJECT_ID}"
    for sk in ("TOTAL", "DEFAULTS"):
        dynamodb.delete_item(
            TableName=aws_resources.table_name, Key={"PK": {"S": partition}, "SK": {"S": sk}}
        )
    store = aws_services.stores.keys
    store.create_key(_record_like(store, PROJECT_ID), quota=3)  # the missing counter let a 4th in
    # When the CLI rebuilds the project's counters
    result = _run(
        capsys, "rebuild-counts", "--table-name", aws_resources.table_name, "--project-id", PROJECT_ID
    )
    # Then it reports the live keys, and the quota holds again
    assert result["live_keys"] == {PROJECT_ID: 4}
    with pytest.raises(QuotaExceeded):
        store.create_key(_record_like(store, PROJECT_ID), quota=4)
    store.create_key(_record_like(store, PROJECT_ID), quota=5)
    assert store.count_keys(PROJECT_ID) == 5
    assert store.count_default_keys(PROJECT_ID) == 0


def _record_like(store: Any, project_id: str) -> Any:
    """A new key record in ``project_id``, copied from one of its keys with a fresh id and alias."""
    import dataclasses
    import uuid

    template = store.list_keys(project_id, 1).records[0]
    key_id = str(uuid.uuid4())
    return dataclasses.replace(template, key_id=key_id, key_alias=f"copy-{key_id[:8]}", revision=1)


# -- skms create-table and a missing table ----------------------------------------------------------


def test_create_table_builds_the_templates_table_and_is_idempotent(
    clean_env: None, capsys: pytest.CaptureFixture[str], aws_account: Any
) -> None:
    # Given no table yet
    table_name = "skms-cli-created"
    # When skms create-table runs twice
    first = _run(capsys, "create-table", "--table-name", table_name)
    second = _run(capsys, "create-table", "--table-name", table_name)
    # Then the first created it and the second found it, as template.yaml's KeysTable describes it
    assert (first, second) == (
        {"table": table_name, "created": True},
        {"table": table_name, "created": False},
    )
    client = boto3.client("dynamodb")
    table = client.describe_table(TableName=table_name)["Table"]
    properties = aws_account.template["Resources"]["KeysTable"]["Properties"]
    assert table["KeySchema"] == properties["KeySchema"]
    assert sorted(index["IndexName"] for index in table["GlobalSecondaryIndexes"]) == ["GSI1", "GSI2"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")


def test_create_table_refuses_a_table_of_another_shape(
    clean_env: None, capsys: pytest.CaptureFixture[str], aws_account: Any
) -> None:
    # Given a table of that name with another key schema
    boto3.client("dynamodb").create_table(
        TableName="someone-elses",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # When / Then skms create-table says so and exits 1
    assert cli.main(["create-table", "--table-name", "someone-elses"]) == 1
    assert "other keys or indexes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "with_root_key"),
    [
        pytest.param(("access-key", "create", "--project-id", PROJECT_ID), True, id="access-key-create"),
        pytest.param(("rebuild-counts", "--project-id", PROJECT_ID), False, id="rebuild-counts"),
        pytest.param(("index-principals",), False, id="index-principals"),
        pytest.param(("serve", "--port", "0"), True, id="serve"),
    ],
)
def test_a_missing_table_is_a_clear_error_not_a_traceback(
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
    aws_account: Any,
    argv: tuple[str, ...],
    with_root_key: bool,
) -> None:
    # Given no table named "missing"
    root_key = ("--root-key-id", aws_account.root_key_arn) if with_root_key else ()
    # When a command is pointed at it
    code = cli.main([*argv, "--table-name", "missing", *root_key])
    # Then it exits 1 with one line that names the table and the command that creates it
    err = capsys.readouterr().err
    assert code == 1
    assert "the DynamoDB table missing" in err
    assert "skms create-table" in err
    assert "Traceback" not in err


def test_a_users_access_key_made_on_the_stack_table_is_the_users_until_disabled(
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    aws_resources: AwsResources,
    aws_services: Any,
    kms: Any,
) -> None:
    stack = _stack_options(aws_resources)
    # Given a user with a policy, and an access key of hers, made with the CLI on the stack's table
    monkeypatch.setattr("sys.stdin", io.StringIO("dana-password\n"))
    user = _run(
        capsys,
        "user",
        "create",
        *stack,
        "--name",
        "dana",
        "--project-id",
        PROJECT_ID,
        "--domain-id",
        EXAMPLE_DOMAIN_ID,
        "--policy",
        "KMS CMKReadOnlyAccess",
    )
    key = _run(capsys, "access-key", "create", *stack, "--user", "dana", "--domain-id", EXAMPLE_DOMAIN_ID)
    assert (key["user_id"], key["project_ids"]) == (user["user_id"], [PROJECT_ID])
    principals = Principals(key["access"], key["secret"], EXAMPLE_DOMAIN_ID, (PROJECT_ID,), "", "", "")
    # When the stack's authorizer sees a request signed with it
    context = kms.authorize(kms.signed_authorizer_event(principals))["context"]
    # Then it names her as the user behind the key
    assert (context["user_id"], context["user"]) == (user["user_id"], "dana")
    # And the listings on the table show the user and the key, no secret
    listed = _run(capsys, "access-key", "list", *stack, "--domain-id", EXAMPLE_DOMAIN_ID)
    assert [k["access"] for k in listed["access_keys"] if k["user_id"]] == [key["access"]]
    assert key["secret"] not in json.dumps(listed)
    users = _run(capsys, "user", "list", *stack, "--domain-id", EXAMPLE_DOMAIN_ID)["users"]
    assert "dana" in [u["name"] for u in users]
    # When the key is disabled on the table, Then once the cache time is over the stack refuses it
    assert _run(capsys, "access-key", "disable", *stack, "--access", key["access"])["enabled"] is False
    if aws_services.access_keys is not None:
        aws_services.access_keys.clear()  # the cache time is over
    with pytest.raises(Exception, match="Unauthorized"):
        kms.authorize(kms.signed_authorizer_event(principals))
    # And a project of this domain cannot be handed to another one
    assert cli.main(["project", "claim", *stack, "--project-id", PROJECT_ID, "--domain-id", "f" * 32]) == 1
    assert "belongs to another domain" in capsys.readouterr().err
