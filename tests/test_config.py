"""Configuration precedence, interpolation, masking: pure, no server needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from migctl.core.config import BUNDLED_ALEMBIC, load_environment
from migctl.core.errors import ConfigError, UsageError
from migctl.core.secrets import mask_url, remember, scrub

CONFIG = """
default_environment: dev
environments:
  dev: {}
  test:
    database_url: postgresql://app:${DB_PASSWORD}@db:5432/rag
  prod:
    protected: true
    database_url: postgresql://app:${PROD_PW:-fallback}@prod-db:5432/rag
    alembic:
      script_location: elsewhere
"""


@pytest.fixture()
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "migctl.yaml"
    path.write_text(CONFIG)
    return path


def test_file_default_environment_is_embedded(cfg: Path) -> None:
    env = load_environment(cfg, environ={})
    assert env.name == "dev" and env.embedded and env.database_url is None
    assert env.alembic.script_location == BUNDLED_ALEMBIC
    assert env.state_dir == (cfg.parent / ".migctl").resolve()


def test_interpolation_and_default(cfg: Path) -> None:
    env = load_environment(cfg, env="test", environ={"DB_PASSWORD": "pw1"})
    assert env.database_url == "postgresql://app:pw1@db:5432/rag"
    prod = load_environment(cfg, env="prod", environ={})
    assert prod.database_url == "postgresql://app:fallback@prod-db:5432/rag"
    assert prod.protected
    assert prod.alembic.script_location == (cfg.parent / "elsewhere").resolve()


def test_missing_variable_names_key(cfg: Path) -> None:
    with pytest.raises(ConfigError, match=r"environments\.test\.database_url: variable DB_PASSWORD is not set"):
        load_environment(cfg, env="test", environ={})


def test_precedence_flag_over_environment_over_file(cfg: Path) -> None:
    environ = {"DATABASE_URL": "postgresql://u@envhost/db", "DB_PASSWORD": "x", "MIGCTL_ENV": "test"}
    env = load_environment(cfg, environ=environ)
    assert env.name == "test" and env.database_url == "postgresql://u@envhost/db"
    env = load_environment(cfg, database_url="postgresql://u@flaghost/db", environ=environ)
    assert env.database_url == "postgresql://u@flaghost/db" and env.source == "--database-url"
    env = load_environment(cfg, env="test", environ={"DB_PASSWORD": "x"})
    assert env.database_url == "postgresql://app:x@db:5432/rag"


def test_postgres_variables_build_url(cfg: Path) -> None:
    env = load_environment(cfg, environ={"POSTGRES_HOST": "h", "POSTGRES_PORT": "6543", "POSTGRES_USER": "u",
                                         "POSTGRES_PASSWORD": "p@ss", "POSTGRES_DB": "d"})
    assert env.database_url == "postgresql://u:p%40ss@h:6543/d"
    assert "p@ss" not in scrub("error for p@ss")


def test_config_file_from_environment(cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path.parent)
    env = load_environment(environ={"CONFIG_FILE": str(cfg)})
    assert env.config_file == cfg.resolve()


def test_unknown_environment(cfg: Path) -> None:
    with pytest.raises(UsageError, match="unknown environment 'staging'.*known: dev, test, prod"):
        load_environment(cfg, env="staging", environ={})


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("environments:\n  dev: {\n  prod: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml line \d+"):
        load_environment(path, environ={})


@pytest.mark.parametrize("url", ["not a url", "postgresql://", "oracle://u@h/db", "postgresql://u@h:99999/db"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(UsageError):
        load_environment(database_url=url, environ={})


def test_mask_url_and_scrub() -> None:
    assert mask_url("postgresql://app:s3cret@db:5432/rag") == "postgresql://app:***@db:5432/rag"
    assert mask_url("postgresql://app@db/rag") == "postgresql://app@db/rag"
    remember("hunter2-long")
    assert scrub('password authentication failed for "hunter2-long"') == 'password authentication failed for "***"'


@pytest.mark.parametrize(("pasted", "for_the_driver"), [
    ("postgresql://app:Xy@Secret9@127.0.0.1:1/rag", "postgresql://app:Xy%40Secret9@127.0.0.1:1/rag"),
    ("postgresql://app:a/b@c@host/db", "postgresql://app:a%2Fb%40c@host/db"),
    ("postgresql://app:Xy@S@h/d?x=a@b", "postgresql://app:Xy%40S@h/d?x=a@b"),
    ("postgresql://app:pw@db/my@db", "postgresql://app:pw@db/my@db"),  # "@" in the database name stays
    ("postgresql://app:a%40b@h/d", "postgresql://app:a%40b@h/d"),  # already encoded
    ("postgresql://u@h/d", "postgresql://u@h/d"),
])
def test_unencoded_at_in_a_password_is_encoded(pasted: str, for_the_driver: str) -> None:
    from migctl.core.config import validate_url

    assert validate_url(pasted) == for_the_driver
