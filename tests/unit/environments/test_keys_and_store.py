"""Environment keys and the environments directory: what changes a key, list and prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autopack.environments import (
    Environment,
    EnvironmentSpec,
    environment_in_use,
    keys,
    list_environments,
    manifest_paths,
    prune_environments,
)
from autopack.environments.keys import hash_key
from autopack.environments.store import key_lock, read_record, write_record

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    (root / "calc").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "1"\n')
    (root / "requirements-dev.txt").write_text("pytest\n")
    (root / "calc" / "__init__.py").write_text("X = 1\n")
    return root


def key(root: Path, spec: EnvironmentSpec | None = None, **tools: str) -> str:
    return hash_key(root, spec or EnvironmentSpec(), toolchain="python",
                    tools=tools or {"python": "3.11.7"})  # fmt: skip


def test_manifest_paths_are_the_manifests_and_lock_files(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "uv.lock").write_text("version = 1\n")
    (root / "package.json").write_text("{}")

    assert manifest_paths(root) == [
        "package.json", "pyproject.toml", "requirements-dev.txt", "uv.lock"
    ]  # fmt: skip


def test_the_key_changes_with_manifests_tools_and_setup_but_not_with_code(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    first = key(root)

    (root / "calc" / "__init__.py").write_text("X = 2\n")
    assert key(root) == first

    assert key(root, python="3.12.1") != first
    assert key(root, EnvironmentSpec(setup=["make gen"])) != first
    assert key(root, EnvironmentSpec(env={"MODE": "x"})) != first
    (root / "requirements-dev.txt").write_text("pytest\ntesthelper\n")
    assert key(root) != first
    assert key(root).startswith("python-") and len(key(root)) == len("python-") + 20


def ready(envs_dir: Path, name: str, last_used: datetime) -> Environment:
    root = envs_dir / name
    root.mkdir(parents=True)
    record = Environment(
        key=name, toolchain="python", root=root,
        created_at=last_used.isoformat(), last_used_at=last_used.isoformat(),
    )  # fmt: skip
    write_record(root, record)
    return record


def test_list_shows_ready_environments_most_recent_first(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    ready(envs, "python-" + "a" * 20, NOW - timedelta(days=3))
    ready(envs, "python-" + "b" * 20, NOW)
    (envs / ("python-" + "c" * 20)).mkdir()  # half-built: no env.json

    assert [e.key[-1] for e in list_environments(envs)] == ["b", "a"]
    assert list_environments(tmp_path / "missing") == []


def test_prune_removes_old_and_half_built_environments(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    old = ready(envs, "python-" + "a" * 20, NOW - timedelta(days=10))
    fresh = ready(envs, "python-" + "b" * 20, NOW - timedelta(hours=1))
    half = envs / ("node-" + "c" * 20)
    half.mkdir()
    (half / "junk").write_text("x" * 100)

    removed = prune_environments(envs, older_than_days=7, now=NOW)

    assert sorted(e.key for e in removed) == sorted([old.key, half.name])
    assert next(e for e in removed if e.key == half.name).size_bytes == 100
    assert [e.key for e in list_environments(envs)] == [fresh.key]
    assert [e.key for e in prune_environments(envs, older_than_days=None, now=NOW)] == [fresh.key]


def test_prune_leaves_an_environment_whose_lock_is_held(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    busy = ready(envs, "python-" + "a" * 20, NOW - timedelta(days=30))

    with key_lock(envs, busy.key):
        assert prune_environments(envs, older_than_days=1, now=NOW) == []
    assert read_record(envs / busy.key) is not None


def test_a_record_that_is_not_json_is_not_ready(tmp_path: Path) -> None:
    root = tmp_path / "python-0123"
    root.mkdir()
    (root / "env.json").write_text("{not json")

    assert read_record(root) is None


@pytest.mark.parametrize("blocking", [False])
def test_a_held_lock_is_reported_without_waiting(tmp_path: Path, blocking: bool) -> None:
    with key_lock(tmp_path, "k") as first, key_lock(tmp_path, "k", blocking=blocking) as second:
        assert (first, second) == (True, False)
    with key_lock(tmp_path, "k", blocking=blocking) as again:
        assert again is True


def test_prune_leaves_an_environment_a_run_is_using(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    used = ready(envs, "python-" + "a" * 20, NOW - timedelta(days=30))

    with environment_in_use(envs, used.key), environment_in_use(envs, used.key):
        assert prune_environments(envs, older_than_days=None, now=NOW) == []
        with key_lock(envs, used.key, blocking=False) as free:
            assert free  # using an environment never blocks another prepare
    assert [e.key for e in prune_environments(envs, older_than_days=None, now=NOW)] == [used.key]


def test_a_new_python_recipe_gives_new_keys_so_older_environments_are_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-poetry/cleo: an environment built before poetry's groups were installed was
    # reused by the fixed Autopack (same manifests), still without pytest-mock.
    root = project(tmp_path)
    python_before = key(root)
    node_before = hash_key(root, EnvironmentSpec(), toolchain="node", tools={"node": "v20"})
    monkeypatch.setitem(keys.RECIPES, "python", keys.RECIPES["python"] + 1)
    assert key(root) != python_before
    assert hash_key(root, EnvironmentSpec(), toolchain="node", tools={"node": "v20"}) == (
        node_before
    )
