"""Settings read AUTOPACK_* variables and HOME/config.env with pydantic-settings' precedence:
arguments, then the environment, then the file, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from autopack.settings import Settings, config_file, get_settings


def test_the_environment_fills_what_arguments_leave(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUTOPACK_PORT", "9001")
    monkeypatch.setenv("autopack_log_level", "DEBUG")  # names match without regard to case
    monkeypatch.setenv("AUTOPACK_ENV_OFFLINE", "true")
    monkeypatch.setenv("AUTOPACK_API_KEYS", " k1, k2 ,")
    monkeypatch.setenv("AUTOPACK_ALLOWED_ORIGINS", "https://A.example/,https://b.example")
    monkeypatch.setenv("AUTOPACK_NOT_A_SETTING", "ignored")
    settings = Settings(home=tmp_path, port=8123)
    assert (settings.home, settings.port, settings.log_level) == (tmp_path, 8123, "DEBUG")
    assert settings.env_offline is True
    assert settings.plain_api_keys() == ["k1", "k2"]
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]


def test_defaults_are_validated_and_home_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_HOME", "~/somewhere")
    settings = Settings()
    assert settings.home == Path.home() / "somewhere"
    assert settings.effective_database_url == f"sqlite:///{settings.home / 'autopack.db'}"


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPACK_PORT", "eighty")
    with pytest.raises(ValidationError, match="port"):
        Settings()


def test_the_config_file_fills_what_the_environment_leaves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config_file(home).write_text(
        "# written by autopack init\n"
        "AUTOPACK_PORT=9100\n"
        'export AUTOPACK_LLM_MODEL="qwen2.5-coder:7b"\n'
        "AUTOPACK_LOG_LEVEL=ERROR\n"
        f"AUTOPACK_HOME={tmp_path / 'elsewhere'}\n"
        "AUTOPACK_EXECUTOR_POOL_SIZE=3\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AUTOPACK_HOME", str(home))
    monkeypatch.setenv("AUTOPACK_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    settings = get_settings()
    get_settings.cache_clear()
    assert settings.home == home  # HOME is never read from the file that lives in it
    assert (settings.port, settings.llm_model) == (9100, "qwen2.5-coder:7b")
    assert settings.log_level == "WARNING"  # the environment wins
    assert settings.executor_pool_size == 3


def test_importing_settings_does_not_import_pydantic_settings() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, autopack.settings; print('pydantic_settings' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False"
