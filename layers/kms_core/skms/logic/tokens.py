"""POST /v3/auth/tokens: exchange a user's password for an X-Auth-Token scoped to one project."""

from __future__ import annotations

import hmac

from skms import errors
from skms.auth import tokens
from skms.auth.principals import authenticate_user, token_key
from skms.logic.common import Caller
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


def create_token(body: CreateTokenRequestBody, caller: Caller, services: Services) -> CreateTokenResponseBody:
    identity = body.auth.identity
    if identity.methods != ["password"]:
        raise errors.InvalidParameter("Only the password method is supported.")
    user_in = identity.password.user
    user = authenticate_user(
        services,
        domain_name=user_in.domain.name,
        name=user_in.name,
        password=user_in.password.get_secret_value(),
    )
    if user is None:
        raise errors.IamUnauthorized
    project_id = body.auth.scope.project.id
    if not any(hmac.compare_digest(project_id.encode(), p.encode()) for p in user.project_ids):
        raise errors.IamUnauthorized("The user has no access to the requested project.")
    token, claims = tokens.issue(
        token_key(services), domain_id=user.domain_id, project_id=project_id, user=user.name
    )
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
