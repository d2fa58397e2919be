"""The tag port: the tags of keys (spec §8, access-control.md §5), records of their own.

A key carries at most one value per tag key. Everything is per project: a key's tags live in its
project, and lookups never cross projects.

- ``change_tags`` applies puts and removals to one key's tags atomically, with the limit on the
  number of tag keys checked in the same write (:class:`TagLimitExceeded`, nothing changed), so two
  concurrent changes can never together exceed it.
- ``find_keys`` answers a tag filter by query, never by reading every key of the project: the
  conditions are ANDed across tag keys; the values of one condition are ORed, and no values
  means any value of that tag key (access-control.md §5, the choices in the README). The ids come
  back in ascending order, paged by ``offset``/``limit``, with the total count of matches.
- ``project_tags`` lists every tag key of the project with its values (both in ascending order).
- The store does not check that the key exists or may be tagged: the tag operations do that first
  (through the gate); the deletion sweep removes a deleted key's tags (``delete_tags``).
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TagCondition:
    """Keys carrying ``key`` with one of ``values`` (any value when ``values`` is empty)."""

    key: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TagMatches:
    key_ids: list[str]  # the page, ascending
    total: int  # every match, whatever the page


class TagStore(abc.ABC):
    @abc.abstractmethod
    def get_tags(self, project_id: str, key_id: str) -> dict[str, str]:
        """The key's tags, ``{tag key: value}`` in tag-key order ({} when none)."""

    @abc.abstractmethod
    def change_tags(
        self,
        project_id: str,
        key_id: str,
        *,
        put: Mapping[str, str],
        remove: Collection[str] = (),
        max_tags: int,
    ) -> dict[str, str]:
        """Set the tags of ``put`` (a new value replaces the old) and remove the tag keys of
        ``remove`` (absent ones are ignored; a key in both is put), atomically; return the key's
        tags after the change. :class:`TagLimitExceeded` if it would carry more than ``max_tags``
        tag keys, and nothing changes."""

    @abc.abstractmethod
    def delete_tags(self, project_id: str, key_id: str) -> None:
        """Remove every tag of the key (nothing to do when it has none)."""

    @abc.abstractmethod
    def find_keys(
        self,
        project_id: str,
        conditions: Sequence[TagCondition],
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> TagMatches:
        """The ids of the project's keys that meet every condition (with no condition: every key
        that carries a tag), ascending, from ``offset``, at most ``limit`` (None: all; 0: only the
        total)."""

    @abc.abstractmethod
    def project_tags(self, project_id: str) -> dict[str, list[str]]:
        """Every tag key carried by a key of the project, with its distinct values, all sorted."""
