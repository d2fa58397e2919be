"""Tags of keys (spec §8 ops 33-38; rules in access-control.md §5 and skms.models.tags).

Changes open the key for :data:`Use.TAG` (KMS.0210 pending deletion, KMS.0211 a default key) and
go through the tag store in one atomic write that also checks ``KMS_TAGS_PER_KEY`` (KMS.0409).
Reads open it for :data:`Use.DESCRIBE`. list-kms-by-tags asks the tag store which keys match (by
query of the tags asked for, never by reading every key), then reads only the keys of the page;
with ``matches`` it reads the keys that match the tags, to compare their names.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from skms import errors
from skms.caller import Caller
from skms.domain import KeyRecord
from skms.logic.gate import Use, describe_keys, open_key
from skms.models.lifecycle import KeyDetails
from skms.models.tags import (
    FILTER_TAGS_MAX,
    LIST_LIMIT_MAX,
    ActionResources,
    BatchCreateKmsTagsRequestBody,
    CreateKmsTagRequestBody,
    DeleteTagRequestBody,
    ListKmsByTagsRequestBody,
    ListKmsByTagsResponseBody,
    ListKmsTagsRequestBody,
    ListKmsTagsResponseBody,
    ProjectTag,
    ResourceTag,
    ShowKmsTagsRequestBody,
    ShowKmsTagsResponseBody,
)
from skms.runtime import Services
from skms.storage.port import TagCondition, TagLimitExceeded

DEFAULT_LIMIT = 10  # §8 op 38
ACTIONS_OF_BATCH = ("create", "delete")


def _change(
    services: Services, record: KeyRecord, *, put: Mapping[str, str], remove: Collection[str] = ()
) -> None:
    limit = services.settings.tags_per_key
    try:
        services.stores.tags.change_tags(
            record.project_id, record.key_id, put=put, remove=remove, max_tags=limit
        )
    except TagLimitExceeded:
        raise errors.TooManyTags(f"A key carries at most {limit} tags.") from None


def create_kms_tag(body: CreateKmsTagRequestBody, caller: Caller, services: Services) -> None:
    """op 33: add a tag, or give an existing tag key its new value. 204."""
    if body.tag is None:
        raise errors.MissingParameter("Missing required parameter: tag.")
    record = open_key(services, caller, body.key_id, Use.TAG).record
    _change(services, record, put={body.tag.key: body.tag.value or ""})


def batch_create_kms_tags(body: BatchCreateKmsTagsRequestBody, caller: Caller, services: Services) -> None:
    """op 34: add (``create``) or remove (``delete``, by tag key; tag keys the key does not carry
    are ignored) several tags at once, all or nothing. 204."""
    if body.action not in ACTIONS_OF_BATCH:
        raise errors.InvalidTagAction("action must be create or delete.")
    if not body.tags:
        raise errors.EmptyTagList
    limit = services.settings.tags_per_key
    if len(body.tags) > limit:
        raise errors.InvalidTagListSize(f"At most {limit} tags per request.")
    names = [tag.key for tag in body.tags]
    if len(set(names)) != len(names):
        raise errors.InvalidTagList("A tag key may appear only once.")
    record = open_key(services, caller, body.key_id, Use.TAG).record
    if body.action == "create":
        _change(services, record, put={tag.key: tag.value or "" for tag in body.tags})
    else:
        _change(services, record, put={}, remove=set(names))


def delete_tag(body: DeleteTagRequestBody, caller: Caller, services: Services) -> None:
    """op 35: remove one tag; a tag key the key does not carry is 404 KMS.0416. 204."""
    record = open_key(services, caller, body.key_id, Use.TAG).record
    if body.key not in services.stores.tags.get_tags(record.project_id, record.key_id):
        raise errors.TagNotFound
    _change(services, record, put={}, remove={body.key})


def _tags(tags: Mapping[str, str]) -> list[ResourceTag]:
    return [ResourceTag(key=key, value=value) for key, value in tags.items()]


def show_kms_tags(
    body: ShowKmsTagsRequestBody, caller: Caller, services: Services
) -> ShowKmsTagsResponseBody:
    """op 36: the key's tags, in tag-key order."""
    record = open_key(services, caller, body.key_id, Use.DESCRIBE).record
    tags = services.stores.tags.get_tags(record.project_id, record.key_id)
    return ShowKmsTagsResponseBody(tags=_tags(tags), existTagsNum=len(tags))


def list_kms_tags(
    body: ListKmsTagsRequestBody, caller: Caller, services: Services
) -> ListKmsTagsResponseBody:
    """op 37: every tag key of the project with its values."""
    tags = services.stores.tags.project_tags(caller.project_id)
    return ListKmsTagsResponseBody(tags=[ProjectTag(key=key, values=values) for key, values in tags.items()])


def _number(text: str | None, default: int, low: int, high: int, error: type[errors.KmsError]) -> int:
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise error(f"Must be a number from {low} to {high}.")
    return int(text)


def _conditions(body: ListKmsByTagsRequestBody) -> list[TagCondition]:
    tags = body.tags or []
    if len(tags) > FILTER_TAGS_MAX:
        raise errors.InvalidTagListSize(f"At most {FILTER_TAGS_MAX} tag keys per filter.")
    if len({tag.key for tag in tags}) != len(tags):
        raise errors.InvalidTags("The tag keys of a filter must be unique.")
    return [TagCondition(tag.key, tuple(tag.values)) for tag in tags]


def _resource(services: Services, record: KeyRecord) -> ActionResources:
    tags = services.stores.tags.get_tags(record.project_id, record.key_id)
    return ActionResources(
        resource_id=record.key_id,
        resource_detail=KeyDetails.of(record),
        resource_name=record.key_alias,
        tags=_tags(tags),
    )


def list_kms_by_tags(
    body: ListKmsByTagsRequestBody, caller: Caller, services: Services
) -> ListKmsByTagsResponseBody:
    """op 38: ``filter`` pages the keys that match by ``offset``/``limit`` (key id order), with
    their details and tags; ``count`` only counts them. Tag conditions AND across tag keys, OR
    across the values of one (none: any value); ``matches`` keeps keys whose alias contains the
    value (case-sensitive). Without ``tags``, every tagged key of the project is a candidate."""
    if body.action not in ("filter", "count"):
        raise errors.InvalidTagAction("action must be filter or count.")
    counting = body.action == "count"
    if counting and (body.limit is not None or body.offset is not None):
        raise errors.OffsetNotRequired
    limit = _number(body.limit, DEFAULT_LIMIT, 1, LIST_LIMIT_MAX, errors.InvalidLimit)
    offset = _number(body.offset, 0, 0, 2**31 - 1, errors.InvalidTagOffset)
    conditions = _conditions(body)
    names = [match.value for match in body.matches or []]
    tags = services.stores.tags
    if not names:
        if counting:
            total = tags.find_keys(caller.project_id, conditions, limit=0).total
            return ListKmsByTagsResponseBody(total_count=total)
        page = tags.find_keys(caller.project_id, conditions, offset=offset, limit=limit)
        records = describe_keys(services, caller, page.key_ids)
        total = page.total
    else:
        candidates = describe_keys(services, caller, tags.find_keys(caller.project_id, conditions).key_ids)
        named = [record for record in candidates if all(name in record.key_alias for name in names)]
        if counting:
            return ListKmsByTagsResponseBody(total_count=len(named))
        records, total = named[offset : offset + limit], len(named)
    return ListKmsByTagsResponseBody(
        resources=[_resource(services, record) for record in records], total_count=total
    )
