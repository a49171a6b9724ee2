"""End-to-end runs of the executor with the scripted provider on real git repositories."""

from __future__ import annotations

from pathlib import Path

import yaml
from executor_support import (
    BAD_MUL_FUNC,
    LEGACY_300,
    MUL_TEST,
    auditor,
    builder,
    doctor,
    git,
    make_repo,
    mul_ops,
    op,
    phase,
    write_plan,
    write_script,
)
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from autopack.api.app import create_app
from autopack.config import BUNDLED_MODELS_CONFIG
from autopack.db.orm import Approval, LlmUsageEvent, PhaseAttempt
from autopack.domain.results import BuilderResult
from autopack.errors import Overloaded
from autopack.executor.loop import build_deps, execute_run
from autopack.llm.base import Completion, LLMRequest
from autopack.llm.client import LLMClient
from autopack.llm.factory import build_router, effective_config
from autopack.llm.scripted import ScriptedProvider
from autopack.services import runs as run_service
from autopack.services.phases import submit_builder_result
from autopack.services.usage import make_usage_sink
from autopack.settings import Settings


def test_successful_run_builds_each_phase_as_one_commit(
    settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "ok-run",
        [
            phase("mul", paths=["calc.py", "tests/"], deliverables=["calc.py::mul"]),
            phase("sub", tier="T2", paths=["calc.py", "tests/"], deliverables=["calc.py::sub"]),
        ],
        tiers=[{"tier_id": "T1", "name": "One"}, {"tier_id": "T2", "name": "Two"}],
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("mul", *mul_ops()),
            auditor("mul"),
            builder(
                "sub",
                op(
                    "append",
                    "calc.py",
                    content="\n\ndef sub(a: int, b: int) -> int:\n    return a - b\n",
                ),
            ),
            auditor("sub"),
        ],
    )
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert [p.state for p in outcome.phases] == ["COMPLETE", "COMPLETE"]
    subjects = git(repo, "log", "--format=%s", "main..autopack/ok-run").splitlines()
    assert subjects == ["sub: Phase sub", "mul: Phase mul"]
    # The user's checkout is untouched: still on main, clean, no artifacts inside.
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".autonomous_runs").exists()
    worktree = Path(outcome.worktree or "")
    assert "def sub" in (worktree / "calc.py").read_text()
    # Every LLM call is one usage event with exact tokens, counted on the run.
    with harness.db.factory() as session:
        events = session.scalars(select(LlmUsageEvent)).all()
        assert len(events) == 4
        assert all(e.exact and e.prompt_tokens is not None for e in events)
        assert sum(e.total_tokens for e in events) == outcome.tokens_used
    artifacts = Path(outcome.artifacts)
    assert (artifacts / "run_summary.md").read_text().count("DONE_SUCCESS") == 1
    assert len(list((artifacts / "phases").glob("*.md"))) == 2
    assert (artifacts / "decision_log.jsonl").read_text().count("phase_complete") == 2


def test_failed_tests_then_doctor_hint_then_success(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml", "doctor-run", [phase("mul", paths=["calc.py", "tests/"])]
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder(
                "mul",
                op("append", "calc.py", content=BAD_MUL_FUNC),
                op("create", "tests/test_mul.py", content=MUL_TEST),
            ),
            doctor("mul", "mul() adds instead of multiplying; return a * b"),
            builder("mul", *mul_ops()),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    result = outcome.phases[0]
    assert (result.builder_attempts, result.doctor_calls) == (2, 1)
    with harness.db.factory() as session:
        roles = [a.role for a in session.scalars(select(PhaseAttempt).order_by(PhaseAttempt.id))]
        first = session.scalars(
            select(PhaseAttempt).where(PhaseAttempt.role == "builder").order_by(PhaseAttempt.id)
        ).first()
        assert first is not None and "1 new failure" in first.payload["failure"]
    assert roles == ["builder", "doctor", "builder", "auditor"]
    # The failed attempt was rolled back: one commit, with the right code.
    assert git(repo, "log", "--format=%s", "main..autopack/doctor-run").splitlines() == [
        "mul: Phase mul"
    ]
    assert "return a * b" in (Path(outcome.worktree or "") / "calc.py").read_text()


def test_out_of_scope_edit_is_rejected_then_corrected(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml", "scope-run", [phase("mul", paths=["calc.py", "tests/"])]
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("mul", *mul_ops(), op("create", "setup.cfg", content="[x]\n")),
            builder("mul", *mul_ops()),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    with harness.db.factory() as session:
        attempts = session.scalars(
            select(PhaseAttempt).where(PhaseAttempt.role == "builder").order_by(PhaseAttempt.id)
        ).all()
        assert [a.apply_status for a in attempts] == ["rejected", "applied"]
        assert "setup.cfg" in attempts[0].payload["failure"]
    assert not (Path(outcome.worktree or "") / "setup.cfg").exists()


def test_token_cap_ends_the_run(settings: Settings, tmp_path: Path, harness_factory) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "cap-run",
        [phase("mul", paths=["calc.py", "tests/"])],
        budgets={"token_cap": 1000},
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(settings)
    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_FAILED_TOKEN_CAP_EXCEEDED"
    assert "token cap" in (outcome.failure_reason or "")
    assert outcome.tokens_used == 1200  # the Builder's call is counted; no Auditor call made
    with harness.db.factory() as session:
        assert session.scalar(select(func.count()).select_from(LlmUsageEvent)) == 1


def test_a_phases_incident_token_cap_stops_it_before_the_next_model_call(
    settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "incident-run",
        [phase("mul", paths=["calc.py", "tests/"], budgets={"incident_token_cap": 1000})],
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(settings)
    outcome = harness.execute(harness.create(plan, repo), script)

    assert outcome.state == "DONE_FAILED_BUDGET_EXHAUSTED", outcome.failure_reason
    assert "phase mul used 1,200 tokens, its incident token cap is 1,000" in (
        outcome.failure_reason or ""
    )
    with harness.db.factory() as session:  # the Auditor was never asked
        assert session.scalar(select(func.count()).select_from(LlmUsageEvent)) == 1


def test_escalation_follows_the_router_config(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    bundled = yaml.safe_load(BUNDLED_MODELS_CONFIG.read_text())
    models = {
        "small": {"provider": "scripted", "max_output_tokens": 8000, "context_window": 100000},
        "big": {"provider": "scripted", "max_output_tokens": 8000, "context_window": 100000},
    }
    chains = {
        role: {"low": ["small"], "medium": ["big"], "high": ["big"]}
        for role in ("builder", "auditor", "doctor", "planner")
    }
    fallback = {**bundled["provider_fallback"], "counterparts": {}}
    config = {
        **bundled,
        "models": models,
        "escalation_chains": chains,
        "provider_fallback": fallback,
        "category_overrides": {},
        "pricing": {},
    }
    config_path = tmp_path / "models.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    settings = sqlite_settings.model_copy(update={"models_config": config_path})
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml",
        "esc-run",
        [phase("mul", paths=["calc.py", "tests/"], complexity="low")],
    )
    missing = op(
        "search_replace",
        "calc.py",
        old="def nothing_here():\n    pass\n",
        new="def mul(a, b):\n    return a * b\n",
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("mul", missing),
            builder("mul", missing),
            doctor("mul", "the anchor does not exist; append the function instead"),
            builder("mul", *mul_ops()),
            auditor("mul"),
        ],
    )
    harness = harness_factory(settings)
    run_id = harness.create(plan, repo)
    outcome = harness.execute(run_id, script, force_scripted=False)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    with harness.db.factory() as session:
        routed = [
            a.payload["routed_model"]
            for a in session.scalars(
                select(PhaseAttempt).where(PhaseAttempt.role == "builder").order_by(PhaseAttempt.id)
            )
        ]
    assert routed[0] == "small"
    assert routed[-1] == "big"  # low -> medium after 2 failures (complexity_escalation)


def test_large_deletion_waits_for_approval_through_the_api(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path, {"legacy.py": LEGACY_300})
    plan = write_plan(
        tmp_path / "plan.yaml", "del-run", [phase("mul", paths=["calc.py", "tests/", "legacy.py"])]
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            builder("mul", op("delete", "legacy.py"), *mul_ops()),
            auditor("mul"),
        ],
    )
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    outcome = harness.execute(run_id, script)

    assert outcome.state == "PHASE_EXECUTION"
    assert outcome.awaiting_approval == ["mul"]
    assert (Path(outcome.worktree or "") / "legacy.py").exists()  # nothing deleted yet

    api_settings = sqlite_settings.model_copy(
        update={"llm_provider": "scripted", "llm_script": script}
    )
    with TestClient(create_app(api_settings, database=harness.db)) as client:
        pending = client.get("/approvals", params={"status": "pending"}).json()["approvals"]
        assert [a["phase_id"] for a in pending] == ["mul"]
        assert pending[0]["details"]["net_deleted_lines"] == 300
        response = client.post(
            f"/approvals/{pending[0]['id']}/approve",
            json={"note": "legacy is dead code"},
        )
        assert response.status_code == 200, response.text
        client.app.state.executor_pool.wait(run_id, timeout=120)  # type: ignore[attr-defined]
        status = client.get(f"/runs/{run_id}/status").json()

    assert status["state"] == "DONE_SUCCESS", status["failure_reason"]
    with harness.db.factory() as session:
        approval = session.scalars(select(Approval)).one()
        # A keyless loopback server: the decision is recorded as "local".
        assert (approval.status, approval.decided_by) == ("approved", "local")
    assert not (Path(outcome.worktree or "") / "legacy.py").exists()


def test_cancel_stops_the_run_at_its_next_step(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml", "cancel-run", [phase("mul", paths=["calc.py", "tests/"])]
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)

    def cancel_when_applied(event: str, **data: object) -> None:
        harness.events.append((event, dict(data)))
        if event == "applied":  # someone presses cancel while the phase is running
            with harness.db.factory.begin() as session:
                run_service.request_cancel(session, run_id, actor="test")

    harness._record = cancel_when_applied  # type: ignore[method-assign]
    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_CANCELLED"
    assert outcome.failure_reason == "cancelled by request"
    events = [name for name, _ in harness.events]
    assert "verify" not in events  # stopped before the next step
    with harness.db.factory() as session:
        assert session.scalar(select(func.count()).select_from(LlmUsageEvent)) == 1


def test_auditor_outage_asks_the_auditor_again_not_the_builder(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml", "outage-run", [phase("mul", paths=["calc.py", "tests/"])]
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    settings = sqlite_settings.model_copy(update={"llm_provider": "scripted", "llm_script": script})
    config = effective_config(settings)
    inner = ScriptedProvider.from_config(
        config.providers["scripted"], script=script, state_dir=tmp_path / "state"
    )

    class Outage:
        """The Auditor's provider is down for one whole call (every retry of it)."""

        name = "scripted"
        failures = 4  # = retry.max_attempts: the client gives up once

        def complete(self, request: LLMRequest) -> Completion:
            if request.role == "auditor" and self.failures:
                self.failures -= 1
                raise Overloaded("overloaded", provider="scripted")
            return inner.complete(request)

    deps = build_deps(settings, harness.db)
    deps.test_env.update({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    deps.client_factory = lambda: LLMClient(
        config,
        router=build_router(settings, config),
        provider_factory=lambda name: Outage(),
        usage_sink=make_usage_sink(harness.db.factory, config.price_table()),
        sleep=lambda seconds: None,
    )
    outcome = execute_run(deps, run_id)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert outcome.phases[0].builder_attempts == 1  # the applied answer was kept
    with harness.db.factory() as session:
        assert session.scalar(select(func.count()).select_from(LlmUsageEvent)) == 2


def test_results_submitted_through_the_api_are_not_taken_for_executor_attempts(
    sqlite_settings: Settings, tmp_path: Path, harness_factory
) -> None:
    repo = make_repo(tmp_path)
    plan = write_plan(
        tmp_path / "plan.yaml", "mixed-run", [phase("mul", paths=["calc.py", "tests/"])]
    )
    script = write_script(tmp_path / "s.jsonl", [builder("mul", *mul_ops()), auditor("mul")])
    harness = harness_factory(sqlite_settings)
    run_id = harness.create(plan, repo)
    # Someone reports a failed Builder try through the API before the run is executed.
    result = BuilderResult(run_id=run_id, phase_id="mul", status="failed", notes="by hand")
    submit_builder_result(harness.db.factory, run_id, "mul", result)

    outcome = harness.execute(run_id, script)

    assert outcome.state == "DONE_SUCCESS", outcome.failure_reason
    assert "def mul" in (Path(outcome.worktree or "") / "calc.py").read_text()
