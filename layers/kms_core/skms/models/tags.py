"""Tags (spec §8 ops 33-38; access-control.md §5 for the rules).

Tag rules are the API docs' (what the SDK docstrings carry), not the console's: a tag key is 1-36
characters, a value 0-43, neither with ASCII 0-31, ``*``, ``<``, ``>``, ``\\`` or ``=``; keys starting
with ``_sys_`` are reserved for the system. How many tag keys one key may carry is a setting
(``KMS_TAGS_PER_KEY``, default 10, the API figure), checked by the logic.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from skms import errors
from skms.models.base import KEY_ID_PATTERN, SequenceMixin, WireModel
from skms.models.lifecycle import KeyDetails

TAG_KEY_MAX = 36
TAG_VALUE_MAX = 43
MATCH_VALUE_MAX = 255
FILTER_TAGS_MAX = 10  # tag keys in one list-kms-by-tags filter (access-control.md §5)
FILTER_VALUES_MAX = 10  # values of one tag key in a filter (inferred: the tag-list bound)
LIST_LIMIT_MAX = 1000
SYSTEM_TAG_PREFIX = "_sys_"  # reserved (access-control.md §5, inferred)
RESOURCE_NAME = "resource_name"  # the one match key (§8 op 38)
_FORBIDDEN = re.compile(r"[\x00-\x1f*<>\\=]")


def check_tag_key(key: str) -> str:
    if not key.strip():
        raise errors.InvalidTagKey("A tag key must not be empty.")
    if len(key) > TAG_KEY_MAX:
        raise errors.TagKeyTooLong(f"A tag key is at most {TAG_KEY_MAX} characters.")
    if _FORBIDDEN.search(key):
        raise errors.InvalidTagKey("A tag key must not contain ASCII 0-31, *, <, >, \\ or =.")
    if key.startswith(SYSTEM_TAG_PREFIX):
        raise errors.InvalidTagKey(f"Tag keys starting with {SYSTEM_TAG_PREFIX} are reserved.")
    return key


def check_tag_value(value: str) -> str:
    if len(value) > TAG_VALUE_MAX:
        raise errors.TagValueTooLong(f"A tag value is at most {TAG_VALUE_MAX} characters.")
    if _FORBIDDEN.search(value):
        raise errors.InvalidTagValue("A tag value must not contain ASCII 0-31, *, <, >, \\ or =.")
    return value


class TagItem(WireModel):
    """§2 TagItem: ``key`` required, ``value`` optional (absent is "")."""

    key: str
    value: str | None = None

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        return check_tag_key(key)

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str | None) -> str | None:
        return None if value is None else check_tag_value(value)


class Tag(WireModel):
    """§2 Tag, as a filter of list-kms-by-tags: a tag key and the values wanted (none: any)."""

    key: str
    values: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        return check_tag_key(key)

    @field_validator("values")
    @classmethod
    def _check_values(cls, values: list[str]) -> list[str]:
        if len(values) > FILTER_VALUES_MAX:
            raise errors.TooManyTagValues(f"At most {FILTER_VALUES_MAX} values per tag key.")
        if len(set(values)) != len(values):
            raise errors.InvalidTags("The values of one tag key must be unique.")
        return [check_tag_value(value) for value in values]


class Match(WireModel):
    """A ``matches`` entry: ``{key: "resource_name", value}`` (§8 op 38)."""

    key: str
    value: str

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        if key != RESOURCE_NAME:
            raise errors.InvalidMatchKey(f"The only match key is {RESOURCE_NAME}.")
        return key

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str) -> str:
        if not 1 <= len(value) <= MATCH_VALUE_MAX:
            raise errors.InvalidMatchValue(f"A match value is 1-{MATCH_VALUE_MAX} characters.")
        return value


class KeyPathMixin(SequenceMixin):
    """The key named in the path (``/kms/{key_id}/tags...``)."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"key_id": errors.InvalidKeyId}


class CreateKmsTagRequestBody(KeyPathMixin):
    """op 33: POST /kms/{key_id}/tags. ``tag`` is optional in the SDK, required by the docs."""

    tag: TagItem | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "tag": errors.InvalidTags,
    }


class BatchCreateKmsTagsRequestBody(KeyPathMixin):
    """op 34: POST /kms/{key_id}/tags/action, ``action`` create | delete."""

    tags: list[TagItem]
    action: str

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "tags": errors.InvalidTagList,
        "action": errors.InvalidTagAction,
    }


class DeleteTagRequestBody(KeyPathMixin):
    """op 35: DELETE /kms/{key_id}/tags/{key}, no body; ``key`` arrives percent-decoded."""

    key: str

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "key": errors.InvalidTagKey,
    }

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        return check_tag_key(key)


class ShowKmsTagsRequestBody(KeyPathMixin):
    """op 36: GET /kms/{key_id}/tags."""


class ListKmsTagsRequestBody(WireModel):
    """op 37: GET /kms/tags, no parameters."""


class ListKmsByTagsRequestBody(SequenceMixin):
    """op 38: POST /kms/resource_instances/action."""

    action: str
    limit: str | None = None
    offset: str | None = None
    tags: list[Tag] | None = None
    matches: list[Match] | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "action": errors.InvalidTagAction,
        "limit": errors.InvalidLimit,
        "offset": errors.InvalidTagOffset,
        "tags": errors.InvalidTags,
        "matches": errors.InvalidMatches,
    }


# -- responses -----------------------------------------------------------------------------------


class ResourceTag(BaseModel):
    """§2 TagItem in answers: ``value`` is always there ("" when none was given)."""

    key: str
    value: str


class ShowKmsTagsResponseBody(BaseModel):
    tags: list[ResourceTag]
    existTagsNum: int  # the wire's camelCase key (§8 op 36)


class ProjectTag(BaseModel):
    key: str
    values: list[str]


class ListKmsTagsResponseBody(BaseModel):
    tags: list[ProjectTag]


class ActionResources(BaseModel):
    resource_id: str
    resource_detail: KeyDetails
    resource_name: str
    tags: list[ResourceTag]


class ListKmsByTagsResponseBody(BaseModel):
    """``filter``: the page of ``resources`` and ``total_count``; ``count``: ``total_count`` only."""

    resources: list[ActionResources] | None = None
    total_count: int
