"""Learned rules across runs, end to end with the scripted provider: a failure resolved
in one run becomes a rule of the repository, given to the next run's Builder for a phase
that touches the same paths (and not to one that does not), and memory keeps the
phase's summary and the error with its fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from executor_support import (
    BAD_MUL_FUNC,
    MUL_TEST,
    auditor,
    builder,
    doctor,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)

from autopack.agents.builder import BuilderContext, render_builder_prompt
from autopack.db.session import unit_of_work
from autopack.executor import phase as phase_module
from autopack.memory.embeddings import NO_EXTRA, EmbedderStatus
from autopack.memory.store import repository_key
from autopack.services import memory as memory_service
from autopack.settings import Settings

HINT = "mul() adds instead of multiplying; return a * b"
DIV_FUNC = "\n\ndef div(a: int, b: int) -> float:\n    return a / b\n"


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(phase id, rendered Builder user prompt) of every Builder call."""
    seen: list[tuple[str, str]] = []
    real = phase_module.run_builder

    def recording(client: Any, ctx: BuilderContext, routing: Any) -> Any:
        seen.append((ctx.phase_id, render_builder_prompt(ctx).user))
        return real(client, ctx, routing)

    monkeypatch.setattr(phase_module, "run_builder", recording)
    # Runs search lexically here whether or not the semantic extra is installed.
    monkeypatch.setattr(
        "autopack.services.memory.default_embedder", lambda _s: EmbedderStatus(None, NO_EXTRA)
    )
    return seen


def test_a_rule_learned_in_one_run_is_in_the_next_runs_builder_prompt(
    sqlite_settings: Settings,
    tmp_path: Path,
    harness_factory: Callable[[Settings], Any],
    prompts: list[tuple[str, str]],
) -> None:
    repo = make_repo(tmp_path)
    harness = harness_factory(sqlite_settings)
    # Run 1: attempt 1 breaks the tests, the Doctor diagnoses it, attempt 2 succeeds.
    plan1 = write_plan(tmp_path / "p1.yaml", "rules-1", [phase("mul", paths=["calc.py", "tests/"])])
    script1 = write_script(
        tmp_path / "s1.jsonl",
        [
            builder(
                "mul",
                op("append", "calc.py", content=BAD_MUL_FUNC),
                op("create", "tests/test_mul.py", content=MUL_TEST),
            ),
            doctor("mul", HINT),
            builder("mul", *mul_ops()),
            auditor("mul"),
        ],
    )
    first = harness.execute(harness.create(plan1, repo), script1)
    assert first.state == "DONE_SUCCESS", first.failure_reason
    # The repository had no rules yet: the first attempt's prompt has none.
    assert "## Rules learned" not in prompts[0][1]

    key = repository_key(repo)
    with unit_of_work(harness.db.factory) as session:
        rules = memory_service.list_rules(session, repo_key=key)
        assert len(rules) == 1
        rule = rules[0]
        assert HINT in rule.text and "calc.py" in rule.text
        assert rule.failure_kind == "tests_failed"
        assert rule.evidence[0]["run_id"] == "rules-1" and rule.evidence[0]["attempt"] == 1
        assert "1 new failure" in rule.evidence[0]["error"]
        stats = memory_service.memory_stats(session)
        # The phase's summary and the run's; the error with the Doctor's fix.
        assert stats.documents["summaries"] == 2 and stats.documents["errors"] == 1
        assert stats.documents["code"] > 0
        found = memory_service.search_memory(session, "mul multiplying", repo_key=key).hits
        assert {h.collection for h in found} >= {"errors", "code"}

    # Run 2 on the same repository: a phase on calc.py gets the rule, one on docs/ does not.
    plan2 = write_plan(
        tmp_path / "p2.yaml",
        "rules-2",
        [
            phase("div", paths=["calc.py"]),
            phase("docs", paths=["docs/"], deliverables=["docs/usage.md"]),
        ],
    )
    script2 = write_script(
        tmp_path / "s2.jsonl",
        [
            builder("div", op("append", "calc.py", content=DIV_FUNC)),
            auditor("div"),
            builder("docs", op("create", "docs/usage.md", content="# Usage\n")),
            auditor("docs"),
        ],
    )
    before = len(prompts)
    second = harness.execute(harness.create(plan2, repo), script2)
    assert second.state == "DONE_SUCCESS", second.failure_reason
    by_phase = dict(prompts[before:])
    assert "## Rules learned from earlier failures" in by_phase["div"]
    assert f"- {rule.text}" in by_phase["div"]
    assert rule.text not in by_phase["docs"]
    with unit_of_work(harness.db.factory) as session:
        (used,) = memory_service.list_rules(session, repo_key=key)
        assert used.hit_count == 1 and used.last_used_at is not None
