"""POST /v3/auth/tokens: exchange a user's password for an X-Auth-Token scoped to one project.

Password guessing is bounded per user name: after ``KMS_LOGIN_MAX_FAILURES`` wrong passwords within
a fixed window of ``KMS_LOGIN_LOCKOUT_SECONDS``, the name is locked until the window ends and the
password is not even checked (no scrypt work is spent on a locked name). Names that do not exist
are counted and locked the same way, so a lockout tells nothing about which users exist.

Each attempt is counted (an atomic increment) *before* its password is checked, and taken back
when the password was right: so however many guesses arrive at once, at most the limit of them
get a password check in a window. (Counting only after a failed check would let every guess that
starts before the limit's failure is written through.)
"""

from __future__ import annotations

import hmac
import time

from skms import errors
from skms.auth.principals import authenticate_user, issue_token
from skms.caller import Caller
from skms.models.tokens import (
    CreateTokenRequestBody,
    CreateTokenResponseBody,
    TokenBody,
    TokenDomainRef,
    TokenProjectRef,
    TokenUserRef,
    iso_utc,
)
from skms.runtime import Services

LOCKED_MESSAGE = "Too many failed attempts for this user; try again later."


def _now() -> float:
    """The clock of the lockout windows (a seam for tests)."""
    return time.time()


def create_token(body: CreateTokenRequestBody, caller: Caller, services: Services) -> CreateTokenResponseBody:
    identity = body.auth.identity
    if identity.methods != ["password"]:
        raise errors.InvalidParameter("Only the password method is supported.")
    user_in = identity.password.user
    domain_name, name = user_in.domain.name, user_in.name
    period = services.settings.login_lockout_seconds
    window = int(_now()) // period
    expires_at = (window + 2) * period
    attempts = services.stores.service_state.add_login_failure(
        domain_name, name, window, expires_at=expires_at
    )
    if attempts > services.settings.login_max_failures:
        raise errors.IamUnauthorized(LOCKED_MESSAGE)
    user = authenticate_user(
        services, domain_name=domain_name, name=name, password=user_in.password.get_secret_value()
    )
    if user is None:
        raise errors.IamUnauthorized  # the attempt stays counted
    services.stores.service_state.add_login_failure(
        domain_name, name, window, expires_at=expires_at, delta=-1
    )
    project_id = body.auth.scope.project.id
    if not any(hmac.compare_digest(project_id.encode(), p.encode()) for p in user.project_ids):
        raise errors.IamUnauthorized("The user has no access to the requested project.")
    token, claims = issue_token(services, user, project_id)
    domain = TokenDomainRef(id=user.domain_id, name=user.domain_name)
    reply = CreateTokenResponseBody(
        token=TokenBody(
            methods=["password"],
            expires_at=iso_utc(claims.expires_at),
            issued_at=iso_utc(claims.issued_at),
            project=TokenProjectRef(id=project_id, name=project_id, domain=domain),
            user=TokenUserRef(id=user.user_id, name=user.name, domain=domain),
        )
    )
    return reply.with_subject_token(token)
