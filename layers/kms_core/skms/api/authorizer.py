"""The Lambda REQUEST authorizer's edge: event in, IAM policy out (API Gateway's contract).

Raising an exception whose message is exactly ``Unauthorized`` makes API Gateway answer 401
(the UNAUTHORIZED gateway response); a Deny policy makes it answer 403 (ACCESS_DENIED), whose
body template in template.yaml renders the context's ``error_code`` / ``error_msg``.
"""

from __future__ import annotations

from typing import Any

from skms.auth.authorizer import Unauthorized, authorize
from skms.observability import logger
from skms.runtime import get_services


def authorizer_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    log = {
        "operation": "authorize",
        "request_id": request_context.get("requestId"),
        "path": event.get("path"),
    }
    try:
        decision = authorize(event, get_services())
    except Unauthorized as exc:
        logger.info("unauthorized", extra={**log, "outcome": "unauthorized", "reason": exc.reason})
        raise Exception("Unauthorized") from None
    principal = decision.principal
    # An allowed request is logged by the function it reaches (operation, principal, project,
    # outcome: the audit line), so the authorizer's own line for it is DEBUG; refusals, which no
    # function sees, are INFO. One INFO line per request instead of two: logging is on the hot path.
    (logger.info if not decision.allowed else logger.debug)(
        "authorized" if decision.allowed else "denied",
        extra={
            **log,
            "outcome": "allow" if decision.allowed else "deny",
            "auth_method": principal.method if principal else None,
            "principal_id": principal.principal_id if principal else None,
            "project_id": principal.project_id if principal else None,
            "error_code": decision.error_code or None,
        },
    )
    return decision.policy(str(event.get("methodArn", "*")))
