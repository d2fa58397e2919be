"""The ``skms`` command line.

- ``skms serve``: the local API server (API Gateway emulated from template.yaml).
- ``skms openapi [--output openapi.json] [--check]``: the OpenAPI document, generated from the models.
- ``skms events --write | --check``: events/*/api.json, generated from direct.json and the routes.
- ``skms access-key create --project-id P [--domain-id D]``: prints access, secret, project_id, domain_id.
- ``skms user create --name N --project-id P [--domain-id D]``: reads the password from stdin.
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
    from skms.auth.principals import CredentialConflict
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
    except CredentialConflict as exc:
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


def _access_key_create(args: argparse.Namespace) -> int:
    from skms.auth.principals import create_access_key, new_access_key

    _apply_store_options(args)
    settings = _settings()
    services = _services(settings)
    domain_id = args.domain_id or settings.domain_id
    access_key, secret_key = new_access_key()
    projects = _projects(args.project_id)
    create_access_key(
        services,
        domain_id=domain_id,
        project_ids=projects,
        access_key=access_key,
        secret_key=secret_key,
        description=args.description or "",
    )
    print(
        json.dumps(
            {
                "access": access_key,
                "secret": secret_key,
                "project_id": projects[0],
                "project_ids": list(projects),
                "domain_id": domain_id,
            },
            indent=2,
        )
    )
    return 0


def _user_create(args: argparse.Namespace) -> int:
    from skms.auth.principals import create_user
    from skms.storage.port import PrincipalExists

    _apply_store_options(args)
    settings = _settings()
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("skms: the password is read from standard input and must not be empty", file=sys.stderr)
        return 2
    services = _services(settings)
    domain_id = args.domain_id or settings.domain_id
    try:
        user = create_user(
            services,
            name=args.name,
            password=password,
            domain_id=domain_id,
            domain_name=args.domain_name or domain_id,
            project_ids=_projects(args.project_id),
        )
    except PrincipalExists:
        print(f"skms: user {args.name} already exists in that domain", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "user_id": user.user_id,
                "name": user.name,
                "domain_id": user.domain_id,
                "domain_name": user.domain_name,
                "project_ids": list(user.project_ids),
            },
            indent=2,
        )
    )
    return 0


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="local store and root key directory (KMS_DATA_DIR)")
    parser.add_argument("--table-name", help="a deployed stack's DynamoDB table (KMS_TABLE_NAME)")
    parser.add_argument("--root-key-id", help="the stack's root AWS KMS key id or ARN (KMS_ROOT_KEY_ID)")
    parser.add_argument("--dynamodb-endpoint", help="DynamoDB endpoint URL instead of SQLite")


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; a store or root key that cannot be used is one line, exit 1."""
    from skms.root_keys.aws_kms import RootKeyUnavailable
    from skms.storage.port import StorageFailure

    try:
        result: int = args.run(args)
    except StorageFailure as exc:  # names the table or the driver's error code, never a value
        print(f"skms: {exc}", file=sys.stderr)
        return 1
    except RootKeyUnavailable as exc:
        print(f"skms: the root key in AWS KMS is unavailable ({exc})", file=sys.stderr)
        return 1
    return result


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

    access_key = commands.add_parser("access-key", help="manage AK/SK credentials").add_subparsers(
        dest="action", required=True
    )
    ak_create = access_key.add_parser("create", help="create an access key and print it as JSON")
    ak_create.add_argument(
        "--project-id", action="append", required=True, help="allowed project (repeatable)"
    )
    ak_create.add_argument("--domain-id", help="domain (account) id; default KMS_DOMAIN_ID")
    ak_create.add_argument("--description")
    _store_options(ak_create)
    ak_create.set_defaults(run=_access_key_create)

    user = commands.add_parser("user", help="manage users of the token endpoint").add_subparsers(
        dest="action", required=True
    )
    user_create = user.add_parser("create", help="create a user; the password is read from stdin")
    user_create.add_argument("--name", required=True)
    user_create.add_argument(
        "--project-id", action="append", required=True, help="allowed project (repeatable)"
    )
    user_create.add_argument("--domain-id", help="domain (account) id; default KMS_DOMAIN_ID")
    user_create.add_argument("--domain-name", help="domain name used to log in; default the domain id")
    _store_options(user_create)
    user_create.set_defaults(run=_user_create)

    rebuild = commands.add_parser(
        "rebuild-counts", help="recount a DynamoDB table's per-project key counters (after an upgrade)"
    )
    rebuild.add_argument("--table-name", required=True, help="the stack's DynamoDB table")
    rebuild.add_argument(
        "--project-id", action="append", required=True, help="project to recount (repeatable)"
    )
    rebuild.add_argument("--dynamodb-endpoint", help="DynamoDB endpoint URL")
    rebuild.set_defaults(run=_rebuild_counts)

    _add_create_table(commands)

    check = commands.add_parser("check", help="check the local store's integrity (exit 1 on problems)")
    check.add_argument("--data-dir", help="local store directory (KMS_DATA_DIR)")
    check.set_defaults(run=_check)

    args = parser.parse_args(argv)
    os.umask(0o077)  # the store, root key and credentials files are private to this user
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
