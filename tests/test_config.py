"""Configuration precedence, interpolation, masking: pure, no server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from migctl.core.config import NO_PROJECT, load_environment
from migctl.core.errors import ConfigError, UsageError
from migctl.core.secrets import mask_url, remember, scrub

CONFIG = """
default_environment: dev
alembic:
  script_location: alembic
environments:
  dev:
    database_url: embedded
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
    assert env.name == "dev" and env.embedded and env.database_url is None and env.source == "embedded"
    assert env.alembic.script_location == cfg.parent / "alembic"
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
def test_malformed_urls(url: str, cfg: Path) -> None:
    with pytest.raises(UsageError):
        load_environment(cfg, database_url=url, environ={})


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


# --- discovery (pure: files only; tests/test_discovery.py runs the CLI on PostgreSQL) -----------


def test_no_project_is_one_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as err:
        load_environment(database_url="postgresql://u@h/db", environ={"DATABASE_URL": "postgresql://u@h/d"})
    assert str(err.value) == NO_PROJECT
    (tmp_path / "sub").mkdir()
    (tmp_path / "migctl.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path / "sub")  # a parent's migctl.yaml is not used: alembic does not look up
    with pytest.raises(UsageError, match="no migctl.yaml or alembic.ini here"):
        load_environment(environ={})
    env = load_environment(require_project=False, environ={})
    assert env.state_dir == (tmp_path / "sub" / ".migctl").resolve()


def test_alembic_ini_in_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n"
                                          "sqlalchemy.url = driver://user:pass@localhost/dbname\n")
    env = load_environment(environ={})
    assert env.alembic.script_location == (tmp_path / "migrations").resolve()
    assert env.alembic.ini_path == (tmp_path / "alembic.ini").resolve()
    assert env.alembic.version_table == "alembic_version" and env.name == "default"
    assert env.database_url is None and env.source == "env.py" and not env.embedded  # the placeholder is no URL
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n"
                                          "sqlalchemy.url = postgresql://app@inihost/app\n")
    env = load_environment(environ={})
    assert env.database_url == "postgresql://app@inihost/app"
    assert env.source == f"alembic.ini {(tmp_path / 'alembic.ini').resolve()}"
    assert load_environment(environ={"DATABASE_URL": "postgresql://u@envhost/d"}).source == "DATABASE_URL"
    assert not env.vector_configured
    with pytest.raises(UsageError, match="unknown environment 'prod'"):
        load_environment(env="prod", environ={})


def test_url_precedence_down_to_alembic_ini(tmp_path: Path) -> None:
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n"
                                          "sqlalchemy.url = postgresql://app@inihost/app\n")
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text("environments:\n  a:\n    database_url: postgresql://app@filehost/app\n    alembic: {ini: alembic.ini}\n"
                   "  b:\n    alembic: {ini: alembic.ini}\n")
    a = load_environment(cfg, env="a", environ={})
    assert (a.database_url, a.source) == ("postgresql://app@filehost/app", str(cfg))
    b = load_environment(cfg, env="b", environ={})
    assert b.database_url == "postgresql://app@inihost/app" and b.source.startswith("alembic.ini ")
    pg = load_environment(cfg, env="b", environ={"POSTGRES_HOST": "pghost"})
    assert pg.source == "POSTGRES_* variables" and "pghost" in (pg.database_url or "")


def test_no_alembic_section_uses_the_files_next_to_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text("environments:\n  dev: {}\n")
    with pytest.raises(UsageError, match="no alembic section"):
        load_environment(cfg, environ={})
    (tmp_path / "alembic").mkdir()
    (tmp_path / "alembic" / "env.py").write_text("")
    env = load_environment(cfg, environ={})
    assert env.alembic.script_location == (tmp_path / "alembic").resolve()
    assert env.database_url is None and not env.embedded  # {} is not the embedded server any more


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    cfg = project / "migctl.yaml"
    cfg.write_text("state_dir: state\nseed_sql: sql\nenvironments:\n  dev:\n    log_file: logs/m.log\n"
                   "    alembic: {script_location: migrations}\n"
                   "    vector: {migrations_dir: vm/versions, templates: vm/t.yaml}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    env = load_environment(cfg, environ={})
    assert env.alembic.script_location == project.resolve() / "migrations"
    assert env.state_dir == project.resolve() / "state"
    assert env.log_file == project.resolve() / "logs" / "m.log"
    assert env.seed_dir == project.resolve() / "sql"
    from migctl.core.vector.settings import vector_settings

    settings = vector_settings(env, environ={})
    assert settings.migrations_dir == project.resolve() / "vm" / "versions"
    assert settings.templates == project.resolve() / "vm" / "t.yaml"
    assert settings.uri == str(project.resolve() / "state" / "milvus.db")


def test_pyproject_tool_migctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = from_ini\n")
    assert load_environment(environ={}).alembic.script_location == (tmp_path / "from_ini").resolve()
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.migctl]\ndefault_environment = "dev"\n\n'
        '[tool.migctl.environments.dev]\ndatabase_url = "postgresql://app@tomlhost/app"\n'
        '[tool.migctl.environments.dev.alembic]\nscript_location = "db/migrations"\n')
    env = load_environment(environ={})
    assert env.config_file == (tmp_path / "pyproject.toml").resolve()
    assert env.alembic.script_location == (tmp_path / "db" / "migrations").resolve()
    assert env.database_url == "postgresql://app@tomlhost/app"
    (tmp_path / "migctl.yaml").write_text(CONFIG)  # migctl.yaml comes first
    assert load_environment(environ={}).config_file == (tmp_path / "migctl.yaml").resolve()
    (tmp_path / "pyproject.toml").write_text("[tool.migctl\n")
    with pytest.raises(ConfigError, match="pyproject.toml"):
        load_environment(tmp_path / "pyproject.toml", environ={})


def test_vector_configured_only_when_asked(cfg: Path) -> None:
    from migctl.core.vector.settings import vector_settings

    env = load_environment(cfg, environ={})
    assert not env.vector_configured
    with pytest.raises(UsageError, match="vector store not configured for environment dev"):
        vector_settings(env, environ={})
    for environ in ({"VECTOR_STORE_TYPE": "pgvector"}, {"MILVUS_URI": "http://m:19530"}, {"MILVUS_HOST": "m"}):
        assert load_environment(cfg, environ=environ).vector_configured, environ
    assert load_environment(cfg, environ={}, vector_store_type="milvus").vector_configured
    cfg.write_text(CONFIG.replace("    database_url: embedded\n", "    database_url: embedded\n    vector: {}\n", 1))
    env = load_environment(cfg, environ={})
    assert env.vector_configured and vector_settings(env, environ={}).store == "milvus"


def test_unknown_keys_are_errors_naming_file_and_path(tmp_path: Path) -> None:
    from migctl.core.errors import ConfigError

    cases = {
        "vecotr: {store: milvus}\nenvironments: {a: {database_url: 'sqlite:///x'}}\n": "unknown key 'vecotr' (did you mean 'vector'?)",
        "environments: {a: {databse_url: 'sqlite:///x'}}\n": "unknown key environments.a.'databse_url' (did you mean 'database_url'?)",
        "environments: {a: {database_url: 'sqlite:///x', vector: {stroe: pgvector}}}\n": "environments.a.vector.'stroe'",
        "alembic: {script_locaton: alembic}\n": "unknown key alembic.'script_locaton'",
    }
    for text, expected in cases.items():
        cfg = tmp_path / "migctl.yaml"
        cfg.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_environment(config_file=cfg, environ={})
        assert str(cfg) in str(err.value) and expected in str(err.value), str(err.value)


def test_a_config_without_environments_is_one_environment(tmp_path: Path) -> None:
    (tmp_path / "alembic").mkdir()
    (tmp_path / "alembic" / "env.py").write_text("")
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text("alembic: {script_location: alembic}\n")
    env = load_environment(config_file=cfg, database_url="sqlite:///x.db", environ={})
    assert env.name == "default" and env.alembic.script_location == (tmp_path / "alembic").resolve()


def test_a_comment_naming_tool_migctl_does_not_make_pyproject_a_config(tmp_path: Path, monkeypatch) -> None:
    from migctl.core.config import find_config_file

    (tmp_path / "pyproject.toml").write_text("# see [tool.migctl] in the docs\n[project]\nname = 'x'\n")
    assert find_config_file(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[tool.migctl]\ndefault_environment = 'a'\n")
    assert find_config_file(tmp_path) == tmp_path / "pyproject.toml"


@pytest.mark.parametrize(("setting", "message"), [
    ("protectd: true", "line 6: unknown key environments.prod.'protectd' (did you mean 'protected'?)"),
    ('protected: "false"', "line 6: environments.prod.protected: expected true or false, not a string 'false'"),
    ("protected:", "line 6: environments.prod.protected: expected true or false, not nothing"),
    ("databse_url: postgresql://u@h/db", "line 6: unknown key environments.prod.'databse_url' (did you mean 'database_url'?)"),
    ("alembic: {version_table: 7}", "line 6: environments.prod.alembic.version_table: expected a string, not a number 7"),
    ("check: {max_heads: [1]}", "line 6: environments.prod.check.max_heads: expected a whole number, not a list"),
    ("protected: true\n    protected: false", "line 7: duplicate key 'protected' (first on line 6)"),
])
def test_keys_are_checked_by_name_and_type_with_their_line(tmp_path: Path, setting: str, message: str) -> None:
    """Issue 13.9: `protectd: true` left prod unprotected, `protected: "false"` protected it."""
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text("default_environment: prod\nalembic: {script_location: alembic}\nenvironments:\n  prod:\n"
                   f"    database_url: embedded\n    {setting}\n")
    with pytest.raises(ConfigError) as err:
        load_environment(config_file=cfg, environ={})
    assert str(err.value) == f"config file {cfg} {message}"


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """Issue 13.18: ten lines that expand to 10**10 values are refused before they are expanded."""
    import time

    cfg = tmp_path / "migctl.yaml"
    cfg.write_text("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 10)))
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"YAML aliases expand to more than 100,000 values"):
        load_environment(config_file=cfg, environ={})
    assert time.monotonic() - started < 1.0
