"""The principal port: access keys, users, project claims and custom policies.

Every write that can race is conditional: creates are create-if-absent, changes of an access key or
a user replace the record only if it still has the version the writer read (``expected_version``),
so of two concurrent changes one fails and is retried on a fresh read: no update is lost.

A user is found by (domain_name, name), where it logs in, and by (domain_id, user_id), where its
access keys, tokens and policies name it. Listings are for the operator's CLI (not on a request path).
"""

from __future__ import annotations

import abc

from skms.domain import AccessKeyRecord, PolicyRecord, ProjectClaim, UserRecord


class PrincipalStore(abc.ABC):
    # -- access keys -------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_access_key(self, record: AccessKeyRecord) -> None:
        """Create-if-absent on the access key id, else :class:`PrincipalExists`."""

    @abc.abstractmethod
    def get_access_key(self, access_key: str) -> AccessKeyRecord | None: ...

    @abc.abstractmethod
    def replace_access_key(self, record: AccessKeyRecord, *, expected_version: int) -> bool:
        """Store ``record`` in place of the access key of its id if the stored one has
        ``expected_version``; False (nothing written) if it changed meanwhile or is gone."""

    @abc.abstractmethod
    def delete_access_key(self, access_key: str) -> bool:
        """Delete the access key; False if there was none."""

    @abc.abstractmethod
    def list_access_keys(self, domain_id: str | None = None) -> list[AccessKeyRecord]:
        """Every access key (of ``domain_id`` if given), ordered by access key id."""

    # -- users -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_user(self, record: UserRecord) -> None:
        """Create-if-absent on (domain_name, name) and on (domain_id, user_id), both or neither,
        else :class:`PrincipalExists`."""

    @abc.abstractmethod
    def get_user(self, domain_name: str, name: str) -> UserRecord | None: ...

    @abc.abstractmethod
    def get_user_by_id(self, domain_id: str, user_id: str) -> UserRecord | None:
        """The user of this id in this domain (None for a user made before ids were indexed)."""

    @abc.abstractmethod
    def replace_user(self, record: UserRecord, *, expected_version: int) -> bool:
        """Store ``record`` in place of the user of its (domain_name, name) if the stored one has
        ``expected_version`` (and the same ``user_id``); False if it changed or is gone. Indexes the
        user by id if it was not yet (a user made before ids were indexed)."""

    @abc.abstractmethod
    def delete_user(self, record: UserRecord) -> bool:
        """Delete the user and its id index; False if there was none."""

    @abc.abstractmethod
    def list_users(self, domain_id: str | None = None) -> list[UserRecord]:
        """Every user (of ``domain_id`` if given), ordered by (domain_name, name)."""

    # -- projects ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def claim_project(self, claim: ProjectClaim) -> ProjectClaim:
        """Create-if-absent on the project id; the claim in force (``claim`` if it was the first,
        else the earlier one, which may name another domain)."""

    @abc.abstractmethod
    def get_project(self, project_id: str) -> ProjectClaim | None: ...

    # -- custom policies ---------------------------------------------------------------------------

    @abc.abstractmethod
    def create_policy(self, record: PolicyRecord) -> None:
        """Create-if-absent on (domain_id, name), else :class:`PrincipalExists`."""

    @abc.abstractmethod
    def get_policy(self, domain_id: str, name: str) -> PolicyRecord | None: ...

    @abc.abstractmethod
    def list_policies(self, domain_id: str | None = None) -> list[PolicyRecord]:
        """Every custom policy (of ``domain_id`` if given), ordered by (domain_id, name)."""
