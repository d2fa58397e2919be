"""Fixtures shared by every tier. Fakes of ports live in layers/kms_core/skms/storage/memory/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing in the tests may reach a real AWS account.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "skms")

from skms.caller import Caller
from skms.config import Settings
from skms.crypto.cache import TtlLruCache
from skms.crypto.root_key import LocalRootKey
from skms.keyring import Keyring
from skms.runtime import Services, set_services
from skms.storage import memory, sqlite
from skms.storage.port import Stores

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"
PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
# Direct invocations are off by default (KMS_DIRECT_INVOCATION_PROJECTS): the tests that invoke
# handlers directly (events/*/direct.json) enable them, explicitly, for the test projects only.
DIRECT_PROJECTS = f"{PROJECT_ID},{OTHER_PROJECT_ID}"


def make_services(settings: Settings, stores: Stores | None = None) -> Services:
    root = LocalRootKey.from_file(settings.local_root_key_path)
    keyring = Keyring(root, TtlLruCache(settings.cache_max_entries, settings.cache_ttl_seconds))
    return Services(settings, stores or sqlite.open_stores(settings.sqlite_path), keyring)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "kms-data", direct_invocation_projects=DIRECT_PROJECTS)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """Services on SQLite in a temp dir, installed process-wide for handlers."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    built = make_services(settings)
    set_services(built)
    yield built
    set_services(None)


@pytest.fixture
def memory_services(settings: Settings) -> Iterator[Services]:
    """Services on the in-memory fake store (fast logic tests)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    built = make_services(settings, memory.open_stores())
    set_services(built)
    yield built
    set_services(None)


@pytest.fixture
def caller() -> Caller:
    return Caller(project_id=PROJECT_ID, domain_id="d" * 32, request_id="req-1")
