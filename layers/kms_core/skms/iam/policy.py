"""IAM policy documents as KMS sees them: parsing, validation and evaluation (access-control.md §2.3–§2.6).

Documents in the v1.1 (``"Version": "1.1"``, Action/Resource/Condition) and v5 (``"5.0"``, also
NotAction/NotResource and Sid) syntax. :func:`parse_policy` refuses a malformed document with a
:class:`PolicyError` that names the offending statement; unknown KMS actions, condition operators and
KMS condition keys are errors, never ignored. :func:`evaluate` makes the documented decision: an
explicit Deny in any applicable statement wins, then an Allow, else deny (§2.6).

Matching (§2.3; the choices the docs leave open follow AWS IAM, whose model Huawei's mirrors):

- Action ``service:type:action``: each of the three segments compared case-insensitively, ``*`` and
  ``?`` wildcards within a segment; the bare ``*`` matches every action. An operation matches by its
  v5 name or any of its v1.1 aliases (:mod:`skms.iam.actions`).
- Resource ``service:region:account:type:path`` (or ``*``): service and type case-insensitive, the
  others exact, wildcards within a segment (a ``*`` in the path also spans ``/``). An operation on no
  key only matches statements whose Resource is absent (v1.1's default, all) or includes ``*``.
- Condition: every operator of a statement, every key of an operator must hold; a key holds if any of
  its policy values matches (``ForAllValues:``: every request value matches one; ``ForAnyValue:``, the
  default for multi-valued keys: some request value does). A key missing from the request fails the
  condition, except with the ``IfExists`` suffix, with ``Null``, and for the negated operators
  (``StringNotEquals``, ``StringNotLike``, ...), which hold.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from skms.iam.actions import KNOWN_NAMES

VERSIONS = ("1.1", "5.0")
MAX_STATEMENTS = 100

# The condition keys KMS puts in a request (§2.4). Others of the kms: and g: services are refused.
KMS_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "kms:KeyOrigin",
        "kms:KeySpec",
        "kms:KeyUsage",
        "kms:MultiRegionKeyType",
        "kms:GranteePrincipalType",
        "kms:GrantOperations",
        "kms:GranteePrincipal",
        "kms:RetiringPrincipal",
        "kms:EncryptionContext",
        "kms:RequestAlias",
        "kms:ResourceAliases",
        "g:EnterpriseProjectId",
        "g:CurrentTime",
        "g:DomainName",
        "g:ProjectName",
        "g:UserId",
        "g:UserName",
        "g:ServiceName",
        "g:MFAPresent",
        "g:MFAAge",
    )
)
TAG_KEY_PREFIX = "g:resourcetag/"


class PolicyError(ValueError):
    """A document that is not a policy; the message names the statement and what is wrong."""


class Effect(enum.StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Outcome(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny matched
    IMPLICIT_DENY = "implicit-deny"  # nothing allowed it


# --- condition operators ---------------------------------------------------------------------------


def _like(pattern: str) -> re.Pattern[str]:
    return _wildcard(pattern, case_insensitive=False)


def _number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None


def _date(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


Compare = Callable[[str, str], bool]  # (request value, policy value) -> match


def _ordered(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Compare:
    def compare(request_value: str, policy_value: str) -> bool:
        try:
            return bool(test(parse(request_value), parse(policy_value)))
        except (ValueError, TypeError):
            return False

    return compare


# operator -> (comparison, negated). A negated operator holds when no policy value matches.
OPERATORS: dict[str, tuple[Compare, bool]] = {
    "StringEquals": (lambda r, p: r == p, False),
    "StringNotEquals": (lambda r, p: r == p, True),
    "StringEqualsIgnoreCase": (lambda r, p: r.casefold() == p.casefold(), False),
    "StringNotEqualsIgnoreCase": (lambda r, p: r.casefold() == p.casefold(), True),
    "StringLike": (lambda r, p: _like(p).fullmatch(r) is not None, False),
    "StringNotLike": (lambda r, p: _like(p).fullmatch(r) is not None, True),
    "StringStartWith": (lambda r, p: r.startswith(p), False),
    "StringEndWith": (lambda r, p: r.endswith(p), False),
    "NumberEquals": (_ordered(_number, lambda r, p: r == p), False),
    "NumberNotEquals": (_ordered(_number, lambda r, p: r == p), True),
    "NumberLessThan": (_ordered(_number, lambda r, p: r < p), False),
    "NumberLessThanEquals": (_ordered(_number, lambda r, p: r <= p), False),
    "NumberGreaterThan": (_ordered(_number, lambda r, p: r > p), False),
    "NumberGreaterThanEquals": (_ordered(_number, lambda r, p: r >= p), False),
    "DateEquals": (_ordered(_date, lambda r, p: r == p), False),
    "DateNotEquals": (_ordered(_date, lambda r, p: r == p), True),
    "DateLessThan": (_ordered(_date, lambda r, p: r < p), False),
    "DateLessThanEquals": (_ordered(_date, lambda r, p: r <= p), False),
    "DateGreaterThan": (_ordered(_date, lambda r, p: r > p), False),
    "DateGreaterThanEquals": (_ordered(_date, lambda r, p: r >= p), False),
    "Bool": (_ordered(_bool, lambda r, p: r == p), False),
}
NULL = "Null"
QUALIFIERS = ("ForAnyValue", "ForAllValues")
IF_EXISTS = "IfExists"


# --- the parsed document --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str  # a key of OPERATORS, or NULL
    qualifier: str | None  # ForAnyValue / ForAllValues
    if_exists: bool
    key: str  # lower-cased
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, tuple[str, ...]]) -> bool:
        present = context.get(self.key)
        if self.operator == NULL:
            wanted = {_bool_or_none(v) for v in self.values}
            return (not present) in wanted
        compare, negated = OPERATORS[self.operator]
        if not present:
            return self.if_exists or negated or self.qualifier == "ForAllValues"
        if self.operator == "StringEquals" and self.qualifier is None:
            # The common case, without a comparison call per value pair.
            return any(value in self.values for value in present)
        every = self.qualifier == "ForAllValues"
        for value in present:
            matched = False
            for expected in self.values:
                if compare(value, expected):
                    matched = True
                    break
            if matched is negated:  # this value does not satisfy the operator
                if every:
                    return False
            elif not every:
                return True
        return every


def _bool_or_none(value: str) -> bool | None:
    lowered = value.lower()
    return True if lowered == "true" else False if lowered == "false" else None


@dataclass(frozen=True, slots=True)
class Statement:
    label: str  # the Sid, or "statement N" (1-based) for messages
    effect: Effect
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...] | None  # None: absent (all)
    not_resources: tuple[str, ...] | None
    conditions: tuple[Condition, ...]
    # Compiled once, when the statement is built (parsed policies are cached by the PolicySource):
    # one regex per list of patterns, and the action answer per operation (a bounded set).
    _action_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _not_action_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _resource_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _not_resource_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _action_answers: dict[tuple[str, ...], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_action_re", _compile_actions(self.actions))
        set_(self, "_not_action_re", _compile_actions(self.not_actions))
        set_(self, "_resource_re", _compile_resources(self.resources))
        set_(self, "_not_resource_re", _compile_resources(self.not_resources))
        set_(self, "_action_answers", {})

    def matches_action(self, names: tuple[str, ...]) -> bool:
        """Whether Action (or NotAction) lets the statement apply to an operation of ``names``."""
        answer = self._action_answers.get(names)
        if answer is None:
            if self.actions:
                pattern = self._action_re
                answer = any(pattern is None or pattern.fullmatch(n) is not None for n in names)
            else:
                pattern = self._not_action_re
                answer = not any(pattern is None or pattern.fullmatch(n) is not None for n in names)
            if len(self._action_answers) < _MAX_ANSWERS:
                self._action_answers[names] = answer
        return answer

    def matches_resource(self, urn: str | None) -> bool:
        """Whether Resource (or NotResource) lets the statement apply to ``urn`` (None: no key)."""
        if urn is None:  # an operation on no key: only Resource absent or "*" (§2.3)
            if self.resources is not None and "*" not in self.resources:
                return False
            return self.not_resources is None or "*" not in self.not_resources
        if self.resources is not None and (self._resource_re is None or not self._resource_re.fullmatch(urn)):
            return False
        return self.not_resources is None or (
            self._not_resource_re is not None and self._not_resource_re.fullmatch(urn) is None
        )


_MAX_ANSWERS = 256  # distinct action-name tuples remembered per statement (ACTIONS has ~50)


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]
    # Whether any statement has a g:ResourceTag/<key> condition: only then does a decision read the
    # key's tags (so the common case reads nothing).
    uses_tags: bool = field(init=False, compare=False)
    # action names of an operation -> the statements whose Action/NotAction let them apply to it
    # (in order): a decision looks at those only. Bounded like Statement's answers.
    _by_action: dict[tuple[str, ...], tuple[Statement, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "uses_tags",
            any(c.key.startswith(TAG_KEY_PREFIX) for s in self.statements for c in s.conditions),
        )
        object.__setattr__(self, "_by_action", {})

    def statements_for(self, action_names: tuple[str, ...]) -> tuple[Statement, ...]:
        """The statements that apply to an operation of ``action_names`` by their actions."""
        found = self._by_action.get(action_names)
        if found is None:
            found = tuple(s for s in self.statements if s.matches_action(action_names))
            if len(self._by_action) < _MAX_ANSWERS:
                self._by_action[action_names] = found
        return found


def _strings(value: Any, label: str, field: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(f"{label}: {field} must be a non-empty string or list of non-empty strings")
    return tuple(items)


_ACTION = re.compile(r"^[A-Za-z0-9*?]+:[A-Za-z0-9*?]*:[A-Za-z0-9*?]+$")


def _action(pattern: str, label: str) -> str:
    if pattern == "*":
        return pattern
    if not _ACTION.fullmatch(pattern):
        raise PolicyError(f"{label}: {pattern!r} is not an action (service:resource-type:action)")
    service = pattern.split(":", 1)[0].lower()
    if service == "kms" and not any(c in pattern for c in "*?") and pattern.lower() not in KNOWN_NAMES:
        raise PolicyError(f"{label}: unknown action {pattern!r}")
    return pattern


def _resource(pattern: str, label: str) -> str:
    if pattern != "*" and len(pattern.split(":")) != 5:
        raise PolicyError(f"{label}: {pattern!r} is not a resource (service:region:account:type:path or *)")
    return pattern


def _conditions(value: Any, label: str) -> tuple[Condition, ...]:
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(f"{label}: Condition must be an object of operators")
    parsed: list[Condition] = []
    for raw_operator, keys in value.items():
        qualifier, operator, if_exists = _operator(str(raw_operator), label)
        if not isinstance(keys, Mapping) or not keys:
            raise PolicyError(f"{label}: {raw_operator} must map condition keys to values")
        for raw_key, values in keys.items():
            key = str(raw_key).lower()
            known = key in KMS_CONDITION_KEYS or (
                key.startswith(TAG_KEY_PREFIX) and len(key) > len(TAG_KEY_PREFIX)
            )
            if key.split(":", 1)[0] in ("kms", "g") and not known:
                raise PolicyError(f"{label}: unknown condition key {raw_key!r}")
            parsed.append(
                Condition(operator, qualifier, if_exists, key, _strings(values, label, str(raw_key)))
            )
    return tuple(parsed)


def _operator(text: str, label: str) -> tuple[str | None, str, bool]:
    qualifier: str | None = None
    if ":" in text:
        qualifier, text = text.split(":", 1)
        if qualifier not in QUALIFIERS:
            raise PolicyError(f"{label}: unknown condition qualifier {qualifier!r}")
    if_exists = text.endswith(IF_EXISTS) and text != IF_EXISTS
    operator = text.removesuffix(IF_EXISTS) if if_exists else text
    if operator not in OPERATORS and operator != NULL:
        raise PolicyError(f"{label}: unknown condition operator {text!r}")
    return qualifier, operator, if_exists


def parse_policy(document: Any) -> Policy:
    """A :class:`Policy`, or :class:`PolicyError` naming what is wrong and where."""
    if not isinstance(document, Mapping):
        raise PolicyError("a policy document is a JSON object")
    version = document.get("Version")
    if version not in VERSIONS:
        raise PolicyError(f"Version must be one of {', '.join(VERSIONS)}")
    raw_statements = document.get("Statement")
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError("Statement must be a non-empty list")
    if len(raw_statements) > MAX_STATEMENTS:
        raise PolicyError(f"a policy has at most {MAX_STATEMENTS} statements")
    unknown_top = set(document) - {"Version", "Statement"}
    if unknown_top:
        raise PolicyError(f"unknown field(s) {', '.join(sorted(unknown_top))}")
    return Policy(str(version), tuple(_statement(raw, i, version) for i, raw in enumerate(raw_statements, 1)))


_STATEMENT_FIELDS = {
    "1.1": {"Effect", "Action", "Resource", "Condition"},
    "5.0": {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"},
}


def _each(
    raw: Mapping[str, Any], field: str, label: str, check: Callable[[str, str], str]
) -> tuple[str, ...] | None:
    """The checked strings of ``field``, or None when the statement does not have it."""
    if field not in raw:
        return None
    return tuple(check(item, label) for item in _strings(raw[field], label, field))


def _statement(raw: Any, index: int, version: str) -> Statement:
    label = f"statement {index}"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{label}: a statement is a JSON object")
    if isinstance(raw.get("Sid"), str) and raw["Sid"]:
        label = f"statement {index} ({raw['Sid']})"
    unknown = set(raw) - _STATEMENT_FIELDS[version]
    if unknown:
        raise PolicyError(f"{label}: field(s) {', '.join(sorted(unknown))} not allowed in a {version} policy")
    try:
        effect = Effect(str(raw.get("Effect")))
    except ValueError:
        raise PolicyError(f"{label}: Effect must be Allow or Deny") from None
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{label}: exactly one of Action and NotAction is required")
    if "Resource" in raw and "NotResource" in raw:
        raise PolicyError(f"{label}: Resource and NotResource cannot both be given")
    actions = _each(raw, "Action", label, _action) or ()
    not_actions = _each(raw, "NotAction", label, _action) or ()
    resources = _each(raw, "Resource", label, _resource)
    not_resources = _each(raw, "NotResource", label, _resource)
    conditions = _conditions(raw["Condition"], label) if "Condition" in raw else ()
    return Statement(label, effect, actions, not_actions, resources, not_resources, conditions)


# --- matching and evaluation ----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, *, case_insensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL)


def _segment_match(pattern: str, value: str, *, case_insensitive: bool) -> bool:
    return _wildcard(pattern, case_insensitive=case_insensitive).fullmatch(value) is not None


def _segment_regex(pattern: str, *, spans_colon: bool) -> str:
    any_run, any_one = (".*", ".") if spans_colon else ("[^:]*", "[^:]")
    return "".join(any_run if c == "*" else any_one if c == "?" else re.escape(c) for c in pattern)


def _compile_actions(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive regex for a list of action patterns (``*`` within a segment); None when
    the list holds the bare ``*`` (every action)."""
    if "*" in patterns:
        return None
    body = "|".join(
        ":".join(_segment_regex(seg, spans_colon=False) for seg in p.split(":")) for p in patterns
    )
    return re.compile(f"(?:{body})", re.IGNORECASE | re.DOTALL)


def _compile_resources(patterns: tuple[str, ...] | None) -> re.Pattern[str] | None:
    """One regex for a list of resource patterns (§2.3: service and type case-insensitive, region,
    account and path exact; a ``*`` in the path also spans ``/`` and ``:``); None when absent."""
    if patterns is None:
        return None
    alternatives = []
    for pattern in patterns:
        if pattern == "*":
            alternatives.append(".*")
            continue
        service, region, account, kind, path = pattern.split(":")
        alternatives.append(
            f"(?i:{_segment_regex(service, spans_colon=False)}):{_segment_regex(region, spans_colon=False)}"
            f":{_segment_regex(account, spans_colon=False)}:(?i:{_segment_regex(kind, spans_colon=False)})"
            f":{_segment_regex(path, spans_colon=True)}"
        )
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.DOTALL)


def action_matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    wanted, given = pattern.split(":"), name.split(":")
    return len(wanted) == len(given) and all(
        _segment_match(p, v, case_insensitive=True) for p, v in zip(wanted, given, strict=True)
    )


_CASE_INSENSITIVE_SEGMENTS = (True, False, False, True, False)  # service, region, account, type, path


def resource_matches(pattern: str, urn: str) -> bool:
    if pattern == "*":
        return True
    wanted, given = pattern.split(":"), urn.split(":", 4)
    return len(wanted) == len(given) == 5 and all(
        _segment_match(p, v, case_insensitive=ci)
        for p, v, ci in zip(wanted, given, _CASE_INSENSITIVE_SEGMENTS, strict=True)
    )


@dataclass(frozen=True, slots=True)
class Request:
    """What is asked: the operation's action names, the resource (None for an operation on no key),
    and the condition values (keys lower-cased, each a tuple of strings)."""

    action_names: tuple[str, ...]
    resource: str | None
    context: Mapping[str, tuple[str, ...]]


def key_urn(region: str, domain_id: str, key_id: str) -> str:
    """The v5 URN of a key (§2.3): ``kms:<region>:<account>:KeyId:<key_id>``."""
    return f"kms:{region}:{domain_id}:KeyId:{key_id}"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    statement: str | None = None  # the label of the statement that decided, if one did

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW


def evaluate(policies: Sequence[Policy], request: Request) -> Decision:
    """§2.6: an explicit Deny wins, then an Allow, else (implicit) deny."""
    allowed_by: str | None = None
    names, resource, context = request.action_names, request.resource, request.context
    for policy in policies:
        for statement in policy.statements_for(names):
            if not statement.matches_resource(resource):
                continue
            if statement.conditions and not all(c.holds(context) for c in statement.conditions):
                continue
            if statement.effect is Effect.DENY:
                return Decision(Outcome.DENY, statement.label)
            allowed_by = allowed_by or statement.label
    if allowed_by is not None:
        return Decision(Outcome.ALLOW, allowed_by)
    return Decision(Outcome.IMPLICIT_DENY)


# --- system policies (§2.1), attachable by name ----------------------------------------------------

_READ_ONLY_ACTIONS = [
    "kms:cmk:get",
    "kms:cmk:list",
    "kms:cmk:getRotation",
    "kms:cmk:getPublicKey",
    "kms:grant:list",
    "kms:cmkTag:list",
    "kms:cmk:getQuota",
    "kms:cmk:getInstance",
    "kms:alias:list",
]
SYSTEM_POLICIES: dict[str, Policy] = {
    name: parse_policy(document)
    for name, document in {
        "KMS Administrator": {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:*:*"]}]},
        "KMS CMKFullAccess": {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:*:*"]}]},
        "KMS CMKReadOnlyAccess": {
            "Version": "1.1",
            "Statement": [{"Effect": "Allow", "Action": _READ_ONLY_ACTIONS}],
        },
    }.items()
}
