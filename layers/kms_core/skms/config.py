"""Configuration, modelled once and read from the environment at cold start (see README table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(Exception):
    """The environment does not describe a usable configuration."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    storage: Literal["sqlite", "dynamodb"] = "sqlite"
    data_dir: Path = Path(".kms-local")
    table_name: str | None = None
    dynamodb_endpoint: str | None = None
    root_key: Literal["local", "aws-kms"] = "local"
    root_key_id: str | None = None
    root_key_file: Path | None = None
    kms_endpoint: str | None = None
    domain_id: str = Field(default="0" * 32, pattern=r"^[0-9a-zA-Z]{1,64}$")
    region_id: str = "local"
    key_quota: int = Field(default=20000, ge=1)
    # skms serve only: a YAML file of keys created at start if they do not exist (skms.local.seed).
    seed_file: Path | None = None
    # Tag keys one key may carry (access-control.md §5: 10 in the API docs, 20 in the console's).
    # At most 20, so that one tag change stays within one DynamoDB transaction (skms.storage.dynamodb.tags).
    tags_per_key: int = Field(default=10, ge=1, le=20)
    cache_ttl_seconds: float = Field(default=300.0, gt=0)
    cache_max_entries: int = Field(default=1024, ge=1)
    # How long a warm authorizer trusts an access key's record (enabled, projects) before reading
    # it again; 0 reads it on every request. A disabled key stops working within this time.
    access_key_cache_seconds: float = Field(default=2.0, ge=0)
    # POST /v3/auth/tokens: after this many failed passwords for one user name within one lockout
    # window, further attempts are refused without checking the password until the window ends.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    # A signed (AK/SK) request is executed at most once within its X-Sdk-Date window (spec §F6):
    # "state-changing" guards the operations that create or change keys (a replay gets the first
    # answer), "all" also refuses replays of every other operation, "off" guards none.
    replay_protection: Literal["state-changing", "all", "off"] = "state-changing"
    # Direct (event-driven) invocations: the projects they may act in, comma-separated; empty
    # (the default) refuses every direct invocation of a project-scoped function.
    direct_invocation_projects: str = Field(default="", pattern=r"^[A-Za-z0-9_,\s-]*$")

    @model_validator(mode="after")
    def _check_dependencies(self) -> Settings:
        if self.storage == "dynamodb" and not self.table_name:
            raise ValueError("KMS_TABLE_NAME is required when KMS_STORAGE=dynamodb")
        if self.root_key == "aws-kms" and not self.root_key_id:
            raise ValueError("KMS_ROOT_KEY_ID is required when KMS_ROOT_KEY=aws-kms")
        return self

    @property
    def direct_projects(self) -> frozenset[str]:
        """The projects direct invocations may act in (KMS_DIRECT_INVOCATION_PROJECTS)."""
        return frozenset(p.strip() for p in self.direct_invocation_projects.split(",") if p.strip())

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "kms.sqlite3"

    @property
    def local_root_key_path(self) -> Path:
        return self.root_key_file or (self.data_dir / "root.key")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw = {
            field: env[f"KMS_{field.upper()}"]
            for field in cls.model_fields
            if env.get(f"KMS_{field.upper()}") not in (None, "")
        }
        try:
            return cls.model_validate(raw, strict=False)
        except ValidationError as exc:
            problems = "; ".join(
                f"KMS_{str(e['loc'][0]).upper() if e['loc'] else ''}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigError(f"invalid configuration: {problems}") from None
