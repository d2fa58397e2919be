"""The principal port: access keys and users (authentication), create-if-absent and get."""

from __future__ import annotations

import abc

from skms.domain import AccessKeyRecord, UserRecord


class PrincipalStore(abc.ABC):
    @abc.abstractmethod
    def create_access_key(self, record: AccessKeyRecord) -> None:
        """Create-if-absent on the access key id, else :class:`PrincipalExists`."""

    @abc.abstractmethod
    def get_access_key(self, access_key: str) -> AccessKeyRecord | None: ...

    @abc.abstractmethod
    def create_user(self, record: UserRecord) -> None:
        """Create-if-absent on (domain_name, name), else :class:`PrincipalExists`."""

    @abc.abstractmethod
    def get_user(self, domain_name: str, name: str) -> UserRecord | None: ...
