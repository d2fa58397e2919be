"""The ``skms`` command line: ``skms serve`` runs the local API server."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from skms.config import ConfigError, Settings


def _default_template() -> Path:
    here = Path.cwd() / "template.yaml"
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[3] / "template.yaml"


def _serve(args: argparse.Namespace) -> int:
    from skms.local.server import ApiGatewayEmulator, LocalServer
    from skms.observability import logger
    from skms.runtime import build_services, set_services

    if args.data_dir:
        os.environ["KMS_DATA_DIR"] = args.data_dir
    if args.dynamodb_endpoint:
        os.environ["KMS_STORAGE"] = "dynamodb"
        os.environ["KMS_DYNAMODB_ENDPOINT"] = args.dynamodb_endpoint
    if args.table_name:
        os.environ["KMS_TABLE_NAME"] = args.table_name
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"skms: {exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    set_services(build_services(settings))
    emulator = ApiGatewayEmulator(Path(args.template))
    server = LocalServer((args.host, args.port), emulator)

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
        },
    )
    print(f"skms: serving {len(emulator.routes)} routes on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        set_services(None)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skms", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API locally, emulating API Gateway")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    serve.add_argument("--data-dir", help="where the local store and root key live (KMS_DATA_DIR)")
    serve.add_argument("--template", default=str(_default_template()), help="the SAM template to serve")
    serve.add_argument("--dynamodb-endpoint", help="use DynamoDB at this endpoint instead of SQLite")
    serve.add_argument("--table-name", help="DynamoDB table name (KMS_TABLE_NAME)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
