"""The CLI's side of the integrity review: every command that reads the database works in
a fresh home, keys can be revoked, an approval records the OS user who decided, and plans
whose paths leave the repository are refused by every command that takes a plan."""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from autopack.cli.identity import first_admin_name
from autopack.db.database import open_database
from autopack.db.orm import ApiKey, Approval, Phase
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.services import apikeys
from autopack.services import runs as run_service
from autopack.services.approvals import request_approval
from autopack.settings import Settings
from cli_runner import folded_cli

Result = tuple[int, str]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "fresh-home"


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> Callable[..., Result]:
    """`autopack ARGS` in-process in a home that does not exist yet; (exit code, output)."""
    return folded_cli(monkeypatch, capsys, home)


@pytest.mark.parametrize(
    "args",
    [
        ("telemetry", "calibrate"),
        ("runs", "list"),
        ("approvals", "list"),
        ("apikey", "list"),
        ("db", "check"),
        ("db", "repair"),
    ],
)
def test_commands_that_read_the_database_create_the_embedded_one_first(
    autopack: Callable[..., Result], home: Path, args: tuple[str, ...]
) -> None:
    """Regression: `telemetry calibrate` in a fresh home failed with "no such table:
    token_estimation_events"."""
    assert not home.exists()
    code, out = autopack(*args)
    assert code == 0, out
    assert "no such table" not in out
    assert (home / "autopack.db").is_file()


def test_status_of_an_unknown_run_in_a_fresh_home_is_not_found(
    autopack: Callable[..., Result],
) -> None:
    code, out = autopack("status", "nope")
    assert code == 2 and "nope" in out and "no such table" not in out


def test_apikey_revoke_by_prefix_or_id(autopack: Callable[..., Result], home: Path) -> None:
    autopack("apikey", "create", "--name", "ci")  # the first key makes the first admin
    autopack("apikey", "create", "--name", "laptop", "--user", first_admin_name())
    database = open_database(Settings(home=home))
    with database.factory() as session:
        ci, laptop = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        ci_prefix, laptop_id = ci.prefix, laptop.id
    code, out = autopack("apikey", "revoke", ci_prefix)
    assert code == 0 and f"({ci_prefix}...) revoked" in out, out
    code, out = autopack("apikey", "revoke", str(laptop_id))
    assert code == 0 and "'laptop'" in out
    with database.factory() as session:
        assert [k.revoked for k in session.scalars(select(ApiKey))] == [True, True]
        assert not apikeys.any_active_key(session)
    database.dispose()
    code, out = autopack("apikey", "revoke", "999")
    assert code == 2 and "no API key with id 999" in out
    code, out = autopack("apikey", "revoke", "ap_")
    assert code == 2 and "too short" in out


def test_a_prefix_shared_by_two_keys_is_refused(
    autopack: Callable[..., Result], home: Path
) -> None:
    autopack("apikey", "create", "--name", "a")
    autopack("apikey", "create", "--name", "b", "--user", first_admin_name())
    code, out = autopack("apikey", "revoke", "ap_ ")  # spaces stripped: still too short
    assert code == 2
    database = open_database(Settings(home=home))
    with unit_of_work(database.factory) as session:
        rows = list(session.scalars(select(ApiKey)))
        rows[1].prefix = rows[0].prefix  # the unlikely collision, made certain
        shared = rows[0].prefix
    database.dispose()
    code, out = autopack("apikey", "revoke", shared)
    assert code == 2 and "give the id instead" in out


def test_approvals_approve_records_the_os_user(autopack: Callable[..., Result], home: Path) -> None:
    database = open_database(Settings(home=home))
    with unit_of_work(database.factory) as session:
        spec = RunSpec.model_validate({"run_id": "r", "phases": [{"phase_id": "p", "name": "p"}]})
        run_service.create_run(session, spec, runs_dir=home / "runs")
        phase = session.scalars(select(Phase)).one()
        phase.state = "EXECUTING"
        approval_id = request_approval(
            session, phase, kind="auditor_escalation", reason="escalated", details={}
        ).id
    code, out = autopack("approvals", "approve", str(approval_id), "--note", "fine")
    assert code == 0, out
    with database.factory() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        assert approval.decided_by == f"cli:{getpass.getuser()}"
    database.dispose()
    code, out = autopack("approvals", "reject", "1", "--by", "mallory")
    assert code == 2 and "--by" in out  # the option is gone: nobody names themselves


def _git_repo(path: Path) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    return path


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ("paths: [../elsewhere/]", "phases[0].scope.paths[0]"),
        ("deliverables: [/etc/passwd]", "phases[0].scope.deliverables[0]"),
        ("read_only_context: [../../home/me/.ssh/id_rsa]", "phases[0].scope.read_only_context[0]"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "runs create", "run"])
def test_every_plan_command_refuses_paths_that_leave_the_repository(
    autopack: Callable[..., Result], tmp_path: Path, scope: str, field: str, command: str
) -> None:
    repo = _git_repo(tmp_path / "repo")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"run_id: escape\nphases:\n  - phase_id: p\n    name: p\n    scope:\n      {scope}\n"
    )
    code, out = autopack(*command.split(), str(plan), "--repo", str(repo))
    assert code == 2, out
    assert f"plan.yaml:6: {field}" in out, out
    code, out = autopack("runs", "list", "--json")
    assert '"total": 0' in out or "escape" not in out


def test_runs_create_refuses_a_repository_that_is_not_git(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    plan = tmp_path / "plan.yaml"
    plan.write_text("run_id: r\nphases:\n  - phase_id: p\n    name: p\n")
    code, out = autopack("runs", "create", str(plan), "--repo", str(plain))
    assert code == 2 and "--repo" in out and "not the top of a git repository" in out
    plan.write_text("run_id: r\nrepo: missing\nphases:\n  - phase_id: p\n    name: p\n")
    code, out = autopack("runs", "create", str(plan))
    assert code == 2 and "does not exist" in out
    code, out = autopack("runs", "create", str(plan), "--repo", str(_git_repo(tmp_path / "g")))
    assert code == 0, out
    # A bare repository is one too (the run works in a worktree of its own).
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(tmp_path / "g"), str(bare)], check=True)
    plan.write_text("run_id: r2\nphases:\n  - phase_id: p\n    name: p\n")
    code, out = autopack("runs", "create", str(plan), "--repo", str(bare))
    assert code == 0, out
