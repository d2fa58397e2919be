"""The ``skms`` command line.

- ``skms serve``: the local API server (API Gateway emulated from template.yaml).
- ``skms openapi [--output openapi.json] [--check]``: the OpenAPI document, generated from the models.
- ``skms events --write | --check``: events/*/api.json, generated from direct.json and the routes.
- ``skms access-key create --user N | --project-id P [--domain-id D]``: a user's or the account's key
  (prints access, secret, user_id, domain_id, project_ids); ``access-key disable|enable|delete
  --access AK``; ``access-key list``.
- ``skms user create --name N --project-id P [--policy NAME ...] [--domain-id D]`` (password on
  stdin); ``user disable|enable|delete|set-password|set-projects --name N``; ``user list``.
- ``skms policy create --name N --document FILE``; ``policy attach|detach --user N --policy NAME``.
- ``skms project claim --project-id P``: make projects of a store made before claims the domain's.
- ``skms token-key rotate``: a new token-signing key; tokens of the previous one stay valid.
- ``skms check [--data-dir DIR]``: checks the local store's integrity; exits 1 on any problem.
- ``skms create-table --table-name T [--dynamodb-endpoint URL]``: creates the DynamoDB table (keys,
  indexes, TTL) from template.yaml's ``KeysTable``; an existing table of the same shape is fine.

The management commands work on the local store by default, or on a deployed stack's table with
``--table-name`` (and ``--root-key-id``, the stack's RootKeyArn output).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from skms.config import ConfigError, Settings

if TYPE_CHECKING:
    from skms.domain import AccessKeyRecord, UserRecord
    from skms.runtime import Services


def _default_template() -> Path:
    here = Path.cwd() / "template.yaml"
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[3] / "template.yaml"


def _apply_store_options(args: argparse.Namespace) -> None:
    """Command-line options override the KMS_* environment (see README, Configuration)."""
    if getattr(args, "data_dir", None):
        os.environ["KMS_DATA_DIR"] = args.data_dir
    if getattr(args, "dynamodb_endpoint", None):
        os.environ["KMS_STORAGE"] = "dynamodb"
        os.environ["KMS_DYNAMODB_ENDPOINT"] = args.dynamodb_endpoint
    if getattr(args, "table_name", None):
        os.environ["KMS_STORAGE"] = "dynamodb"
        os.environ["KMS_TABLE_NAME"] = args.table_name
    if getattr(args, "root_key_id", None):
        os.environ["KMS_ROOT_KEY"] = "aws-kms"
        os.environ["KMS_ROOT_KEY_ID"] = args.root_key_id


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"skms: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _services(settings: Settings) -> Services:
    """The services of ``settings``; on DynamoDB, only once the table is known to exist (a
    missing table is a clear :class:`TableMissing`, not a failure of the first write)."""
    from skms.runtime import build_services

    services = build_services(settings)
    if settings.storage == "dynamodb":
        from skms.storage.dynamodb import provision

        assert settings.table_name is not None  # checked by Settings
        provision.require_table(_dynamodb_client(settings.dynamodb_endpoint), settings.table_name)
    return services


def _dynamodb_client(endpoint_url: str | None) -> Any:
    from skms.storage.dynamodb import provision

    return provision.client(endpoint_url)


def _serve(args: argparse.Namespace) -> int:
    from skms.auth.principals import PrincipalError
    from skms.local.bootstrap import bootstrap_credentials
    from skms.local.scheduler import Scheduler
    from skms.local.server import ApiGatewayEmulator, LocalServer
    from skms.observability import logger
    from skms.runtime import set_services

    _apply_store_options(args)
    if args.seed_file:
        os.environ["KMS_SEED_FILE"] = args.seed_file
    settings = _settings()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    services = _services(settings)
    set_services(services)
    try:
        access_key, credentials_file = bootstrap_credentials(services, os.environ)
    except PrincipalError as exc:  # a conflicting credential, or a project of another domain
        print(f"skms: {exc}", file=sys.stderr)
        return 2
    if settings.seed_file is not None:
        from skms.local.seed import SeedError, seed_keys

        try:
            seeded = seed_keys(services, settings.seed_file, os.environ)
        except SeedError as exc:
            print(f"skms: {exc}", file=sys.stderr)
            set_services(None)
            return 2
        logger.info(
            "seed file applied",
            extra={"seeded_keys_created": len(seeded.created), "seeded_keys_existing": len(seeded.existing)},
        )
    emulator = ApiGatewayEmulator(Path(args.template))
    try:
        server = LocalServer((args.host, args.port), emulator)
    except ConfigError as exc:  # a KMS_SERVE_* limit that is not a valid number
        print(f"skms: {exc}", file=sys.stderr)
        return 2
    scheduler = Scheduler(Path(args.template), float(os.environ.get("KMS_SCHEDULE_INTERVAL_SECONDS", "60")))
    scheduler.start()

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    logger.info(
        "skms listening",
        extra={
            "url": f"http://{host}:{port}",
            "routes": len(emulator.routes),
            "storage": settings.storage,
            "data_dir": str(settings.data_dir.resolve()),
            "access_key": access_key,
            "log_level": logging.getLevelName(logger.log_level),
        },
    )
    where = f"credentials in {credentials_file}" if credentials_file else "credentials from HUAWEICLOUD_SDK_*"
    print(
        f"skms: serving {len(emulator.routes)} routes on http://{host}:{port} "
        f"(access key {access_key}, {where})",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.stop()
        server.server_close()
        set_services(None)
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from skms.openapi import build_document, render

    text = render(build_document(Path(args.template)))
    if args.check:
        current = Path(args.output).read_text(encoding="utf-8") if Path(args.output).is_file() else ""
        if current != text:
            print(f"skms: {args.output} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def _events(args: argparse.Namespace) -> int:
    from skms.local.sample_events import SampleEventError, sample_events, stale

    try:
        events = sample_events(Path(args.template), Path(args.events_dir))
    except SampleEventError as exc:
        print(f"skms: {exc}", file=sys.stderr)
        return 2
    outdated = stale(events)
    if args.check:
        for path in outdated:
            print(f"skms: {path} is out of date: run `make events`", file=sys.stderr)
        return 1 if outdated else 0
    for event in events:
        if event.path in outdated:
            event.path.write_text(event.text, encoding="utf-8")
            print(f"wrote {event.path}")
    return 0


def _rebuild_counts(args: argparse.Namespace) -> int:
    """Recount each project's key counters from its keys (DynamoKeyStore.rebuild_counts): run once
    per project after deploying a version that added counters, while the project sees no writes."""
    from skms.storage.dynamodb import DynamoKeyStore, DynamoTable, provision

    client = _dynamodb_client(args.dynamodb_endpoint)
    provision.require_table(client, args.table_name)
    store = DynamoKeyStore(DynamoTable(args.table_name, client))
    counted = {project: store.rebuild_counts(project) for project in _projects(args.project_id)}
    print(json.dumps({"table": args.table_name, "live_keys": counted}, indent=2))
    return 0


def _index_principals(args: argparse.Namespace) -> int:
    """Write the listing items of principals made before they existed (DynamoPrincipalStore.
    index_listings: one Scan, idempotent), so that `skms user|access-key|policy list` query them."""
    from skms.storage.dynamodb import DynamoPrincipalStore, DynamoTable, provision

    client = _dynamodb_client(args.dynamodb_endpoint)
    provision.require_table(client, args.table_name)
    indexed = DynamoPrincipalStore(DynamoTable(args.table_name, client)).index_listings()
    print(json.dumps({"table": args.table_name, "indexed": indexed}, indent=2))
    return 0


def _create_table(args: argparse.Namespace) -> int:
    """Create the DynamoDB table of the AWS backend from the template (idempotent)."""
    from skms.sam_template import load_template
    from skms.storage.dynamodb import provision

    _apply_store_options(args)
    settings = _settings()
    if settings.table_name is None:
        print("skms: name the table with --table-name (or KMS_TABLE_NAME)", file=sys.stderr)
        return 2
    try:
        properties = provision.table_properties(load_template(Path(args.template)))
    except (OSError, ValueError) as exc:
        print(f"skms: {args.template}: {exc}", file=sys.stderr)
        return 2
    client = _dynamodb_client(settings.dynamodb_endpoint)
    created = provision.create_table(client, settings.table_name, properties)
    print(json.dumps({"table": settings.table_name, "created": created}, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Print the local store's integrity problems as JSON; 0 if none, 1 if any, 2 if no store."""
    from skms.storage.port import StorageFailure
    from skms.storage.sqlite import open_database

    _apply_store_options(args)
    settings = _settings()
    if settings.storage != "sqlite":
        print("skms: check works on the local SQLite store only", file=sys.stderr)
        return 2
    path = settings.sqlite_path
    try:
        database = open_database(path, setup_schema=False)  # as it is: opening must not repair it
    except StorageFailure:
        print(f"skms: no store at {path}", file=sys.stderr)
        return 2
    try:
        problems = database.check_integrity()
    except StorageFailure as exc:  # a file SQLite cannot even read is the worst problem of all
        problems = [str(exc)]
    finally:
        database.close()
    print(json.dumps({"path": str(path), "ok": not problems, "problems": problems}, indent=2))
    return 1 if problems else 0


def _projects(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for value in values for v in value.split(",") if v))


def _print(document: object) -> int:
    print(json.dumps(document, indent=2))
    return 0


def _fail(message: str, code: int = 1) -> int:
    print(f"skms: {message}", file=sys.stderr)
    return code


def _management(args: argparse.Namespace) -> tuple[Services, str]:
    """The services of the store options, and the domain of ``--domain-id`` (else the one the
    local server bootstraps: HUAWEICLOUD_SDK_DOMAIN_ID, else KMS_DOMAIN_ID)."""
    _apply_store_options(args)
    settings = _settings()
    domain_id = (
        getattr(args, "domain_id", None) or os.environ.get("HUAWEICLOUD_SDK_DOMAIN_ID") or settings.domain_id
    )
    return _services(settings), domain_id


def _read_password() -> str | None:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("skms: the password is read from standard input and must not be empty", file=sys.stderr)
        return None
    return password


def _user_document(user: UserRecord) -> dict[str, Any]:
    """A user as the CLI shows it: never the password hash."""
    return {
        "user_id": user.user_id,
        "name": user.name,
        "domain_id": user.domain_id,
        "domain_name": user.domain_name,
        "project_ids": list(user.project_ids),
        "policies": list(user.policies),
        "enabled": user.enabled,
        "created_at": user.created_at,
    }


def _access_key_document(record: AccessKeyRecord) -> dict[str, Any]:
    """An access key as the CLI lists it: never the secret (wrapped or not)."""
    return {
        "access": record.access_key,
        "user_id": record.user_id,
        "domain_id": record.domain_id,
        "project_ids": list(record.project_ids),
        "enabled": record.enabled,
        "created_at": record.created_at,
        "description": record.description,
    }


def _access_key_create(args: argparse.Namespace) -> int:
    from skms.auth.principals import claim_projects, create_access_key, create_user_access_key, new_access_key

    services, domain_id = _management(args)
    if args.user:
        if args.project_id:
            return _fail("a user's access key has the user's projects: give --user or --project-id", 2)
        record, secret_key = create_user_access_key(services, domain_id=domain_id, name=args.user)
        return _print(
            {
                "access": record.access_key,
                "secret": secret_key,
                "user_id": record.user_id,
                "domain_id": domain_id,
                "project_ids": list(record.project_ids),
            }
        )
    projects = _projects(args.project_id or [])
    if not projects:
        return _fail("an account access key needs --project-id (or give --user)", 2)
    claim_projects(services, domain_id, projects)
    access_key, secret_key = new_access_key()
    create_access_key(
        services,
        domain_id=domain_id,
        project_ids=projects,
        access_key=access_key,
        secret_key=secret_key,
        description=args.description or "",
    )
    return _print(
        {
            "access": access_key,
            "secret": secret_key,
            "user_id": "",
            "project_id": projects[0],
            "project_ids": list(projects),
            "domain_id": domain_id,
        }
    )


def _access_key_set(args: argparse.Namespace) -> int:
    from skms.auth.principals import delete_access_key, set_access_key_enabled

    services, _ = _management(args)
    if args.action == "delete":
        delete_access_key(services, args.access)
        return _print({"access": args.access, "deleted": True})
    record = set_access_key_enabled(services, args.access, args.action == "enable")
    return _print(_access_key_document(record))


def _access_key_list(args: argparse.Namespace) -> int:
    services, domain_id = _management(args)
    records = services.stores.principals.list_access_keys(None if args.all_domains else domain_id)
    return _print({"access_keys": [_access_key_document(r) for r in records]})


def _user_create(args: argparse.Namespace) -> int:
    from skms.auth.principals import create_user

    password = _read_password()
    if password is None:
        return 2
    services, domain_id = _management(args)
    user = create_user(
        services,
        name=args.name,
        password=password,
        domain_id=domain_id,
        domain_name=args.domain_name or domain_id,
        project_ids=_projects(args.project_id),
        policies=tuple(args.policy or ()),
    )
    return _print(_user_document(user))


def _user_change(args: argparse.Namespace) -> int:
    from skms.auth import principals

    if args.action == "set-password":
        password = _read_password()
        if password is None:
            return 2
        services, domain_id = _management(args)
        user = principals.set_user_password(services, domain_id, args.name, password)
        return _print(_user_document(user))
    services, domain_id = _management(args)
    if args.action == "delete":
        user = principals.delete_user(services, domain_id, args.name)
        return _print({"user_id": user.user_id, "name": user.name, "domain_id": domain_id, "deleted": True})
    if args.action == "set-projects":
        user = principals.set_user_projects(services, domain_id, args.name, _projects(args.project_id))
    else:
        user = principals.set_user_enabled(services, domain_id, args.name, args.action == "enable")
    return _print(_user_document(user))


def _user_list(args: argparse.Namespace) -> int:
    services, domain_id = _management(args)
    users = services.stores.principals.list_users(None if args.all_domains else domain_id)
    return _print({"users": [_user_document(u) for u in users]})


def _policy_create(args: argparse.Namespace) -> int:
    from skms.auth.principals import create_policy

    try:
        document = Path(args.document).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read the policy document {args.document}: {exc.__class__.__name__}", 2)
    services, domain_id = _management(args)
    record = create_policy(services, domain_id=domain_id, name=args.name, document=document)
    return _print({"policy_id": record.policy_id, "name": record.name, "domain_id": domain_id})


def _policy_attach(args: argparse.Namespace) -> int:
    from skms.auth.principals import attach_policy, detach_policy

    services, domain_id = _management(args)
    change = attach_policy if args.action == "attach" else detach_policy
    user = change(services, domain_id, args.user, args.policy)
    return _print(_user_document(user))


def _policy_list(args: argparse.Namespace) -> int:
    from skms.iam.policy import SYSTEM_POLICIES

    services, domain_id = _management(args)
    custom = services.stores.principals.list_policies(domain_id)
    return _print(
        {
            "system": sorted(SYSTEM_POLICIES),
            "custom": [
                {
                    "policy_id": r.policy_id,
                    "name": r.name,
                    "domain_id": r.domain_id,
                    "created_at": r.created_at,
                }
                for r in custom
            ],
        }
    )


def _project_claim(args: argparse.Namespace) -> int:
    from skms.auth.principals import claim_projects

    services, domain_id = _management(args)
    projects = _projects(args.project_id)
    claim_projects(services, domain_id, projects)
    return _print({"domain_id": domain_id, "project_ids": list(projects)})


def _token_key_rotate(args: argparse.Namespace) -> int:
    from skms.auth.principals import rotate_token_key

    services, _ = _management(args)
    return _print({"token_key": rotate_token_key(services)})


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="local store and root key directory (KMS_DATA_DIR)")
    parser.add_argument("--table-name", help="a deployed stack's DynamoDB table (KMS_TABLE_NAME)")
    parser.add_argument("--root-key-id", help="the stack's root AWS KMS key id or ARN (KMS_ROOT_KEY_ID)")
    parser.add_argument("--dynamodb-endpoint", help="DynamoDB endpoint URL instead of SQLite")


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; a store or root key that cannot be used is one line, exit 1."""
    from skms.auth.principals import PrincipalError
    from skms.root_keys.aws_kms import RootKeyUnavailable
    from skms.storage.port import PrincipalExists, StorageFailure

    try:
        result: int = args.run(args)
    except PrincipalError as exc:  # unknown user/key/policy, a project of another domain, ...
        print(f"skms: {exc}", file=sys.stderr)
        return 1
    except PrincipalExists as exc:
        print(f"skms: {exc} already exists in that domain", file=sys.stderr)
        return 1
    except StorageFailure as exc:  # names the table or the driver's error code, never a value
        print(f"skms: {exc}", file=sys.stderr)
        return 1
    except RootKeyUnavailable as exc:
        print(f"skms: the root key in AWS KMS is unavailable ({exc})", file=sys.stderr)
        return 1
    return result


def _domain_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--domain-id", help="domain (account) id; default HUAWEICLOUD_SDK_DOMAIN_ID, else KMS_DOMAIN_ID"
    )


def _add_principal_commands(commands: Any) -> None:
    """access-key, user, policy, project and token-key: the credential lifecycle (README, Users)."""
    _add_access_key_commands(commands)
    _add_user_commands(commands)
    _add_policy_commands(commands)


def _add_access_key_commands(commands: Any) -> None:
    access_key = commands.add_parser("access-key", help="manage AK/SK credentials").add_subparsers(
        dest="action", required=True
    )
    ak_create = access_key.add_parser("create", help="create an access key and print it as JSON")
    ak_create.add_argument("--user", help="the user (name) who owns the key; without it, the account's key")
    ak_create.add_argument("--project-id", action="append", help="an account key's project (repeatable)")
    _domain_option(ak_create)
    ak_create.add_argument("--description")
    _store_options(ak_create)
    ak_create.set_defaults(run=_access_key_create)
    for action, text in (
        ("disable", "disable an access key"),
        ("enable", "enable an access key"),
        ("delete", "delete an access key"),
    ):
        command = access_key.add_parser(action, help=text)
        command.add_argument("--access", required=True, help="the access key id (AK)")
        _store_options(command)
        command.set_defaults(run=_access_key_set)
    ak_list = access_key.add_parser("list", help="list access keys (never their secrets)")
    _domain_option(ak_list)
    ak_list.add_argument("--all-domains", action="store_true", help="every domain's keys")
    _store_options(ak_list)
    ak_list.set_defaults(run=_access_key_list)


def _add_user_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="manage IAM users").add_subparsers(dest="action", required=True)
    user_create = user.add_parser("create", help="create a user; the password is read from stdin")
    user_create.add_argument("--name", required=True)
    user_create.add_argument(
        "--project-id", action="append", required=True, help="allowed project (repeatable)"
    )
    _domain_option(user_create)
    user_create.add_argument("--domain-name", help="domain name used to log in; default the domain id")
    user_create.add_argument(
        "--policy", action="append", help="attach this policy (repeatable; e.g. 'KMS Administrator')"
    )
    _store_options(user_create)
    user_create.set_defaults(run=_user_create)
    for action, text in (
        ("disable", "disable a user (its tokens and access keys stop working)"),
        ("enable", "enable a user"),
        ("delete", "delete a user and its access keys"),
        ("set-password", "set a user's password, read from stdin (its tokens stop working)"),
        ("set-projects", "set a user's projects (its tokens stop working)"),
    ):
        command = user.add_parser(action, help=text)
        command.add_argument("--name", required=True)
        if action == "set-projects":
            command.add_argument("--project-id", action="append", required=True, help="project (repeatable)")
        _domain_option(command)
        _store_options(command)
        command.set_defaults(run=_user_change)
    user_list = user.add_parser("list", help="list users (never their password hashes)")
    _domain_option(user_list)
    user_list.add_argument("--all-domains", action="store_true", help="every domain's users")
    _store_options(user_list)
    user_list.set_defaults(run=_user_list)


def _add_policy_commands(commands: Any) -> None:
    policy = commands.add_parser("policy", help="manage IAM policies").add_subparsers(
        dest="action", required=True
    )
    policy_create = policy.add_parser("create", help="create a custom policy from a JSON document")
    policy_create.add_argument("--name", required=True)
    policy_create.add_argument("--document", required=True, help="the policy document (a JSON file)")
    _domain_option(policy_create)
    _store_options(policy_create)
    policy_create.set_defaults(run=_policy_create)
    for action in ("attach", "detach"):
        command = policy.add_parser(action, help=f"{action} a policy (custom or system) to/from a user")
        command.add_argument("--user", required=True, help="the user's name")
        command.add_argument("--policy", required=True, help="the policy's name")
        _domain_option(command)
        _store_options(command)
        command.set_defaults(run=_policy_attach)
    policy_list = policy.add_parser("list", help="list the system policies and the domain's custom ones")
    _domain_option(policy_list)
    _store_options(policy_list)
    policy_list.set_defaults(run=_policy_list)

    project = commands.add_parser("project", help="project ownership").add_subparsers(
        dest="action", required=True
    )
    claim = project.add_parser("claim", help="claim projects for a domain (refused if another owns one)")
    claim.add_argument("--project-id", action="append", required=True, help="project (repeatable)")
    _domain_option(claim)
    _store_options(claim)
    claim.set_defaults(run=_project_claim)

    token_key = commands.add_parser("token-key", help="the token-signing key").add_subparsers(
        dest="action", required=True
    )
    rotate = token_key.add_parser("rotate", help="make a new token-signing key current")
    _store_options(rotate)
    rotate.set_defaults(run=_token_key_rotate)


def _add_create_table(commands: Any) -> None:
    create_table = commands.add_parser(
        "create-table", help="create the DynamoDB table from template.yaml (an existing one is fine)"
    )
    create_table.add_argument("--table-name", help="the table to create (KMS_TABLE_NAME)")
    create_table.add_argument("--dynamodb-endpoint", help="DynamoDB endpoint URL (KMS_DYNAMODB_ENDPOINT)")
    create_table.add_argument(
        "--template", default=str(_default_template()), help="the SAM template whose KeysTable to create"
    )
    create_table.set_defaults(run=_create_table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skms", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API locally, emulating API Gateway")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    serve.add_argument("--template", default=str(_default_template()), help="the SAM template to serve")
    _store_options(serve)
    serve.add_argument("--seed-file", help="YAML file of keys to create at start if absent (KMS_SEED_FILE)")
    serve.set_defaults(run=_serve)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document generated from the models")
    openapi.add_argument("--template", default=str(_default_template()), help="the SAM template to describe")
    openapi.add_argument("--output", default="openapi.json", help="where to write it; - for stdout")
    openapi.add_argument("--check", action="store_true", help="fail if --output differs from it")
    openapi.set_defaults(run=_openapi)

    events = commands.add_parser("events", help="generate events/*/api.json from direct.json and the routes")
    events.add_argument("--template", default=str(_default_template()), help="the SAM template of the routes")
    events.add_argument("--events-dir", default="events", help="the sample events directory")
    events_mode = events.add_mutually_exclusive_group(required=True)
    events_mode.add_argument("--write", action="store_true", help="write the api.json files that differ")
    events_mode.add_argument("--check", action="store_true", help="fail if an api.json is out of date")
    events.set_defaults(run=_events)

    _add_principal_commands(commands)

    rebuild = commands.add_parser(
        "rebuild-counts", help="recount a DynamoDB table's per-project key counters (after an upgrade)"
    )
    rebuild.add_argument("--table-name", required=True, help="the stack's DynamoDB table")
    rebuild.add_argument(
        "--project-id", action="append", required=True, help="project to recount (repeatable)"
    )
    rebuild.add_argument("--dynamodb-endpoint", help="DynamoDB endpoint URL")
    rebuild.set_defaults(run=_rebuild_counts)

    index = commands.add_parser(
        "index-principals",
        help="index a DynamoDB table's principals made before the listings existed (after an upgrade)",
    )
    index.add_argument("--table-name", required=True, help="the stack's DynamoDB table")
    index.add_argument("--dynamodb-endpoint", help="DynamoDB endpoint URL")
    index.set_defaults(run=_index_principals)

    _add_create_table(commands)

    check = commands.add_parser("check", help="check the local store's integrity (exit 1 on problems)")
    check.add_argument("--data-dir", help="local store directory (KMS_DATA_DIR)")
    check.set_defaults(run=_check)

    args = parser.parse_args(argv)
    os.umask(0o077)  # the store, root key and credentials files are private to this user
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
