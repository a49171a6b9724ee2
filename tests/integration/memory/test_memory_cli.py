"""`autopack memory index | search | rules | stats | prune`, in-process through the
console script's ``main()`` (exit codes included), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from retrieval_set import build_repository

from autopack.db.orm import MemoryRule
from autopack.db.session import make_engine, make_session_factory, unit_of_work
from autopack.memory.embeddings import NO_EXTRA, EmbedderStatus
from autopack.memory.store import repository_key
from cli_runner import invoke_cli

Result = tuple[int, str, str]


@pytest.fixture
def autopack(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    database_url: str,
) -> Callable[..., Result]:
    """`autopack ARGS` in-process against ``database_url``: (exit code, stdout, stderr)."""
    monkeypatch.setenv("AUTOPACK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AUTOPACK_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    lexical = EmbedderStatus(None, NO_EXTRA)
    # Lexical whether or not the semantic extra is installed here.
    for where in ("autopack.memory.retrieval", "autopack.services.memory"):
        monkeypatch.setattr(f"{where}.default_embedder", lambda _session: lexical)

    def run(*args: str) -> Result:
        code, out, err = invoke_cli(monkeypatch, capsys, *args)
        return code, out, err

    return run


def test_index_then_search_prints_ranked_hits_with_scores_and_method(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    build_repository(repo)
    code, out, err = autopack("memory", "index", "--repo", str(repo))
    assert code == 0, err
    assert "indexed 32 file(s)" in out
    code, out, _ = autopack("memory", "index", "--repo", str(repo), "--json")
    assert code == 0 and json.loads(out)["files_unchanged"] == 32

    code, out, err = autopack(
        "memory", "search", "evict lru cache entries", "--repo", str(repo), "--json", "-n", "3"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["methods"] == ["lexical"] and data["notes"] == [NO_EXTRA]
    assert [h["rank"] for h in data["hits"]] == [1, 2, 3]
    assert all(h["method"] == "lexical" and h["score"] > 0 for h in data["hits"])
    assert data["hits"][0]["metadata"]["path"] == "storage/cache.py"

    code, out, err = autopack("memory", "search", "evict lru cache", "--repo", str(repo))
    assert code == 0 and "storage/cache.py" in out and "lexical" in out
    assert "autopack[semantic]" in err

    code, out, _ = autopack("memory", "search", "evict", "--repo", str(repo), "-c", "errors")
    assert code == 0 and "storage/cache.py" not in out


def test_bad_input_is_a_usage_error_that_says_what_to_do(
    autopack: Callable[..., Result], tmp_path: Path
) -> None:
    code, _, err = autopack("memory", "search", "x", "--collection", "bogus", "--repo", ".")
    assert code == 2 and "code, summaries, decisions, errors" in err
    code, _, err = autopack("memory", "rules", "--repo", str(tmp_path / "missing"))
    assert code == 2 and "--repo" in err


def test_rules_stats_and_prune(
    autopack: Callable[..., Result], tmp_path: Path, database_url: str
) -> None:
    repo = tmp_path / "repo"
    build_repository(repo)
    key = repository_key(repo)
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        for n, age in enumerate((1, 200)):
            session.add(
                MemoryRule(
                    repo_key=key,
                    rule_key=f"k{n}",
                    text=f"When changing sched/cron.py: rule {n}",
                    paths=["sched/cron.py"],
                    failure_kind="tests_failed",
                    evidence=[{"run_id": "r1", "phase_id": "p", "attempt": 1, "error": "boom"}],
                    last_seen_at=now - timedelta(days=age),
                )
            )
        session.add(MemoryRule(repo_key="other", rule_key="x", text="someone else's rule"))
    engine.dispose()

    code, out, err = autopack("memory", "rules", "--repo", str(repo), "--json")
    assert code == 0, err
    rules = json.loads(out)["rules"]
    assert [r["text"] for r in rules] == [
        "When changing sched/cron.py: rule 0",
        "When changing sched/cron.py: rule 1",
    ]
    assert rules[0]["evidence"][0]["error"] == "boom"
    code, out, _ = autopack("memory", "rules", "--repo", str(repo))
    assert code == 0 and "rule 0" in out and "r1/p #1: boom" in out

    code, out, _ = autopack("memory", "stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["rules"] == 3 and stats["documents"]["code"] == 0
    assert stats["semantic_search"] == "off" and stats["semantic_reason"] == NO_EXTRA

    code, out, _ = autopack("memory", "prune", "--older-than", "90", "--dry-run")
    assert code == 0 and "would remove rule" in out and "rule 1" in out and "rule 0" not in out
    code, out, _ = autopack("memory", "prune", "--older-than", "90", "--json")
    assert code == 0 and [r["text"] for r in json.loads(out)["rules"]] == [
        "When changing sched/cron.py: rule 1"
    ]
    code, out, _ = autopack("memory", "rules", "--repo", str(repo), "--json")
    assert [r["text"] for r in json.loads(out)["rules"]] == ["When changing sched/cron.py: rule 0"]
