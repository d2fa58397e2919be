"""Where authorization reads the policies in effect for an IAM user.

The decision (skms.iam.policy.evaluate) is pure; this port is the one thing it needs from storage.
The store-backed implementation caches what it reads for at most ``KMS_ACCESS_KEY_CACHE_SECONDS``,
so an attach, detach or disable takes effect within that time.
"""

from __future__ import annotations

from typing import Protocol

from skms.iam.policy import Policy


class PolicySource(Protocol):
    def policies_of(self, domain_id: str, user_id: str) -> tuple[Policy, ...]:
        """The parsed policies attached to this user of this domain (custom and system ones).

        Empty for a user that is unknown, disabled or deleted: such a principal is allowed nothing.
        """
        ...
