"""`autopack merge` and `autopack push` in-process through the console script's ``main()``
(exit codes included), on real git and the embedded database."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autopack.db.database import open_database
from autopack.settings import get_settings
from cli_runner import invoke_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # delivery_fixtures
from delivery_fixtures import Runs, commit_file, git, make_user_repo

Result = tuple[int, str, str]


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run `autopack ARGS` in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Result:
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, out, err

    return run


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_user_repo(tmp_path)


@pytest.fixture
def runs(repo: Path) -> Iterator[Runs]:
    """Runs in the embedded database the CLI opens (AUTOPACK_HOME of this test)."""
    settings = get_settings()
    db = open_database(settings)
    yield Runs(db.factory, settings, repo)
    db.dispose()


def test_merge_fast_forwards_then_says_already_merged(
    autopack: Callable[..., Result], runs: Runs, repo: Path
) -> None:
    ws = runs.finished()
    code, out, _ = autopack("merge", "r1")
    assert code == 0 and "fast-forwarded main" in out
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", ws.branch_name)
    code, out, _ = autopack("merge", "r1", "--json")
    assert code == 0 and json.loads(out)["result"] == "already_merged"
    assert runs.decisions("r1")[0].actor.startswith("cli:")


def test_merge_refusals_and_their_exit_codes(
    autopack: Callable[..., Result], runs: Runs, repo: Path
) -> None:
    runs.finished()
    moved = commit_file(repo, "app.py", "VALUE = 7\n", "mine")
    code, _, err = autopack("merge", "r1", "--ff-only")
    assert code == 1 and "cannot fast-forward" in err
    code, _, err = autopack("merge", "r1")
    assert code == 1 and "conflicts" in err and "app.py" in err
    assert git(repo, "rev-parse", "main") == moved
    code, _, err = autopack("merge", "r1", "--into", "nowhere")
    assert code == 2 and "does not exist" in err
    code, _, err = autopack("merge", "r1", "--ff-only", "--no-ff")
    assert code == 2 and "contradict" in err
    code, _, err = autopack("merge", "unknown-run")
    assert code == 2 and "not found" in err


def test_no_ff_into_another_branch(autopack: Callable[..., Result], runs: Runs, repo: Path) -> None:
    runs.finished()
    git(repo, "branch", "release")
    code, out, _ = autopack("merge", "r1", "--into", "release", "--no-ff")
    assert code == 0 and "merge commit" in out
    assert len(git(repo, "rev-list", "--parents", "-n", "1", "release").split()) == 3
    assert not (repo / "lib/new.py").exists()  # main, checked out, did not move


def test_push_to_a_bare_remote_and_a_missing_remote(
    autopack: Callable[..., Result], runs: Runs, repo: Path, tmp_path: Path
) -> None:
    ws = runs.finished()
    code, _, err = autopack("push", "r1")
    assert code == 2 and "no remote 'origin'" in err
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    code, out, _ = autopack("push", "r1", "--remote", "origin")
    assert code == 0 and "pushed autopack/r1" in out
    assert git(remote, "rev-parse", ws.branch_name) == git(repo, "rev-parse", ws.branch_name)
