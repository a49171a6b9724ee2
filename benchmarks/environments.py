"""Environment provisioning: cold and warm times per project shape, and the share of a
scripted phase's wall time spent on the environment.

Per shape (the fixture projects of the tests, built offline from local wheels and the
install-time wheelhouse ``.venv/wheelhouse``, see ``make wheelhouse``):

- ``cold``: nothing built and an empty download cache (a first run on a new machine);
- ``cold key``: a new key with a warm download cache (a manifest changed, or another repo);
- ``new worktree``: the key is ready, a new worktree attaches to it (every later run);
- ``warm``: the same worktree again (the environment is found ready).

Then one scripted run of one phase (scripted Builder and Auditor, the project's real
pytest suite) on a fresh repository, twice: the first run builds the environment, the
second reuses it; the table gives how much of each run's wall time was the environment.

Run: ``.venv/bin/python benchmarks/environments.py [SHAPE ...]``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import environment_fixtures as fx
from autopack.db.database import open_database
from autopack.db.session import unit_of_work
from autopack.environments import EnvironmentSpec, prepare_environment
from autopack.executor import environment as executor_environment
from autopack.executor.loop import build_deps, execute_run
from autopack.planning.normalize import load_plan
from autopack.services.runs import create_run
from autopack.settings import Settings

SHAPES: dict[str, Callable[[Path, list[Path]], Path]] = {
    **{name: (lambda build: lambda p, _links: build(p))(b) for name, b in fx.SHAPES.items()},
    "uv-lock-groups": fx.uv_lock_with_groups,
}
if shutil.which("npm"):
    SHAPES["node-package-lock"] = lambda p, _links: fx.node_file_dependency_project(p)
if shutil.which("go"):
    SHAPES["go-replace"] = lambda p, _links: fx.go_replace_project(p)


def _timed(settings: Settings, worktree: Path) -> tuple[float, bool]:
    start = time.perf_counter()
    env = prepare_environment(
        worktree, EnvironmentSpec(), envs_dir=settings.envs_dir, settings=settings
    )
    return time.perf_counter() - start, env.reused


def provisioning(shape: str, links: list[Path]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="autopack-bench-env-") as tmp:
        root = Path(tmp)
        project = SHAPES[shape](root / "project", links)
        cold_settings = fx.env_settings(root / "a", links, cache_dir=root / "cache")
        cold, _ = _timed(cold_settings, project)
        new_key_settings = fx.env_settings(root / "b", links, cache_dir=root / "cache")
        cold_key, _ = _timed(new_key_settings, project)
        other = fx.clone(project, root / "other")
        attach, reused = _timed(new_key_settings, other)
        assert reused, "a second worktree must reuse the key"
        warm, reused = _timed(new_key_settings, other)
        assert reused
        return {"cold": cold, "cold_key": cold_key, "attach": attach, "warm": warm}


_env_seconds = 0.0
_real_prepare = executor_environment.prepare_environment


def _counting_prepare(*args: Any, **kwargs: Any) -> Any:
    global _env_seconds
    start = time.perf_counter()
    try:
        return _real_prepare(*args, **kwargs)
    finally:
        _env_seconds += time.perf_counter() - start


def scripted_run(
    root: Path, links: list[Path], cache: Path, home: Path, n: int
) -> dict[str, float]:
    """One scripted phase on a new clone of the no-pytest project; (wall, environment) s."""
    global _env_seconds
    _env_seconds = 0.0
    repo = fx.no_pytest_project(root / f"repo{n}")
    plan = root / f"plan{n}.yaml"
    plan.write_text(yaml.safe_dump({
        "run_id": f"bench-env-{n}",
        "phases": [{"phase_id": "p1", "name": "add mul", "scope": {"paths": ["calc/"]}}],
    }))  # fmt: skip
    create = json.dumps({"op": "create", "path": "calc/mul.py", "content": "def mul(a, b):\n"
                         "    return a * b\n"})  # fmt: skip
    verdict = json.dumps(
        {"recommendation": "approve", "confidence": 0.9, "review_notes": "ok", "issues": []}
    )
    usage = {"prompt_tokens": 100, "completion_tokens": 20}
    script = root / f"script{n}.jsonl"
    script.write_text("".join(json.dumps(x) + "\n" for x in [
        {"role": "builder", "phase_id": "p1", "content": create, "usage": usage},
        {"role": "auditor", "phase_id": "p1", "content": verdict, "usage": usage},
    ]))  # fmt: skip
    settings = Settings(
        home=home, llm_provider="scripted", llm_script=script, env_find_links=links,
        env_offline=True, env_cache_dir=cache,
    )  # fmt: skip
    db = open_database(settings)
    with unit_of_work(db.factory) as session:
        create_run(session, load_plan(plan), runs_dir=settings.runs_dir, repo_path=str(repo))
    start = time.perf_counter()
    outcome = execute_run(build_deps(settings, db), f"bench-env-{n}")
    wall = time.perf_counter() - start
    db.dispose()
    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    return {"wall": wall, "env": _env_seconds}


def main() -> None:
    if not any(fx.WHEELHOUSE.glob("pytest-*.whl")):
        sys.exit(f"no wheelhouse at {fx.WHEELHOUSE}: run `make wheelhouse` first")
    shapes = sys.argv[1:] or list(SHAPES)
    with tempfile.TemporaryDirectory(prefix="autopack-bench-wheels-") as tmp:
        links = [fx.local_wheels(Path(tmp) / "wheels"), fx.WHEELHOUSE]
        print("environment provisioning, seconds (offline, local wheels)")
        print(f"{'shape':<24} {'cold':>7} {'cold key':>9} {'new worktree':>13} {'warm':>7}")
        for shape in shapes:
            r = provisioning(shape, links)
            print(f"{shape:<24} {r['cold']:>7.2f} {r['cold_key']:>9.2f} "
                  f"{r['attach']:>13.2f} {r['warm']:>7.3f}")  # fmt: skip

        executor_environment.prepare_environment = _counting_prepare  # type: ignore[assignment]
        root = Path(tmp) / "runs"
        root.mkdir()
        cache, home = root / "cache", root / "home"
        print("\none scripted phase (no-pytest-declared project), seconds")
        print(f"{'run':<28} {'wall':>7} {'environment':>12} {'share':>7}")
        for n, label in ((1, "first run (builds env)"), (2, "second run (reuses env)")):
            r = scripted_run(root, links, cache, home, n)
            print(f"{label:<28} {r['wall']:>7.2f} {r['env']:>12.2f} "
                  f"{100 * r['env'] / r['wall']:>6.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
