"""No status walk in a phase nobody else wrote in, and a file dropped into the worktree
between phases is kept through the next phase's retry, and never committed.

The next phase's clean check is answered without a walk only while the worktree's watch
saw no write since the last one (workspace/watch.py). Here a person drops a file in
between, and the next phase's first attempt is sent back by the Auditor: going back to
the savepoint must bring the person's file back, not delete it as an untracked file the
attempt made; and since no Auditor read it, no phase's commit takes it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from executor_support import committed_repo, count_per_phase, git

from autopack.db.database import open_database
from autopack.db.session import unit_of_work
from autopack.executor import phase as phase_module
from autopack.executor.loop import build_deps, execute_run
from autopack.planning.normalize import load_plan
from autopack.services.runs import create_run
from autopack.settings import Settings
from autopack.workspace.watch import WorktreeWatch

pytestmark = pytest.mark.skipif(
    WorktreeWatch.start(Path(__file__).parent) is None, reason="no inotify on this system"
)


def _verdict(recommendation: str) -> str:
    return json.dumps(
        {"recommendation": recommendation, "confidence": 0.9, "review_notes": "n", "issues": []}
    )


def _setup(root: Path) -> tuple[Path, Path, Path]:
    repo = committed_repo(root / "repo", {"README.md": "watch\n"})
    phases = [
        {"phase_id": f"p{i}", "name": f"phase {i}", "scope": {"paths": [f"out/p{i}/"]}}
        for i in range(3)
    ]
    for p in phases:
        p["scope"]["tests"] = ["true"]
    plan = root / "plan.yaml"
    plan.write_text(yaml.safe_dump({"run_id": "watch", "phases": phases}))
    usage = {"prompt_tokens": 100, "completion_tokens": 20}

    def builder(i: int) -> dict[str, Any]:
        create = {"op": "create", "path": f"out/p{i}/f.txt", "content": f"{i}\n"}
        return {
            "role": "builder",
            "phase_id": f"p{i}",
            "content": json.dumps(create),
            "usage": usage,
        }

    def auditor(i: int, verdict: str) -> dict[str, Any]:
        return {
            "role": "auditor",
            "phase_id": f"p{i}",
            "content": _verdict(verdict),
            "usage": usage,
        }

    lines = [
        builder(0),
        auditor(0, "approve"),
        builder(1),
        auditor(1, "revise"),  # back to p1's savepoint, then a second attempt
        builder(1),
        auditor(1, "approve"),
        builder(2),
        auditor(2, "approve"),
    ]
    script = root / "script.jsonl"
    script.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return repo, plan, script


def test_a_file_dropped_between_phases_survives_the_next_phases_retry(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, plan, script = _setup(tmp_path)
    settings = sqlite_settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})
    worktree = settings.worktrees_dir / "watch"

    def listener(event: str, **data: Any) -> None:
        if event == "phase_complete" and data.get("phase_id") == "p0":
            (worktree / "notes").mkdir()
            (worktree / "notes" / "todo.txt").write_text("a person's note\n")

    walks = count_per_phase(monkeypatch, Counter[str](), walks="walks")
    db = open_database(settings)
    try:
        with unit_of_work(db.factory) as session:
            create_run(session, load_plan(plan), runs_dir=settings.runs_dir, repo_path=str(repo))
        outcome = execute_run(build_deps(settings, db, progress=listener), "watch")
        assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    finally:
        db.dispose()

    files_of: dict[str, list[str]] = {}
    for line in git(repo, "log", "--format=@%s", "--name-only", "autopack/watch").splitlines():
        if line.startswith("@"):
            files = files_of.setdefault(line[1:].split(":")[0], [])
        elif line:
            files.append(line)
    # Each phase's commit is what its Builder wrote; the note was never reviewed, so it is
    # kept in the worktree through p1's retry but is on no commit of the branch.
    assert files_of["p0"] == ["out/p0/f.txt"]
    assert files_of["p1"] == ["out/p1/f.txt"] and files_of["p2"] == ["out/p2/f.txt"]
    assert (worktree / "notes" / "todo.txt").read_text() == "a person's note\n"
    assert git(worktree, "status", "--porcelain", "--untracked-files=all") == (
        "?? notes/todo.txt\n"
    )
    # p0: its savepoint's clean check is the run's first walk; its squash sees from what
    # the watch named that the worktree is still clean. p1: its savepoint walks (the watch
    # saw the note), and so does the clean check before going back to the savepoint; its
    # squash walks nothing. p2: its savepoint walks, as the note is still there.
    assert [w["walks"] for w in walks] == [1, 2, 1]


def test_a_suite_that_leaves_files_behind_never_puts_them_on_the_branch(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's tests write a file the project does not ignore, every time they run,
    and the middle phase's first attempt is sent back: every phase's commit is still its
    Builder's file alone, the Auditor's diffs hold nothing else, and the file the tests
    keep writing stays in the worktree, uncommitted."""
    repo, plan, script = _setup(tmp_path)
    data = yaml.safe_load(plan.read_text())
    for p in data["phases"]:
        p["scope"]["tests"] = ["sh -c 'date +%N >> test-report.txt'"]
    plan.write_text(yaml.safe_dump(data))
    settings = sqlite_settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})
    worktree = settings.worktrees_dir / "watch"
    reviewed: list[str] = []
    real_auditor = phase_module.run_auditor

    def auditor(client: Any, ctx: Any, routing: Any) -> Any:
        reviewed.append(ctx.diff)
        return real_auditor(client, ctx, routing)

    monkeypatch.setattr(phase_module, "run_auditor", auditor)
    db = open_database(settings)
    try:
        with unit_of_work(db.factory) as session:
            create_run(session, load_plan(plan), runs_dir=settings.runs_dir, repo_path=str(repo))
        outcome = execute_run(build_deps(settings, db), "watch")
        assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    finally:
        db.dispose()

    log = git(repo, "log", "--format=@%s", "--name-only", "main..autopack/watch").splitlines()
    assert [x for x in log if x and not x.startswith("@")] == [
        "out/p2/f.txt",
        "out/p1/f.txt",
        "out/p0/f.txt",
    ]
    assert len(reviewed) == 4 and not any("test-report.txt" in d for d in reviewed)
    # Four test runs, one per attempt; the reset after p1's first attempt kept the lines
    # the savepoint held and dropped only the one that attempt's run wrote.
    assert len((worktree / "test-report.txt").read_text().splitlines()) == 3
    status = git(worktree, "status", "--porcelain", "--untracked-files=all")
    assert status == "?? test-report.txt\n"
