"""Every function of template.yaml with each of its sample events (``events/<function>/*.json``),
on DynamoDB and KMS under moto: each answers the success its event stands for, and every AWS call
it makes is one that its IAM policies in template.yaml allow (moto does not evaluate IAM).

The events name the placeholder key (events/README.md, Placeholders): each test first makes what
they stand for through the API (a key of the right spec, usage and state; a ciphertext, a
signature, a MAC of it), puts the real values in the event's body, then runs the function as a
cold Lambda would (fresh services: nothing cached from making them), recording its AWS calls.
``api.json`` events run as they are (the token context of the authorizer) and, for authenticated
routes, signed with AK/SK as well, which adds the access-key read and secret unwrap to their calls.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.client import BaseClient

from skms.api.handler import endpoint_of
from skms.clock import now_ms
from skms.config import Settings
from skms.domain import AliasRecord
from skms.local.sample_events import SAMPLE_DOMAIN_ID
from skms.runtime import Services, build_services, set_services
from skms.storage.port import GrantRecord
from tests.integration.conftest import (
    EVENTS,
    EXAMPLE_DOMAIN_ID,
    PROJECT_ID,
    TEMPLATE,
    Handler,
    KmsClient,
    Principals,
    load_event,
    sdk_json,
)
from tests.support.importing import oaep_wrap
from tests.support.template import AwsCall, calls_of, denied_calls, template_functions

PLACEHOLDER_KEY_ID = "00000000-0000-0000-0000-000000000000"
FUNCTIONS = template_functions(TEMPLATE)
PUBLIC = {"create_token", "show_version", "show_versions"}


def _cases() -> list[tuple[str, str]]:
    cases = []
    for function in sorted(FUNCTIONS):
        for path in sorted((EVENTS / function).glob("*.json")):
            cases.append((function, path.stem))
            if path.stem == "api" and function not in PUBLIC:
                cases.append((function, "api-aksk"))
    return cases


CASES = _cases()


def test_every_function_has_sample_events() -> None:
    assert {function for function, _ in CASES} == set(FUNCTIONS)


# -- what the placeholders stand for --------------------------------------------------------

Fill = dict[str, Any]  # body fields to replace
Seed = Callable[[KmsClient, Services], Fill]


def _ok(kms: KmsClient, function: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = kms.call(function, body)
    assert reply.status == 200, reply.raw_body
    answer: dict[str, Any] = reply.body
    return answer


def _key(**fields: str) -> Seed:
    return lambda kms, _: {"key_id": kms.create_key(**fields)}


def _key_in_state(operation: str, **extra: str) -> Seed:
    def seed(kms: KmsClient, _: Services) -> Fill:
        key_id = kms.create_key()
        _ok(kms, operation, {"key_id": key_id, **extra})
        return {"key_id": key_id}

    return seed


def _datakey(kms: KmsClient, _: Services) -> Fill:
    key_id = kms.create_key()
    datakey = kms.create_datakey(key_id, datakey_length="512")
    return {"key_id": key_id, "cipher_text": datakey["cipher_text"], "datakey_cipher_length": "64"}


def _ciphertext(kms: KmsClient, _: Services) -> Fill:
    plain = kms.sample_body("encrypt_data")["plain_text"]
    return {
        "cipher_text": _ok(kms, "encrypt_data", {"key_id": kms.create_key(), "plain_text": plain})[
            "cipher_text"
        ]
    }


def _re_encryption(kms: KmsClient, services: Services) -> Fill:
    return {**_ciphertext(kms, services), "destination_key_id": kms.create_key()}


def _signature(kms: KmsClient, _: Services) -> Fill:
    key_id = kms.create_key(key_spec="EC_P256", key_usage="SIGN_VERIFY")
    signed = _ok(kms, "sign", kms.sample_body("sign", key_id=key_id))
    return {"key_id": key_id, "signature": signed["signature"]}


def _mac(kms: KmsClient, _: Services) -> Fill:
    key_id = kms.create_key(key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC")
    generated = _ok(kms, "generate_mac", kms.sample_body("generate_mac", key_id=key_id))
    return {"key_id": key_id, "mac": generated["mac"]}


def _listed_key(kms: KmsClient, _: Services) -> Fill:
    kms.create_key()
    return {}


def _put_alias(services: Services, alias: str, key_id: str) -> None:
    """An alias record in each domain the events act in: a direct invocation's (the settings'), the
    token context's of ``api.json`` and the example access key's."""
    now = now_ms()
    for domain_id in {services.settings.domain_id, SAMPLE_DOMAIN_ID, EXAMPLE_DOMAIN_ID}:
        services.stores.aliases.create_alias(AliasRecord(domain_id, alias, key_id, PROJECT_ID, now, now))


def _aliased_key(kms: KmsClient, services: Services) -> Fill:
    key_id = kms.create_key()
    _put_alias(services, SAMPLE_ALIAS, key_id)
    return {"key_id": key_id}


def _alias_and_target(kms: KmsClient, services: Services) -> Fill:
    _put_alias(services, SAMPLE_ALIAS, kms.create_key())
    return {"target_key_id": kms.create_key()}


def _due_key(kms: KmsClient, services: Services) -> Fill:
    """A key pending deletion whose date has passed (the API allows 7 days at least)."""
    key_id = kms.create_key()
    _ok(kms, "schedule_key_deletion", {"key_id": key_id, "pending_days": "7"})
    record = services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    services.stores.keys.update_key(record.replace(scheduled_deletion_date=now_ms() - 1000), record.revision)
    _put_alias(services, "alias/doomed", key_id)  # the sweep deletes it with its key
    return {}


def _rotation_due_key(kms: KmsClient, services: Services) -> Fill:
    """A key with rotation enabled whose period has passed (the API allows 30 days at least)."""
    key_id = kms.create_key()
    _ok(kms, "enable_key_rotation", {"key_id": key_id})
    record = services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    services.stores.keys.update_key(record.replace(next_rotation_time=now_ms() - 1000), record.revision)
    return {}


def _tagged_key(kms: KmsClient, _: Services) -> Fill:
    """A key named like the list-kms-by-tags event's match, carrying its tag (env=prod)."""
    key_id = kms.create_key(f"orders-{uuid.uuid4().hex[:8]}")
    reply = kms.call(
        "batch_create_kms_tags",
        {"key_id": key_id, "action": "create", "tags": [{"key": "env", "value": "prod"}]},
    )
    assert reply.status == 204, reply.raw_body
    return {"key_id": key_id}


def _import_parameters(kms: KmsClient) -> tuple[str, Fill]:
    key_id = kms.create_key(origin="external")
    params = _ok(
        kms, "get_parameters_for_import", {"key_id": key_id, "wrapping_algorithm": "RSAES_OAEP_SHA_256"}
    )
    material = oaep_wrap(params["public_key"], os.urandom(32))
    return key_id, {
        "key_id": key_id,
        "import_token": params["import_token"],
        "encrypted_key_material": material,
    }


def _importable_key(kms: KmsClient, _: Services) -> Fill:
    """An external key pending import, with import parameters and material wrapped for them."""
    return _import_parameters(kms)[1]


def _imported_key(kms: KmsClient, _: Services) -> Fill:
    key_id, fill = _import_parameters(kms)
    _ok(kms, "import_key_material", fill)
    return {"key_id": key_id}


def _granted_key(kms: KmsClient, _: Services) -> Fill:
    key_id = kms.create_key()
    body = {
        "key_id": key_id,
        "grantee_principal": "0d0466b00d0466b00d0466b00d0466b0",
        "operations": ["describe-key"],
    }
    return {"key_id": key_id, "grant_id": _ok(kms, "create_grant", body)["grant_id"]}


def _retirable_grant(kms: KmsClient, services: Services) -> Fill:
    """A grant that the principal of every kind of event may retire: the api event's token user (a
    principal of the sample domain, the domain grantee holding retire-grant), the AK/SK account
    key's account (the issuer) and the direct invoker (the retiring principal)."""
    key_id = kms.create_key()
    grant = GrantRecord(
        grant_id=secrets.token_hex(32),
        key_id=key_id,
        project_id=PROJECT_ID,
        domain_id=EXAMPLE_DOMAIN_ID,
        name="",
        grantee_principal=SAMPLE_DOMAIN_ID,
        grantee_principal_type="domain",
        operations=("describe-key", "retire-grant"),
        issuing_principal=EXAMPLE_DOMAIN_ID,
        retiring_principal=services.settings.domain_id,
        creation_date=now_ms(),
    )
    services.stores.grants.create_grant(grant, max_per_key=100)
    return {"key_id": key_id, "grant_id": grant.grant_id}


SEEDS: dict[str, Seed] = {
    "create_datakey": _key(),
    "create_datakey_without_plaintext": _key(),
    "create_ec_datakey_pair": _key(),
    "create_rsa_datakey_pair": _key(),
    "encrypt_datakey": _key(),
    "encrypt_data": _key(),
    "decrypt_datakey": _datakey,
    "decrypt_data": _ciphertext,
    "re_encrypt": _re_encryption,
    "describe_key": _key(),
    "list_keys": _listed_key,
    "disable_key": _key(),
    "enable_key": _key_in_state("disable_key"),
    "schedule_key_deletion": _key(),
    "cancel_key_deletion": _key_in_state("schedule_key_deletion", pending_days="7"),
    "update_key_alias": _key(),
    "update_key_description": _key(),
    "sign": _key(key_spec="EC_P256", key_usage="SIGN_VERIFY"),
    "show_public_key": _key(key_spec="EC_P256", key_usage="SIGN_VERIFY"),
    "validate_signature": _signature,
    "derive_shared_secret": _key(key_spec="EC_P256", key_usage="KEY_AGREEMENT"),
    "generate_mac": _key(key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC"),
    "verify_mac": _mac,
    "delete_expired_keys": _due_key,
    "enable_key_rotation": _key(),
    "disable_key_rotation": _key_in_state("enable_key_rotation"),
    "show_key_rotation_status": _key(),
    "update_key_rotation_interval": _key_in_state("enable_key_rotation"),
    "rotate_on_demand": _key(),
    "rotate_due_keys": _rotation_due_key,
    "create_kms_tag": _key(),
    "batch_create_kms_tags": _key(),
    "delete_tag": _tagged_key,
    "show_kms_tags": _tagged_key,
    "list_kms_tags": _tagged_key,
    "list_kms_by_tags": _tagged_key,
    "create_alias": _key(),
    "delete_alias": _aliased_key,
    "list_aliases": _aliased_key,
    "associate_alias": _alias_and_target,
    "get_parameters_for_import": _key(origin="external"),
    "import_key_material": _importable_key,
    "delete_imported_key_material": _imported_key,
    "create_grant": _key(),
    "cancel_grant": _granted_key,
    "cancel_self_grant": _retirable_grant,
    "list_grants": _granted_key,
    "list_retirable_grants": _retirable_grant,
}
SAMPLE_ALIAS = "alias/example"  # the alias of the alias functions' events


def _filled(body: dict[str, Any], fill: Fill) -> dict[str, Any]:
    placeholders = {name for name, value in body.items() if value == PLACEHOLDER_KEY_ID}
    assert placeholders <= set(fill), f"no value for the placeholders {placeholders - set(fill)}"
    return {**body, **fill}


def _fill_path(event: dict[str, Any], fill: Fill) -> None:
    """Path parameters that are placeholders (``/kms/{key_id}/tags``) take the seeded values, in
    ``pathParameters`` and in the paths (which the AK/SK signature covers)."""
    for name, value in (event.get("pathParameters") or {}).items():
        if value == PLACEHOLDER_KEY_ID and name in fill:
            event["pathParameters"][name] = fill[name]
            event["path"] = event["path"].replace(value, fill[name])
            context = event["requestContext"]
            context["path"] = context["path"].replace(value, fill[name])


def _event(function: str, kind: str, fill: Fill, kms: KmsClient, principals: Principals) -> dict[str, Any]:
    if kind == "request_token":
        return kms.token_authorizer_event(kms.issue_token(principals))
    if kind == "request_aksk":
        return kms.signed_authorizer_event(principals)
    event = load_event(function, "api" if kind == "api-aksk" else kind)
    if kind == "direct":
        event["body"] = _filled(event["body"], fill)
    elif kind in {"api", "api-aksk"} and event["body"] is not None:
        event["body"] = sdk_json(_filled(json.loads(event["body"]), fill))
    if kind in {"api", "api-aksk"}:
        _fill_path(event, fill)
    if kind == "api-aksk":
        kms.sign(event, principals)
    return event


# -- running it -----------------------------------------------------------------------------


@contextmanager
def recorded_aws_calls() -> Iterator[list[AwsCall]]:
    """The permissions of every AWS API call made meanwhile, by any client."""
    calls: list[AwsCall] = []
    original: Callable[[BaseClient, str, dict[str, Any]], Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, so not in the stubs

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.extend(calls_of(client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", record)
        yield calls


def _assert_success(function: str, kind: str, event: dict[str, Any], answer: Any, handler: Handler) -> None:
    if function == "authorizer":
        statements = answer["policyDocument"]["Statement"]
        assert [s["Effect"] for s in statements if s["Resource"] == event["methodArn"]] == ["Allow"], answer
    elif function == "delete_expired_keys":
        assert answer == {"deleted": 1, "skipped": 0, "expired": 0}
    elif function == "rotate_due_keys":
        assert answer == {"rotated": 1, "skipped": 0}
    elif kind == "direct":
        assert isinstance(answer, dict)
        assert "error" not in answer, answer
    else:
        spec = endpoint_of(handler)
        assert spec is not None
        assert answer["statusCode"] == spec.success_status, answer["body"]


@pytest.mark.parametrize(("function", "kind"), CASES)
def test_each_event_of_each_function_succeeds_within_its_iam_grants(
    function: str,
    kind: str,
    kms: KmsClient,
    principals: Principals,
    aws_services: Services,
    aws_settings: Settings,
    handlers: dict[str, Handler],
) -> None:
    # Given what the event's placeholders stand for, made through the API
    seed = SEEDS.get(function)
    fill = seed(kms, aws_services) if seed is not None else {}
    event = _event(function, kind, fill, kms, principals)
    # When the function runs it, cold (nothing cached), its AWS calls recorded
    set_services(build_services(aws_settings))
    with recorded_aws_calls() as calls:
        answer = handlers[function](event, None)
    # Then it answers the success the event stands for
    _assert_success(function, kind, event, answer, handlers[function])
    # And its policies in template.yaml allow every call it made
    assert denied_calls(FUNCTIONS[function].logical_id, calls) == []


# -- an alias for the key -----------------------------------------------------------------------

# The functions that take an alias where their event names a key, and the field that names it.
ALIAS_FIELDS = {
    "create_datakey": "key_id",
    "create_datakey_without_plaintext": "key_id",
    "create_ec_datakey_pair": "key_id",
    "create_rsa_datakey_pair": "key_id",
    "decrypt_datakey": "key_id",
    "derive_shared_secret": "key_id",
    "encrypt_data": "key_id",
    "encrypt_datakey": "key_id",
    "generate_mac": "key_id",
    "re_encrypt": "destination_key_id",
    "show_public_key": "key_id",
    "sign": "key_id",
    "validate_signature": "key_id",
    "verify_mac": "key_id",
}


@pytest.mark.parametrize("function", sorted(ALIAS_FIELDS))
def test_each_crypto_function_resolves_an_alias_within_its_iam_grants(
    function: str,
    kms: KmsClient,
    principals: Principals,
    aws_services: Services,
    aws_settings: Settings,
    handlers: dict[str, Handler],
) -> None:
    # Given the key of the function's direct event, named by an alias
    fill = SEEDS[function](kms, aws_services)
    field = ALIAS_FIELDS[function]
    key_id = fill[field]
    _put_alias(aws_services, "alias/for-the-event", key_id)
    event = _event(function, "direct", {**fill, field: "alias/for-the-event"}, kms, principals)
    # When the function runs it, cold
    set_services(build_services(aws_settings))
    with recorded_aws_calls() as calls:
        answer = handlers[function](event, None)
    # Then it answers for the real key, and its policies allow the alias read as well
    assert "error" not in answer, answer
    assert answer.get("key_id", key_id) == key_id
    assert any(call.context.get("dynamodb:LeadingKeys", [""])[0].startswith("ALIAS#") for call in calls)
    assert denied_calls(FUNCTIONS[function].logical_id, calls) == []


# -- a key the caller's project does not hold ------------------------------------------------------


def _key_fields(function: str) -> dict[str, str]:
    """The fields of the function's direct event that name one key (the placeholder), if any."""
    if not (EVENTS / function / "direct.json").exists():
        return {}
    body = load_event(function, "direct")["body"] or {}
    return {
        name: value for name, value in body.items() if value == PLACEHOLDER_KEY_ID and name.endswith("key_id")
    }


KEY_FUNCTIONS = sorted(function for function in FUNCTIONS if _key_fields(function))


def test_the_unknown_key_cases_are_found() -> None:
    # Guards the test below against passing on nothing
    assert len(KEY_FUNCTIONS) >= 30
    assert {"encrypt_data", "create_datakey", "describe_key", "create_grant"} <= set(KEY_FUNCTIONS)


@pytest.mark.parametrize("function", KEY_FUNCTIONS)
def test_a_key_the_project_does_not_hold_is_looked_for_among_grants_within_iam_grants(
    function: str,
    kms: KmsClient,
    principals: Principals,
    aws_services: Services,
    aws_settings: Settings,
    handlers: dict[str, Handler],
) -> None:
    # Given the function's direct event, its keys all unknown to the project (a grantee's bare id)
    fill = SEEDS[function](kms, aws_services) if function in SEEDS else {}
    unknown = {name: str(uuid.uuid4()) for name in _key_fields(function)}
    event = _event(function, "direct", {**fill, **unknown}, kms, principals)
    # When the function runs it, cold
    set_services(build_services(aws_settings))
    with recorded_aws_calls() as calls:
        answer = handlers[function](event, None)
    # Then whatever it answers, every AWS call it made is within its policies
    assert denied_calls(FUNCTIONS[function].logical_id, calls) == []
    # And where it answered "no such key" after looking for one, it asked the grants first (and was
    # allowed to). delete-alias names a key without reading it: its 404 is the alias's.
    if function != "delete_alias" and answer.get("error", {}).get("error_code") == "KMS.0207":
        leading = [call.context.get("dynamodb:LeadingKeys", [""])[0] for call in calls]
        assert any(key.startswith("GRANT#E#") for key in leading), leading
