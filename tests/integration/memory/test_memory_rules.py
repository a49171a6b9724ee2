"""Which learned rules a phase gets: matching paths and category, heaviest first (aged by
idle time), at most five, each counted as used; pruning by idle days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autopack.db.database import Database
from autopack.db.orm import MemoryEmbedding, MemoryRule
from autopack.db.session import unit_of_work
from autopack.services import memory as memory_service

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _rule(n: int, paths: list[str], category: str = "", seen: int = 1, idle: int = 0) -> MemoryRule:
    return MemoryRule(
        repo_key="repo",
        rule_key=f"k{n}",
        text=f"rule {n}",
        paths=paths,
        category=category,
        times_seen=seen,
        last_seen_at=NOW - timedelta(days=idle),
    )


def test_a_phase_gets_its_matching_rules_heaviest_first(db: Database) -> None:
    with unit_of_work(db.factory) as session:
        session.add_all(
            [
                _rule(1, ["src/calc.py"], seen=1),
                _rule(2, ["src/"], seen=4, idle=90),  # 4 halved three times: 0.5
                _rule(3, ["src/*.py"], category="feature", seen=3),
                _rule(4, ["docs/"], seen=9),  # another path
                _rule(5, ["src/calc.py"], category="docs", seen=9),  # another category
                MemoryRule(repo_key="elsewhere", rule_key="x", text="other repo", paths=[]),
            ]
        )
    with unit_of_work(db.factory) as session:
        chosen = memory_service.rules_for_phase(
            session, repo_key="repo", paths=["src/calc.py"], category="feature", now=NOW
        )
        assert [r.text for r in chosen] == ["rule 3", "rule 1", "rule 2"]
    with unit_of_work(db.factory) as session:
        used = {r.text: r.hit_count for r in memory_service.list_rules(session, repo_key="repo")}
    assert used == {"rule 1": 1, "rule 2": 1, "rule 3": 1, "rule 4": 0, "rule 5": 0}


def test_at_most_five_rules_and_prune_removes_the_idle(db: Database) -> None:
    with unit_of_work(db.factory) as session:
        session.add_all([_rule(n, [], idle=10 * n) for n in range(8)])
        session.add(MemoryEmbedding(content_hash="gone", model="m", dimension=1, vector=[1.0]))
    with unit_of_work(db.factory) as session:
        chosen = memory_service.rules_for_phase(
            session, repo_key="repo", paths=["a.py"], category="x", now=NOW, limit=5
        )
        assert [r.text for r in chosen] == [f"rule {n}" for n in range(5)]
    with unit_of_work(db.factory) as session:
        # Used just now: rules 0-4 are active again; 5, 6 and 7 have been idle 50+ days.
        result = memory_service.prune_memory(session, older_than_days=45, now=NOW, dry_run=False)
        assert sorted(r.text for r in result.rules) == ["rule 5", "rule 6", "rule 7"]
        assert result.embeddings == 1
    with unit_of_work(db.factory) as session:
        assert len(memory_service.list_rules(session, repo_key="repo")) == 5
        assert memory_service.memory_stats(session).embeddings == {}
