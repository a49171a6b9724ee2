"""Real git repositories in tmp_path for workspace and governed-apply tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

GitRunner = Callable[..., str]


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test User",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test User",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def git() -> GitRunner:
    """Run git in a repository as a person would (their own identity), return stdout."""
    return _git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository with one commit on `main` and a clean working tree."""
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("import os\n\n\ndef main():\n    x = 1\n    return x\n")
    (path / "README.md").write_text("# Demo\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    return path
