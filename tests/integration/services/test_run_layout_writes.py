"""A new run's layout is written in place (no reader can know the run yet); every later
rewrite still replaces files atomically, and the in-place writer is no way around that.
Creating a run costs a fixed number of statements, and the run it returns is the run a
later read gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from autopack.api.schemas import RunResponse
from autopack.db.database import Database
from autopack.db.session import unit_of_work
from autopack.domain.plan import RunSpec
from autopack.executor.artifacts import RunArtifacts, write_unpublished
from autopack.services.runs import create_run, get_run, write_layout
from autopack.settings import Settings
from sql_statements import recorded_statements

TOKEN = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def _spec(run_id: str = "lay", phases: int = 3) -> RunSpec:
    return RunSpec.model_validate(
        {
            "run_id": run_id,
            "budgets": {"max_phases": max(phases, 1)},
            "phases": [
                {"phase_id": f"p{i}", "name": f"Phase {i}", "description": f"do {i}"}
                for i in range(phases)
            ],
        }
    )


def _two_tier_spec(run_id: str, phases: int) -> RunSpec:
    """Tiers and phases listed out of their index order, half the phases in each tier."""
    return RunSpec.model_validate(
        {
            "run_id": run_id,
            "budgets": {"max_phases": phases},
            "tiers": [
                {"tier_id": "late", "name": "Late", "tier_index": 1},
                {"tier_id": "early", "name": "Early", "tier_index": 0},
            ],
            "phases": [
                {
                    "phase_id": f"p{i}",
                    "name": f"Phase {i}",
                    "tier_id": "early" if i % 2 else "late",
                    "phase_index": phases - i,
                    "scope": {"paths": [f"src/p{i}.py"]},
                }
                for i in range(phases)
            ],
        }
    )


def _phase_files(root: Path) -> list[Path]:
    return sorted((root / "phases").glob("*.md"))


def test_a_new_runs_layout_replaces_what_a_deleted_run_of_that_id_left(
    db: Database, settings: Settings
) -> None:
    root = settings.runs_dir / "lay"
    (root / "phases").mkdir(parents=True)
    stale = root / "phases" / "phase_00_p0.md"
    stale.write_text("stale summary of an older run\n" * 500)
    with unit_of_work(db.factory) as session:
        create_run(session, _spec(), runs_dir=settings.runs_dir)
    text = stale.read_text()
    assert text.startswith("# Phase p0\n") and "stale" not in text  # truncated, not overlaid
    assert [p.name for p in _phase_files(root)] == [
        "phase_00_p0.md",
        "phase_01_p1.md",
        "phase_02_p2.md",
    ]
    assert (root / "run_summary.md").exists() and (root / "intention.md").exists()
    # Private to the user, as the atomic writer's files are.
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in _phase_files(root))
    assert not list(root.rglob("*.tmp"))


def test_a_layout_rewrite_of_an_existing_run_replaces_each_file_atomically(
    db: Database, settings: Settings
) -> None:
    with unit_of_work(db.factory) as session:
        create_run(session, _spec(), runs_dir=settings.runs_dir)
    root = settings.runs_dir / "lay"
    before = {p.name: p.stat().st_ino for p in _phase_files(root)}
    # A reader holding the old file open keeps reading a whole old summary.
    with (root / "phases" / "phase_00_p0.md").open() as held:
        with unit_of_work(db.factory) as session:
            run = get_run(session, "lay")
            run.phases[0].state = "EXECUTING"
            write_layout(run, settings.runs_dir)
        assert "QUEUED" in held.read()
    after = {p.name: p.stat().st_ino for p in _phase_files(root)}
    assert before.keys() == after.keys()
    assert all(before[n] != after[n] for n in before)  # new files renamed over the old
    assert "EXECUTING" in (root / "phases" / "phase_00_p0.md").read_text()


def test_only_a_writer_made_for_an_unpublished_run_writes_in_place(tmp_path: Path) -> None:
    published = RunArtifacts(tmp_path, "r")
    published.ensure()
    path = published.write_phase_summary(0, "p", {"state": "QUEUED"})
    inode = path.stat().st_ino
    published.write_phase_summary(0, "p", {"state": "COMPLETE"})
    assert path.stat().st_ino != inode  # the default writer never writes in place
    unpublished = RunArtifacts(tmp_path, "r2", unpublished=True)
    unpublished.ensure()
    written = unpublished.write_phase_summary(0, "p", {"note": TOKEN})
    assert TOKEN not in written.read_text()  # in place, and redacted all the same


def test_the_in_place_writer_never_follows_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    link = tmp_path / "phase.md"
    os.symlink(outside, link)
    with pytest.raises(OSError):
        write_unpublished(link, "overwritten\n")
    assert outside.read_text() == "keep me\n"


def test_creating_a_run_costs_the_same_statements_for_2_and_120_phases(
    db: Database, settings: Settings
) -> None:
    counts = {}
    for phases in (2, 120):
        with recorded_statements(db.engine) as seen, unit_of_work(db.factory) as session:
            create_run(session, _two_tier_spec(f"n{phases}", phases), runs_dir=settings.runs_dir)
        inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT")]
        counts[phases] = (len(seen), len(inserts))
        assert len(inserts) == 3, inserts  # the run, its tiers, its phases
    assert counts[2] == counts[120]
    assert len(list((settings.runs_dir / "n120" / "phases").glob("*.md"))) == 120


def test_the_created_run_is_what_a_later_read_returns(db: Database, settings: Settings) -> None:
    with unit_of_work(db.factory) as session:
        created = RunResponse.of(
            create_run(session, _two_tier_spec("same", 7), runs_dir=settings.runs_dir)
        )
    with unit_of_work(db.factory) as session:
        stored = get_run(session, "same")
        assert [(p.tier.tier_id, p.phase_index) for p in stored.phases] == [
            (p.tier_id, p.phase_index) for p in created.phases
        ]
        read = RunResponse.of(stored)
    assert created == read
    assert [t.tier_id for t in created.tiers] == ["early", "late"]
    assert [p.phase_index for p in created.phases] == list(range(1, 8))
    assert [p.phase_id for p in created.tiers[0].phases] == ["p5", "p3", "p1"]
    assert created.phases[0].scope["paths"] == ["src/p6.py"]


def test_a_run_without_phases_is_created_all_the_same(db: Database, settings: Settings) -> None:
    with unit_of_work(db.factory) as session:
        run = create_run(session, _spec("empty", phases=0), runs_dir=settings.runs_dir)
        assert (run.tiers, run.phases) == ([], [])
    root = settings.runs_dir / "empty"
    assert (root / "run_summary.md").is_file() and not _phase_files(root)


def test_a_new_file_is_created_private_and_an_existing_one_narrowed(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.md"
    write_unpublished(fresh, "new\n")
    old = tmp_path / "old.md"
    old.write_text("an older and much longer text\n")
    old.chmod(0o644)
    write_unpublished(old, "short\n")
    assert (fresh.read_text(), old.read_text()) == ("new\n", "short\n")
    assert stat.S_IMODE(fresh.stat().st_mode) == stat.S_IMODE(old.stat().st_mode) == 0o600
