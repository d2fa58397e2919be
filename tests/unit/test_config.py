"""Configuration is read once from the environment and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from skms.config import ConfigError, Settings


def test_defaults_are_local() -> None:
    settings = Settings.from_env({})
    assert (settings.storage, settings.root_key, settings.data_dir) == ("sqlite", "local", Path(".kms-local"))
    assert settings.sqlite_path == Path(".kms-local/kms.sqlite3")


def test_environment_overrides() -> None:
    settings = Settings.from_env(
        {"KMS_STORAGE": "dynamodb", "KMS_TABLE_NAME": "t", "KMS_KEY_QUOTA": "5", "KMS_DATA_DIR": "/x"}
    )
    assert (settings.storage, settings.table_name, settings.key_quota, settings.data_dir) == (
        "dynamodb",
        "t",
        5,
        Path("/x"),
    )


@pytest.mark.parametrize(
    "env",
    [
        {"KMS_STORAGE": "dynamodb"},
        {"KMS_ROOT_KEY": "aws-kms"},
        {"KMS_STORAGE": "postgres"},
        {"KMS_KEY_QUOTA": "zero"},
        {"KMS_REPLAY_PROTECTION": "sometimes"},
        {"KMS_DIRECT_INVOCATION_PROJECTS": "p1;p2"},
    ],
)
def test_incomplete_or_wrong_configuration_fails_at_cold_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_a_missing_root_key_beside_an_existing_store_refuses_to_start(tmp_path: Path) -> None:
    from skms.runtime import build_services

    # Given a local store created with a root key
    settings = Settings(data_dir=tmp_path)
    build_services(settings).stores.close()
    assert settings.sqlite_path.exists()
    # When the root key file is lost / Then the next start refuses instead of making a new key
    settings.local_root_key_path.unlink()
    with pytest.raises(ConfigError, match="root key"):
        build_services(settings)
    assert not settings.local_root_key_path.exists()


def test_replay_protection_is_on_and_direct_invocations_off_by_default() -> None:
    defaults = Settings.from_env({})
    assert defaults.replay_protection == "state-changing"
    assert defaults.direct_projects == frozenset()
    listed = Settings.from_env(
        {"KMS_DIRECT_INVOCATION_PROJECTS": " p1, p2 ,", "KMS_REPLAY_PROTECTION": "all"}
    )
    assert listed.direct_projects == {"p1", "p2"}
    assert listed.replay_protection == "all"
