"""The one authorization decision of every operation (access-control.md §1.2, §2.6).

Two callers, one decision, each operation decided exactly once per key it acts on:

- :func:`skms.logic.gate.open_key` calls :func:`authorize` for every key an operation opens, right
  after the key is found and before its state is checked (a refused user learns nothing of the
  key's state); re-encrypt opens, and so authorizes, both its keys.
- ``endpoint()`` (:mod:`skms.api.handler`) calls :func:`authorize_request` once before the logic of
  every operation whose action is on no key (create-key, list-keys, gen-random, quotas, ...), with
  the condition values of its request (create-key's :data:`REQUEST_CONTEXT`). For operations on a
  key it does nothing: the gate decides.

The account itself and direct invokers hold every permission in their own domain (§1.2): one
branch. An IAM user (``PrincipalKind.USER``) is allowed what the policies attached to it allow
(:func:`skms.iam.policy.evaluate`: an explicit Deny wins, then an Allow, else deny). Everything
unknown fails closed: no policy source, an operation with no action, a user with no policies.

A refusal is :class:`skms.errors.NotAuthorized` (403 KMS.0307, §2.6), whose message names the user,
the action and the resource; it is logged at INFO with the deciding statement's label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn, Protocol

from skms import errors
from skms.caller import Caller
from skms.crypto.cache import TtlLruCache
from skms.crypto.keyspec import KeySpec, default_usage
from skms.domain import KeyRecord
from skms.iam import grants
from skms.iam.actions import ACTIONS, Action
from skms.iam.policy import TAG_KEY_PREFIX, Decision, Outcome, Policy, Request, evaluate, key_urn
from skms.iam.source import PolicySource
from skms.observability import logger
from skms.storage.port import GRANTEE_USER

Context = dict[str, tuple[str, ...]]  # condition key (lower-cased) -> its values


# --- what the decision needs of the services (skms.services.Services, which imports skms.iam) ---


class _Settings(Protocol):
    @property
    def region_id(self) -> str: ...


class _TagStore(Protocol):
    def get_tags(self, project_id: str, key_id: str) -> dict[str, str]: ...


class _Stores(Protocol):
    @property
    def tags(self) -> _TagStore: ...

    @property
    def grants(self) -> grants.GrantReads: ...


class AuthorizationServices(Protocol):
    @property
    def settings(self) -> _Settings: ...

    @property
    def stores(self) -> _Stores: ...

    @property
    def policies(self) -> PolicySource | None: ...

    @property
    def grants_held(self) -> TtlLruCache[Any] | None: ...


# --- condition values of a request on no key (§2.4) ---------------------------------------------


def _create_key_context(body: Any) -> Context:
    """create-key: the key that would be made (no key exists yet), the request's defaults applied
    (access-control §2.7: ``kms:KeySpec`` comes from the request, AES_256 by default)."""
    spec_text = getattr(body, "key_spec", None) or KeySpec.AES_256.value
    usage_text = getattr(body, "key_usage", None)
    if not usage_text:
        try:
            usage_text = default_usage(KeySpec(spec_text)).value
        except ValueError:  # an unknown spec: the logic refuses it (KMS.0303) once allowed to run
            usage_text = ""
    context: Context = {
        "kms:keyspec": (spec_text,),
        "kms:keyorigin": (getattr(body, "origin", None) or "kms",),
        "g:enterpriseprojectid": (getattr(body, "enterprise_project_id", None) or "0",),
    }
    if usage_text:
        context["kms:keyusage"] = (usage_text,)
    return context


# operation -> the condition values its request carries (operations on no key only).
REQUEST_CONTEXT: dict[str, Callable[[Any], Context]] = {
    "create-key": _create_key_context,
}


# --- the decision ---------------------------------------------------------------------------------


# Operations whose permission is the grant relationship itself (access-control §3.3): a grant is
# retired by its issuer, its retiring principal, or a grantee holding retire-grant, and
# list-retirable-grants lists what the caller may so retire — whatever the caller's IAM policies
# allow; the logic finds the grants through the store's retirer index. Only an explicit Deny in
# the caller's own policies refuses them.
GRANT_RELATIONSHIP_OPERATIONS = frozenset({"retire-grant", "list-retirable-grants"})


def authorize_request(services: AuthorizationServices, caller: Caller, body: Any) -> None:
    """Before the logic runs: decide an operation on no key, with its request's condition values.
    Operations on a key are decided by the gate, per key (:func:`authorize` with ``key``)."""
    if caller.principal.is_account:
        return
    if caller.operation in GRANT_RELATIONSHIP_OPERATIONS:
        _refuse_explicit_deny(services, caller)
        return
    action = ACTIONS.get(caller.operation)
    if action is not None and action.on_key:
        return
    extract = REQUEST_CONTEXT.get(caller.operation)
    authorize(services, caller, context=extract(body) if extract is not None else None)


def authorize(
    services: AuthorizationServices,
    caller: Caller,
    *,
    key: KeyRecord | None = None,
    key_id: str | None = None,
    alias: str | None = None,
    context: Mapping[str, tuple[str, ...]] | None = None,
) -> None:
    """Allow ``caller``'s operation (on ``key``, named by ``alias`` if it was), or raise
    :class:`errors.NotAuthorized` (or :class:`errors.NoGrant` for a key of another project).
    ``key_id`` instead of ``key``: an operation that names a key of the caller's project without
    reading it (delete-alias), decided on its URN alone (no key attributes or tags in the condition
    values)."""
    if key is not None and key.project_id != caller.project_id:
        # A key of another project (another domain's, or the caller's own domain's other project),
        # found through a grant the caller holds: only grants can allow it (access-control §3.3).
        _authorize_through_grants(services, caller, key, alias, context)
        return
    if caller.principal.is_account:
        # The account and direct invokers: everything in their own domain. Keys are resolved
        # within the caller's project, and a project belongs to one domain.
        return
    _authorize_user(services, caller, key, key_id, alias, context)


def _refuse_explicit_deny(services: AuthorizationServices, caller: Caller) -> None:
    """For :data:`GRANT_RELATIONSHIP_OPERATIONS`: refused only by an explicit Deny of the caller's
    own policies (a statement on every resource: the grant's key is not known yet)."""
    action = ACTIONS[caller.operation]
    decision = _evaluate(services, caller, action, None, key=None, alias=None, extra=None)
    if decision.outcome is Outcome.DENY:
        _refuse(caller, action, "*", decision)


def _authorize_through_grants(
    services: AuthorizationServices,
    caller: Caller,
    key: KeyRecord,
    alias: str | None,
    context: Mapping[str, tuple[str, ...]] | None,
) -> None:
    """A key outside the caller's project: allowed by a grant that unlocks the operation, unless the
    caller's own policies explicitly deny it. A ``user`` grant suffices; a ``domain`` grant lets a
    user of that domain in only if its own policies also allow the action (access-control §3.3,
    inferred: the grantee account's own IAM still applies to its users; the account itself needs
    no policy)."""
    action = ACTIONS.get(caller.operation)
    resource = key_urn(services.settings.region_id, key.domain_id, key.key_id)
    if action is None:
        _refuse(caller, None, resource, Decision(Outcome.IMPLICIT_DENY))
    grant_types: tuple[str, ...] = grants.GRANTEE_TYPES
    if not caller.principal.is_account:
        decision = _evaluate(services, caller, action, resource, key=key, alias=alias, extra=context)
        if decision.outcome is Outcome.DENY:
            _refuse(caller, action, resource, decision)
        if not decision.allowed:
            grant_types = (GRANTEE_USER,)
    if _grant_allows(services, caller, key, context, grant_types):
        return
    _refuse_foreign(caller, action, resource)


def _authorize_user(  # noqa: PLR0917 - the private body of authorize()
    services: AuthorizationServices,
    caller: Caller,
    key: KeyRecord | None,
    key_id: str | None,
    alias: str | None,
    context: Mapping[str, tuple[str, ...]] | None,
) -> None:
    if caller.operation in GRANT_RELATIONSHIP_OPERATIONS:
        return  # decided once, before the logic (authorize_request); the grants decide the rest
    action = ACTIONS.get(caller.operation)
    if action is None:  # outside a known operation: nothing can allow it (fail closed)
        _refuse(caller, None, "*", Decision(Outcome.IMPLICIT_DENY))
    if (key is not None or key_id is not None) and not action.on_key:
        # An operation on no key (list-kms-by-tags reading the keys it lists) was decided once,
        # for the whole request, before its logic ran.
        return
    region = services.settings.region_id
    if key is not None:
        resource: str | None = key_urn(region, key.domain_id, key.key_id)
    else:
        resource = key_urn(region, caller.domain_id, key_id) if key_id is not None else None
    decision = _evaluate(services, caller, action, resource, key=key, alias=alias, extra=context)
    if decision.allowed:
        return
    # Grants: only after an implicit deny (an explicit Deny still wins), only on a key.
    if (
        decision.outcome is Outcome.IMPLICIT_DENY
        and key is not None
        and _grant_allows(services, caller, key, context)
    ):
        return
    _refuse(caller, action, resource or "*", decision)


def _evaluate(
    services: AuthorizationServices,
    caller: Caller,
    action: Action,
    resource: str | None,
    *,
    key: KeyRecord | None,
    alias: str | None,
    extra: Mapping[str, tuple[str, ...]] | None,
) -> Decision:
    """The caller's own policies (none without a policy source) on ``action`` and ``resource``,
    with the request's condition values."""
    principal = caller.principal
    policies = (
        services.policies.policies_of(principal.domain_id, principal.user_id) if services.policies else ()
    )
    context = _context(services, caller, policies, key=key, alias=alias, extra=extra)
    return evaluate(policies, Request(action.names, resource, context))


def _grant_allows(
    services: AuthorizationServices,
    caller: Caller,
    key: KeyRecord,
    context: Mapping[str, tuple[str, ...]] | None,
    grantee_types: tuple[str, ...] = grants.GRANTEE_TYPES,
) -> bool:
    """Whether a grant on ``key`` lets ``caller``'s principal do ``caller.operation`` (§3.2's grant
    operations; a create-grant's sub-grant operations, ``kms:GrantOperations``, within those held)."""
    return grants.grant_allows(
        services,
        caller,
        key,
        caller.operation,
        grant_operations=(context or {}).get("kms:grantoperations"),
        grantee_types=grantee_types,
    )


def _context(
    services: AuthorizationServices,
    caller: Caller,
    policies: tuple[Policy, ...],
    *,
    key: KeyRecord | None,
    alias: str | None,
    extra: Mapping[str, tuple[str, ...]] | None,
) -> Context:
    """The condition values of the request (§2.4): the request's own, the key's attributes, the
    alias it was named by, the user; the key's tags only when some statement looks at them."""
    context: Context = {"g:userid": (caller.principal.user_id,)}
    if extra:
        context.update(extra)
    if key is not None:
        # The StrEnum members are the strings themselves (no .value lookup on the hot path).
        context["kms:keyspec"] = (key.key_spec,)
        context["kms:keyusage"] = (key.key_usage,)
        context["kms:keyorigin"] = (key.origin,)
        context["g:enterpriseprojectid"] = (key.enterprise_project_id,)
        if alias:
            context["kms:requestalias"] = (alias,)
        if any(policy.uses_tags for policy in policies):
            for tag_key, value in services.stores.tags.get_tags(key.project_id, key.key_id).items():
                context[TAG_KEY_PREFIX + tag_key.lower()] = (value,)
    return context


def _log_denied(
    caller: Caller, action: str, resource: str, outcome: str, statement: str | None = None
) -> None:
    """The INFO line of a refusal: who, which operation and action, on what, and why."""
    principal = caller.principal
    extra = {
        "principal_id": principal.id,
        "user_id": principal.user_id,
        "domain_id": principal.domain_id,
        "operation": caller.operation,
        "action": action,
        "resource": resource,
        "outcome": outcome,
    }
    if statement is not None:
        extra["statement"] = statement
    logger.info("authorization denied", extra={**extra, "request_id": caller.request_id})


def _refuse_foreign(caller: Caller, action: Action, resource: str) -> NoReturn:
    principal = caller.principal
    who = principal.user_id or principal.domain_id
    _log_denied(caller, action.name, resource, "no-grant")
    raise errors.NoGrant(
        f"{who} is not authorized to perform {action.name} on {resource}: no grant allows it."
    )


def _refuse(caller: Caller, action: Action | None, resource: str, decision: Decision) -> NoReturn:
    principal = caller.principal
    who = principal.user_id or principal.id
    name = action.name if action is not None else (caller.operation or "an unknown operation")
    why = "an explicit deny applies" if decision.outcome is Outcome.DENY else "no policy allows it"
    _log_denied(caller, name, resource, decision.outcome.value, decision.statement or "")
    raise errors.NotAuthorized(f"User {who} is not authorized to perform {name} on {resource}: {why}.")
