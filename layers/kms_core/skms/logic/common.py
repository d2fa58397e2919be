"""What every operation shares: who is calling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal of a request, as established by the authorizer (or the direct invoker)."""

    project_id: str
    domain_id: str
    request_id: str
