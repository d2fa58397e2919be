"""The local backend: every store in one SQLite file (``skms serve``, ``skms check``).

:class:`SqliteDatabase` (in :mod:`.database`) owns the file: connections, write transactions,
error translation, schema set-up and ``check_integrity``. Each record kind has a module with its
adapter and its :class:`Schema` (tables, indexes, migrations, invariants): :mod:`.keys`,
:mod:`.aliases`, :mod:`.tags`, :mod:`.grants`, :mod:`.principals` and :mod:`.service_state`
(which shares the ``principals`` table).
Adding a record kind is one more module and one more entry in :data:`SCHEMAS`.
"""

from __future__ import annotations

import pathlib

from skms.storage.port import Stores
from skms.storage.sqlite import aliases, grants, keys, principals, tags
from skms.storage.sqlite.aliases import SqliteAliasStore
from skms.storage.sqlite.database import Schema, SqliteDatabase
from skms.storage.sqlite.grants import SqliteGrantStore
from skms.storage.sqlite.keys import SqliteKeyStore
from skms.storage.sqlite.principals import SqlitePrincipalStore
from skms.storage.sqlite.service_state import SqliteServiceStateStore
from skms.storage.sqlite.tags import SqliteTagStore

__all__ = [
    "SCHEMAS",
    "SqliteAliasStore",
    "SqliteDatabase",
    "SqliteGrantStore",
    "SqliteKeyStore",
    "SqlitePrincipalStore",
    "SqliteServiceStateStore",
    "SqliteTagStore",
    "open_database",
    "open_stores",
    "stores_on",
]

SCHEMAS: tuple[Schema, ...] = (keys.SCHEMA, principals.SCHEMA, aliases.SCHEMA, tags.SCHEMA, grants.SCHEMA)


def open_database(path: pathlib.Path, *, setup_schema: bool = True) -> SqliteDatabase:
    """The file at ``path`` with every record kind's schema (``setup_schema=False``: as it is,
    for ``skms check``)."""
    return SqliteDatabase(path, SCHEMAS, setup_schema=setup_schema)


def stores_on(database: SqliteDatabase) -> Stores:
    """The stores of every record kind on one database (one connection per thread, shared)."""
    return Stores(
        keys=SqliteKeyStore(database),
        aliases=SqliteAliasStore(database),
        principals=SqlitePrincipalStore(database),
        service_state=SqliteServiceStateStore(database),
        tags=SqliteTagStore(database),
        grants=SqliteGrantStore(database),
        on_close=database.close,
    )


def open_stores(path: pathlib.Path) -> Stores:
    return stores_on(open_database(path))
