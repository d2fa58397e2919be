"""Alias objects: create, delete, list and move them (spec §9 ops 39-42; access-control.md §4).

An alias is unique in its domain (one deployment is one region) and points at one key of the
project it was created in; a key may have several. The naming rules are in
:mod:`skms.models.base` (Aliases); using an alias as a key id is the gate's business
(:func:`skms.logic.gate.resolve`).

- create-alias and associate-alias open the key the alias is to point at through the gate
  (:data:`Use.ALIAS`: any live key but one pending deletion). A name taken anywhere in the domain
  is KMS.1104.
- delete-alias deletes aliases of the caller's project that point at ``key_id``; it does not need
  the key to be usable (an alias of a deleted key whose removal was interrupted can still go). Every
  name is checked before any is deleted, so a wrong list deletes nothing.
- An alias of another project of the domain is as invisible as a missing one: KMS.0207.
- The deletion sweep removes the aliases of the keys it deletes (:mod:`skms.logic.sweep`).
"""

from __future__ import annotations

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.domain import AliasRecord
from skms.logic.gate import Use, authorize_named_key, open_key
from skms.models.aliases import (
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    AliasEntity,
    AssociateAliasRequestBody,
    CreateAliasRequestBody,
    DeleteAliasRequestBody,
    ListAliasesRequestBody,
    ListAliasesResponseBody,
    PageInfo,
)
from skms.runtime import Services
from skms.storage.port import AliasExists, AliasNotFound

MAX_ATTEMPTS = 4


def _alias_of_project(services: Services, caller: Caller, alias: str) -> AliasRecord:
    record = services.stores.aliases.get_alias(caller.domain_id, alias)
    if record is None or record.project_id != caller.project_id:
        raise errors.KeyNotFound(f"The alias {alias} does not exist.")
    return record


def create_alias(body: CreateAliasRequestBody, caller: Caller, services: Services) -> AliasEntity:
    """§9 op 39: 201 with the new AliasEntity."""
    key = open_key(services, caller, body.key_id, Use.ALIAS)
    now = now_ms()
    record = AliasRecord(
        domain_id=caller.domain_id,
        alias=body.alias,
        key_id=key.key_id,
        project_id=caller.project_id,
        create_time=now,
        update_time=now,
    )
    try:
        services.stores.aliases.create_alias(record)
    except AliasExists:
        raise errors.DuplicateAlias(f"The alias {body.alias} already exists.") from None
    return AliasEntity.of(record, services.settings.region_id)


def delete_alias(body: DeleteAliasRequestBody, caller: Caller, services: Services) -> None:
    """§9 op 40: 204. Each alias must exist in the caller's project and point at ``key_id``."""
    # The caller is authorised for the key first, like every operation on a key (the key itself is
    # not read: its alias may outlive it until the sweep, and still be deleted).
    authorize_named_key(caller, services, body.key_id)
    names = list(dict.fromkeys(body.aliases))  # a name given twice is deleted once
    for name in names:
        if _alias_of_project(services, caller, name).key_id != body.key_id:
            raise errors.KeyNotFound(f"The alias {name} does not point at the key {body.key_id}.")
    for name in names:
        try:
            services.stores.aliases.delete_alias(caller.domain_id, name, key_id=body.key_id)
        except AliasNotFound:
            # Moved or deleted since it was read: the request raced another; say so for this one.
            raise errors.KeyNotFound(f"The alias {name} does not point at the key {body.key_id}.") from None


def list_aliases(body: ListAliasesRequestBody, caller: Caller, services: Services) -> ListAliasesResponseBody:
    """§9 op 41: the project's aliases (or the key's, with ``key_id``) in name order, paged."""
    limit = DEFAULT_LIST_LIMIT if body.limit is None else int(body.limit)
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise errors.InvalidLimit(f"limit must be between 1 and {MAX_LIST_LIMIT}.")
    aliases = services.stores.aliases
    try:
        if body.key_id is None:
            page = aliases.list_project_aliases(caller.project_id, limit, body.marker)
        else:
            key = open_key(services, caller, body.key_id, Use.DESCRIBE)
            page = aliases.list_key_aliases(caller.project_id, key.key_id, limit, body.marker)
    except ValueError:
        raise errors.InvalidMarker("marker must be a next_marker returned by list-aliases.") from None
    region = services.settings.region_id
    return ListAliasesResponseBody(
        aliases=[AliasEntity.of(record, region) for record in page.records],
        page_info=PageInfo(next_marker=page.next_cursor or "", current_count=len(page.records)),
    )


def associate_alias(body: AssociateAliasRequestBody, caller: Caller, services: Services) -> AliasEntity:
    """§9 op 42: point an existing alias of the project at ``target_key_id``; 200 with the entity.

    New requests naming the alias use the target key from then on; ciphertexts made under the old
    key still name (and need) the old key. Moving an alias to the key it points at changes nothing.
    """
    target = open_key(services, caller, body.target_key_id, Use.ALIAS)
    for _ in range(MAX_ATTEMPTS):
        current = _alias_of_project(services, caller, body.alias)
        if current.key_id == target.key_id:
            return AliasEntity.of(current, services.settings.region_id)
        try:
            moved = services.stores.aliases.move_alias(current, to_key_id=target.key_id, update_time=now_ms())
        except AliasNotFound:
            raise errors.KeyNotFound(f"The alias {body.alias} does not exist.") from None
        except errors.ConcurrentUpdate:
            continue
        return AliasEntity.of(moved, services.settings.region_id)
    raise errors.ServiceUnavailable("The alias is being changed concurrently; retry the request.")
