"""End-to-end fixtures: scripted executor runs on real temporary git repositories."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # executor_support, under importlib mode
sys.path.insert(0, str(Path(__file__).parent.parent))  # environment_fixtures

from autopack.db.database import Database, open_database
from autopack.db.session import unit_of_work
from autopack.executor.loop import RunOutcome, build_deps, execute_run
from autopack.planning.normalize import load_plan
from autopack.services import runs as run_service
from autopack.settings import Settings, get_settings
from environment_fixtures import wheelhouse

#: Faster test runs: the sample projects need none of the venv's pytest plugins.
TEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


class Harness:
    """Creates a run from a plan and executes it with the scripted provider."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.events: list[tuple[str, dict[str, Any]]] = []

    def create(self, plan: Path, repo: Path) -> str:
        spec = load_plan(plan)
        with unit_of_work(self.db.factory) as session:
            run_service.create_run(
                session, spec, runs_dir=self.settings.runs_dir, repo_path=str(repo)
            )
        return spec.run_id

    def execute(
        self,
        run_id: str,
        script: Path,
        *,
        force_scripted: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> RunOutcome:
        """Execute with answers from ``script``. ``force_scripted`` sends every call to the
        scripted provider; without it the router picks models from the models config.
        ``clock`` replaces the executor's wall clock (approval expiry)."""
        settings = self.settings.model_copy(
            update={"llm_provider": "scripted" if force_scripted else None, "llm_script": script}
        )
        deps = build_deps(settings, self.db, progress=self._record)
        if clock is not None:
            deps.clock = clock
        deps.test_env.update(TEST_ENV)
        return execute_run(deps, run_id)

    def _record(self, event: str, **data: Any) -> None:
        self.events.append((event, data))


@pytest.fixture(scope="session")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uv cache for the session: environments are built per test, offline, fast."""
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture(autouse=True)
def _offline_environments(env_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run's environment is built offline from the install-time wheelhouse (pytest
    and the build backends), also in `autopack` subprocesses, which inherit these."""
    monkeypatch.setenv("AUTOPACK_ENV_FIND_LINKS", str(wheelhouse()))
    monkeypatch.setenv("AUTOPACK_ENV_OFFLINE", "1")
    monkeypatch.setenv("AUTOPACK_ENV_CACHE_DIR", str(env_cache))
    get_settings.cache_clear()


@pytest.fixture
def harness_factory() -> Iterator[Callable[[Settings], Harness]]:
    opened: list[Database] = []

    def make(settings: Settings) -> Harness:
        db = open_database(settings)
        opened.append(db)
        return Harness(settings, db)

    yield make
    for db in opened:
        db.dispose()
