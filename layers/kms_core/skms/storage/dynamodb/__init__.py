"""The AWS backend: every store on one DynamoDB table (``KeysTable`` in template.yaml).

:class:`DynamoTable` (in :mod:`.table`) owns the lazily created client shared by the stores and
the one translation of driver errors. Each record kind has a module with its adapter and the
layout of its items: :mod:`.keys` (``PK = P#{project_id}``), :mod:`.aliases` (``PK =
ALIAS#{domain_id}``), :mod:`.principals` (``PK = AK#...`` and ``USER#...``) and
:mod:`.tags` (``PK = TAG#...``), :mod:`.grants` (``PK = GRANT#...``), :mod:`.service_state`
(``PK = SYS#...``, and ``LOGIN-FAILURES#`` items in a user's partition).
Every item kind has a ``PK`` prefix of its own, so IAM ``dynamodb:LeadingKeys`` conditions can
give each function just the kinds it uses; queries only, never scans. Adding a record kind is one
more module, with a prefix of its own, and one more field in :func:`stores_on`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skms.storage.dynamodb.aliases import DynamoAliasStore
from skms.storage.dynamodb.grants import DynamoGrantStore
from skms.storage.dynamodb.keys import DynamoKeyStore
from skms.storage.dynamodb.principals import DynamoPrincipalStore
from skms.storage.dynamodb.service_state import DynamoServiceStateStore
from skms.storage.dynamodb.table import DynamoTable
from skms.storage.dynamodb.tags import DynamoTagStore
from skms.storage.port import Stores

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = [
    "DynamoAliasStore",
    "DynamoGrantStore",
    "DynamoKeyStore",
    "DynamoPrincipalStore",
    "DynamoServiceStateStore",
    "DynamoTable",
    "DynamoTagStore",
    "open_stores",
    "stores_on",
]


def stores_on(table: DynamoTable) -> Stores:
    """The stores of every record kind on one table (one client, shared)."""
    return Stores(
        keys=DynamoKeyStore(table),
        aliases=DynamoAliasStore(table),
        principals=DynamoPrincipalStore(table),
        service_state=DynamoServiceStateStore(table),
        tags=DynamoTagStore(table),
        grants=DynamoGrantStore(table),
    )


def open_stores(
    table_name: str, client: DynamoDBClient | None = None, *, endpoint_url: str | None = None
) -> Stores:
    """``endpoint_url`` (e.g. DynamoDB Local) is used only when the client is created here."""
    return stores_on(DynamoTable(table_name, client, endpoint_url=endpoint_url))
