"""The AWS backend of the end-to-end suite (``SKMS_E2E_BACKEND=dynamodb``): ``skms serve`` on a
DynamoDB table over HTTP, with its root key in AWS KMS, both served by one ``moto_server``
subprocess on 127.0.0.1 (its own process, so it does not share the test runner's interpreter).

Each ``skms serve`` of the suite gets a table of its own, created with ``skms create-table`` (the
command a developer runs), so tests that expect a fresh store get one; all share one root key.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import boto3

if TYPE_CHECKING:
    from tests.support.secret_scan import SecretRegistry

BACKEND_VARIABLE = "SKMS_E2E_BACKEND"
BACKENDS = ("sqlite", "dynamodb")
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0
REGION = "us-east-1"
# Fake credentials: moto accepts any; nothing here can reach AWS (every client has the endpoint).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
# Variables of the caller's environment that could point a client somewhere else.
AWS_VARIABLES_DROPPED = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_KMS",
)


def backend() -> str:
    """The backend the e2e suite runs on (``sqlite`` unless ``SKMS_E2E_BACKEND`` names another)."""
    name = os.environ.get(BACKEND_VARIABLE) or "sqlite"
    if name not in BACKENDS:
        raise RuntimeError(f"{BACKEND_VARIABLE}={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def on_dynamodb() -> bool:
    return backend() == "dynamodb"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _executable(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass
class MotoBackend:
    """One ``moto_server`` (DynamoDB and KMS) with one root key; started by :func:`start`."""

    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    root_key_id: str = ""

    def start(self) -> None:
        port = _free_port()
        self.endpoint = f"http://{HOST}:{port}"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("moto_server_serial.py")),
                    "-H",
                    HOST,
                    "-p",
                    str(port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self._clean_env(), **AWS_ENV},
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text(errors='replace')}")
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"moto_server accepted no connection within {START_TIMEOUT_S}s"
                    ) from None
                time.sleep(0.05)
        created = self._client("kms").create_key(Description="skms e2e root key")
        self.root_key_id = created["KeyMetadata"]["Arn"]

    @staticmethod
    def _clean_env() -> dict[str, str]:
        return {
            name: value
            for name, value in os.environ.items()
            if name not in AWS_VARIABLES_DROPPED and not name.startswith("AWS_")
        }

    def new_table(self, cwd: Path) -> str:
        """A new, empty table, created the way a developer does: ``skms create-table``."""
        table_name = f"skms-e2e-{uuid.uuid4().hex[:12]}"
        done = subprocess.run(
            [_executable("skms"), "create-table", "--table-name", table_name],
            cwd=cwd,
            env={**self._clean_env(), **self.store_env(table_name)},
            capture_output=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"skms create-table failed: {done.stderr.decode(errors='replace')}")
        return table_name

    def store_env(self, table_name: str) -> dict[str, str]:
        """The environment of an ``skms`` process on ``table_name`` with the AWS KMS root key."""
        return {
            **AWS_ENV,
            "KMS_STORAGE": "dynamodb",
            "KMS_TABLE_NAME": table_name,
            "KMS_DYNAMODB_ENDPOINT": self.endpoint,
            "KMS_ROOT_KEY": "aws-kms",
            "KMS_ROOT_KEY_ID": self.root_key_id,
            "KMS_KMS_ENDPOINT": self.endpoint,
        }

    def _client(self, service: Literal["dynamodb", "kms"]) -> Any:
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        }
        return boto3.client(service, **options)

    def recover_at_rest(self, table_name: str, registry: SecretRegistry) -> list[str]:
        """Record every CMK's material, every access key's SK and the token key of one table,
        unwrapped with the root key as only its holder can (the DynamoDB counterpart of
        :func:`tests.support.secret_scan.recover_at_rest`); returns what could not be read.
        Needs moto_server still running: it is stopped at exit, after the session's scan."""
        from skms.auth.principals import TOKEN_KEY_NAME, _secret_context, _service_secret_context
        from skms.crypto.errors import CryptoError
        from skms.domain import AccessKeyRecord
        from skms.keyring import version_context
        from skms.root_keys.aws_kms import AwsKmsRootKey
        from skms.storage.dynamodb.keys import _record
        from skms.storage.dynamodb.principals import _principal

        root = AwsKmsRootKey(self.root_key_id, client=self._client("kms"))
        unreadable: list[str] = []
        # A test-only look at the whole (small) table: the service itself never scans.
        for page in self._client("dynamodb").get_paginator("scan").paginate(TableName=table_name):
            for item in page["Items"]:
                pk, sk = item["PK"]["S"], item["SK"]["S"]
                if pk.startswith("P#") and sk.startswith("K#"):
                    record = _record(item)
                    for held in record.versions.versions:
                        if not held.is_live:
                            continue
                        try:
                            registry.add(
                                f"material of {record.key_spec} key {record.key_id}",
                                root.unwrap(held.wrapped, version_context(record, held)),
                            )
                        except CryptoError:
                            unreadable.append(f"{table_name}: material {held.number} of key {record.key_id}")
                    continue
                if sk == "AK":
                    access_key = _principal(AccessKeyRecord, item)
                    context = _secret_context(access_key.access_key, access_key.domain_id)
                    wrapped, label = access_key.secret_wrapped, f"SK of {access_key.access_key}"
                elif pk == f"SYS#{TOKEN_KEY_NAME}" and sk == "SECRET":
                    context = _service_secret_context(TOKEN_KEY_NAME)
                    wrapped, label = bytes(item["value"]["B"]), "token-signing key"
                else:
                    continue
                try:
                    registry.add(f"{label} in {table_name}", root.unwrap(wrapped, context))
                except CryptoError:
                    unreadable.append(f"{table_name}: {label}")
        return unreadable

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
