"""Environment tests: fixture projects, offline wheels and one uv cache per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # environment_fixtures

from autopack.settings import Settings
from environment_fixtures import env_settings, local_wheels, wheelhouse


@pytest.fixture(scope="session")
def wheel_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The fixture projects' own wheels, then the install-time wheelhouse."""
    return [local_wheels(tmp_path_factory.mktemp("wheels")), wheelhouse()]


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One download cache for the whole session, as AUTOPACK_HOME/cache is in real use."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def settings(tmp_path: Path, wheel_dirs: list[Path], uv_cache: Path) -> Settings:
    return env_settings(tmp_path, wheel_dirs, cache_dir=uv_cache)


@pytest.fixture
def envs_dir(settings: Settings) -> Path:
    return settings.envs_dir
