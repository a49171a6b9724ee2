"""The run loop: lease, worktree, baseline, tiers and phases in order, budgets, the end.

:func:`execute_run` is the one entry point (CLI, API pool and workers all call it). It
returns a :class:`RunOutcome`; the run's state in the database says how it ended:
``DONE_SUCCESS``, a ``DONE_FAILED_*`` state with its reason, ``DONE_CANCELLED``, or still
``PHASE_EXECUTION`` when a phase is parked waiting for a person's approval.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import defer

from autopack.db.database import Database
from autopack.db.orm import DecisionLog, Phase, Run, Tier
from autopack.db.session import unit_of_work
from autopack.domain.states import PhaseState, RunState, TierState
from autopack.errors import (
    AuthenticationFailed,
    BudgetExhausted,
    ConfigurationError,
    LeaseHeld,
    ToolchainError,
    WorkspaceError,
)
from autopack.executor import memory as executor_memory
from autopack.executor.artifacts import RunArtifacts
from autopack.executor.environment import (
    EnvironmentUnusable,
    prepare_run_environment,
    project_command_env,
    test_commands,
)
from autopack.executor.phase import PhaseExecution, RunFailed
from autopack.executor.runtime import (
    Cancelled,
    ExecutorDeps,
    LeaseLost,
    ProgressListener,
    RunContext,
    ShuttingDown,
    no_progress,
    owner_is_dead,
)
from autopack.executor.trajectory import TrajectoryRecorder
from autopack.llm.client import LLMClient
from autopack.llm.factory import build_client, build_redactor, effective_config
from autopack.memory.embeddings import NO_EXTRA, EmbedderStatus, extra_installed, load_embedder
from autopack.memory.intention import build_anchor, drift_similarity
from autopack.services import runs as run_service
from autopack.services.leases import (
    Fence,
    acquire_lease,
    assert_lease_current,
    fenced,
    release_lease,
    renew_lease,
)
from autopack.services.phases import set_phase_state
from autopack.services.quotas import QuotaGate
from autopack.services.runs import set_run_state, set_tier_state
from autopack.services.usage import make_estimation_sink, make_usage_sink
from autopack.settings import Settings
from autopack.verify.baseline import Baseline
from autopack.verify.baseline_gate import StartProblem, diagnose, judge_baseline
from autopack.verify.suite import run_tests
from autopack.workspace.git import GitWorkspace

#: Which run state a spent budget ends in.
BUDGET_STATES: dict[str, RunState] = {
    "token_cap": RunState.DONE_FAILED_TOKEN_CAP_EXCEEDED,
    "max_phases": RunState.DONE_FAILED_PHASE_LIMIT_EXCEEDED,
}
_IN_FLIGHT = frozenset(
    {PhaseState.EXECUTING.value, PhaseState.GATE.value, PhaseState.CI_RUNNING.value}
)
ENVIRONMENT_ERRORS = (ToolchainError, WorkspaceError, ConfigurationError, AuthenticationFailed)


class PhaseResult(BaseModel):
    phase_id: str
    tier_id: str
    name: str
    state: str
    builder_attempts: int
    auditor_attempts: int
    doctor_calls: int
    tokens_used: int
    commit_sha: str | None
    last_failure: str | None


class RunOutcome(BaseModel):
    run_id: str
    state: str
    failure_reason: str | None
    tokens_used: int
    token_cap: int
    branch: str | None
    worktree: str | None
    artifacts: str
    awaiting_approval: list[str] = Field(default_factory=list)
    phase_counts: dict[str, int] = Field(
        default_factory=dict, description="How many phases ended in each state."
    )
    phases: list[PhaseResult] = Field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.state == RunState.DONE_SUCCESS.value


def execute_run(deps: ExecutorDeps, run_id: str) -> RunOutcome:
    """Execute (or resume) ``run_id`` until it ends or parks for approval.

    Raises LeaseHeld when another live executor holds the run, NotFoundError for an
    unknown run, and ConfigurationError when the run has no target repository. Every
    database write of the execution is fenced with the lease it took (services/leases.py):
    if another executor takes the run over, this one's next write is refused, nothing of
    it is kept, and it returns the run's outcome as the new holder left it so far.
    """
    outcome, parked = _execute_once(deps, run_id)
    # A person may decide while this execution was still parking (the lease not yet
    # released): whoever decided then saw the run executing and left it to this one.
    while parked and not _still_parked(deps, run_id):
        try:
            outcome, parked = _execute_once(deps, run_id)
        except LeaseHeld:
            break  # another executor took the run up in the meantime
    return outcome


def _execute_once(deps: ExecutorDeps, run_id: str) -> tuple[RunOutcome, bool]:
    """One execution under one lease: the outcome, and whether it parked for approval."""
    fence = _take_lease(deps, run_id)
    stop = threading.Event()
    heartbeat = threading.Thread(target=_heartbeat, args=(deps, fence, stop), daemon=True)
    heartbeat.start()
    execution = _RunExecution(deps, run_id, fence)
    try:
        with fenced(fence):
            outcome = execution.run()
    finally:
        stop.set()
        heartbeat.join(timeout=5)
        with unit_of_work(deps.db.factory) as session:
            release_lease(session, run_id, deps.owner, token=fence.token, now=deps.clock())
    return outcome, execution.parked


def _still_parked(deps: ExecutorDeps, run_id: str) -> bool:
    """Whether the run has nothing for an executor to do: a phase still awaits a person's
    approval, or the run is not executing any more (cancelled, ended)."""
    with unit_of_work(deps.db.factory) as session:
        run = run_service.get_run(session, run_id, check_states=False)
        if run.state != RunState.PHASE_EXECUTION.value:
            return True
        return any(p.state == PhaseState.AWAITING_APPROVAL.value for p in run.phases)


def _take_lease(deps: ExecutorDeps, run_id: str) -> Fence:
    try:
        with unit_of_work(deps.db.factory) as session:
            run = acquire_lease(
                session, run_id, deps.owner, seconds=deps.settings.lease_seconds, now=deps.clock()
            )
            return Fence(run_id=run_id, owner=deps.owner, token=run.lease_token)
    except LeaseHeld as exc:
        holder = str(exc.context.get("owner", ""))
        if not owner_is_dead(holder):
            raise
    with unit_of_work(deps.db.factory) as session:  # its process is gone: take over
        run = acquire_lease(
            session,
            run_id,
            deps.owner,
            seconds=deps.settings.lease_seconds,
            now=deps.clock(),
            takeover=holder,
        )
        return Fence(run_id=run_id, owner=deps.owner, token=run.lease_token)


def _heartbeat(deps: ExecutorDeps, fence: Fence, stop: threading.Event) -> None:
    """Renew the lease while a long step (a test suite, a model call) runs; stop for good
    once it is lost (renewal never takes a lease back)."""
    interval = max(1.0, deps.settings.lease_seconds / 3)
    while not stop.wait(interval):
        try:
            with unit_of_work(deps.db.factory) as session:
                renew_lease(session, fence, seconds=deps.settings.lease_seconds, now=deps.clock())
        except LeaseLost:
            return
        except Exception:  # a missed renewal only shortens the lease; the next one retries
            continue


class _RunExecution:
    def __init__(self, deps: ExecutorDeps, run_id: str, fence: Fence) -> None:
        self.deps = deps
        self.run_id = run_id
        self.fence = fence
        #: Set when the execution stops at a phase waiting for a person's approval.
        self.parked = False
        self.artifacts = RunArtifacts(
            deps.settings.runs_dir, run_id, redactor=build_redactor(deps.settings)
        )

    def run(self) -> RunOutcome:
        try:
            self._execute()
        except LeaseLost as exc:
            # Another executor owns the run now (met here when ending the run was refused):
            # leave its state (and lease) alone.
            self.deps.progress("lease_lost", run_id=self.run_id, reason=str(exc))
        return self.outcome()

    def _execute(self) -> None:
        ctx: RunContext | None = None
        try:
            ctx = self._start()
            if ctx is None:
                return
            ctx.environment = prepare_run_environment(ctx)
            baseline = self._baseline(ctx)
            for tier_pk in self._tier_ids():
                if self._run_tier(ctx, tier_pk, baseline) == "parked":
                    self.parked = True
                    return
            self._end(RunState.DONE_SUCCESS, None)
        except LeaseLost as exc:
            # Another executor owns the run now: leave its state (and lease) alone.
            self.deps.progress("lease_lost", run_id=self.run_id, reason=str(exc))
        except ShuttingDown as exc:
            # The last step is saved; the lease is released by execute_run and whoever
            # executes the run next resumes it from here.
            self.deps.progress("handed_over", run_id=self.run_id, reason=str(exc))
        except Cancelled:
            self._end(RunState.DONE_CANCELLED, "cancelled by request")
        except BudgetExhausted as exc:
            self._end(
                BUDGET_STATES.get(exc.budget, RunState.DONE_FAILED_BUDGET_EXHAUSTED), exc.message
            )
        except RunFailed as exc:
            self._end(RunState(exc.state), exc.reason)
        except EnvironmentUnusable as exc:
            self._stop_at_start(exc.problem)
        except ENVIRONMENT_ERRORS as exc:
            self.artifacts.write_error(component="executor", error=exc)
            self._end(RunState.DONE_FAILED_ENVIRONMENT, exc.message)
        except Exception as exc:
            self.artifacts.write_error(component="executor", error=exc)
            self._end(
                RunState.DONE_FAILED_ENVIRONMENT, f"internal error: {type(exc).__name__}: {exc}"
            )
            raise
        finally:
            if ctx is not None:
                ctx.workspace.close()  # the worktree's watch (an inotify descriptor)

    # -- start ------------------------------------------------------------------------
    def _start(self) -> RunContext | None:
        deps = self.deps
        with unit_of_work(deps.db.factory) as session:
            run = run_service.get_run(session, self.run_id)
            state = RunState(run.state)
            if state is RunState.DONE_SUCCESS:
                return None
            if state.is_terminal:
                set_run_state(
                    session, run, RunState.PHASE_EXECUTION, via="resume", now=deps.clock()
                )
                run.cancel_requested = False
                # An explicit resume gets a fresh health budget (token and time caps stay).
                run.provider_errors = run.apply_failures = run.total_failures = 0
            # Failed tiers and phases are retried, also in a run that was not ended (a kill
            # between "phase failed" and "run failed", or an API client failing a phase).
            for tier in run.tiers:
                if tier.state == TierState.FAILED.value:
                    set_tier_state(session, tier, TierState.IN_PROGRESS, via="retry")
            for phase in run.phases:
                if phase.state == PhaseState.FAILED.value:
                    set_phase_state(session, phase, PhaseState.QUEUED, via="retry")
                    # A retried phase gets its per-phase budgets back, and is told why the
                    # last try failed. Its escalation level stays: no point in a weaker model.
                    phase.builder_attempts = phase.auditor_attempts = 0
                    phase.doctor_calls = phase.replans = 0
                    phase.hints = (
                        [f"An earlier try of this phase failed: {phase.last_failure}"]
                        if phase.last_failure
                        else []
                    )
            if not run.repo_path:
                raise ConfigurationError(
                    f"run {self.run_id!r} has no target repository; run it with "
                    "`autopack run PLAN --repo DIR`"
                )
            workspace = GitWorkspace.create(
                Path(run.repo_path), self.run_id, deps.settings.worktrees_dir, run.base_ref
            )
            run.branch = workspace.branch_name
            run.worktree_path = str(workspace.path)
            workspace.ref_guard = self._ensure_lease
            # No status walk in a phase nobody else wrote in: the next savepoint's clean
            # check is answered from what the watch saw written since the last walk.
            workspace.track_worktree()
            if run.state in (
                RunState.RUN_CREATED.value,
                RunState.QUEUED.value,
                RunState.PLAN_BOOTSTRAP.value,
                RunState.PHASE_QUEUEING.value,
            ):
                set_run_state(session, run, RunState.PHASE_EXECUTION, now=deps.clock())
            self.artifacts.ensure()
            spec = run_service.run_spec(run)
            intention = run.intention or build_anchor(spec)
        deps.progress(
            "run_started",
            run_id=self.run_id,
            branch=workspace.branch_name,
            worktree=str(workspace.path),
        )
        client = deps.client_factory()
        # Every model call of the run goes on record in trajectory.jsonl.
        client.recorder = TrajectoryRecorder(self.artifacts, deps.clock)
        return RunContext(
            deps=deps,
            run_id=self.run_id,
            client=client,
            artifacts=self.artifacts,
            worktree=workspace.path,
            workspace=workspace,
            spec=spec,
            intention=intention,
            fence=self.fence,
        )

    def _ensure_lease(self) -> None:
        with self.deps.db.factory() as session:  # a read: never waits for a writer
            assert_lease_current(session, self.fence)

    def _baseline(self, ctx: RunContext) -> Baseline | None:
        """The verification baseline, captured once when the run starts."""
        with unit_of_work(ctx.factory) as session:
            run = session.get(Run, self.run_id)
            assert run is not None
            if run.baseline is not None:
                return Baseline.model_validate(run.baseline)
        commands = test_commands(ctx)
        if not commands:
            return None
        ctx.checkpoint(before="ci")
        self.deps.progress("baseline", run_id=self.run_id)
        toolchain = ctx.environment.toolchain if ctx.environment else None
        try:
            report = run_tests(
                ctx.worktree,
                commands,
                timeout=self.deps.settings.command_timeout_seconds,
                env=project_command_env(ctx),
            )
        except ToolchainError as exc:  # the command could not even start
            raise EnvironmentUnusable(
                diagnose(
                    StartProblem(
                        stage="baseline",
                        problem=f"the test command could not start: {exc.message}",
                        command="; ".join(c.display for c in commands),
                        log_tail=exc.message,
                    ),
                    worktree=ctx.worktree,
                    toolchain=toolchain,
                    generic_fix=[
                        "Name a test command that exists in the run's environment "
                        "(`verify` in the plan), or install what it needs with `setup`."
                    ],
                )
            ) from exc
        self.deps.progress("tested", run_id=self.run_id, summary=report.summary())
        log = self.artifacts.write_ci_log("000_baseline", report.log_tail or report.summary())
        problem = judge_baseline(report, worktree=ctx.worktree, toolchain=toolchain)
        if problem is not None and ctx.spec.baseline == "required":
            with unit_of_work(ctx.factory) as session:
                run = session.get(Run, self.run_id)
                assert run is not None
                run.ci_runs_used += 1
            # Not stored: a resumed run measures its baseline again, after the fix.
            raise EnvironmentUnusable(problem.model_copy(update={"log_path": str(log)}))
        baseline = Baseline.from_report(report)
        with unit_of_work(ctx.factory) as session:
            run = session.get(Run, self.run_id)
            assert run is not None
            run.baseline = baseline.model_dump(mode="json")
            run.ci_runs_used += 1
            ctx.decide(session, "baseline", report.summary())
            if problem is not None:
                ctx.decide(
                    session,
                    "baseline_allowed_failing",
                    f"{problem.problem}; the plan allows a failing baseline, so phases are "
                    "judged on the delta",
                )
        return baseline

    def _stop_at_start(self, problem: StartProblem) -> None:
        """End the run before any model call, with a report that says what to do."""
        reason = problem.reason()
        self.artifacts.write_error(
            component=f"{problem.stage}_unusable",
            error=reason,
            context=problem.model_dump(mode="json"),
        )
        with unit_of_work(self.deps.db.factory) as session:
            session.add(
                DecisionLog(
                    run_id=self.run_id,
                    actor="executor",
                    decision=f"{problem.stage}_unusable",
                    rationale=problem.problem,
                    details={"command": problem.command, "exit_code": problem.exit_code},
                )
            )
        self.artifacts.append_decision(
            {"actor": "executor", "decision": f"{problem.stage}_unusable", "rationale": reason}
        )
        self._end(RunState.DONE_FAILED_ENVIRONMENT, reason)

    # -- tiers and phases -------------------------------------------------------------
    def _tier_ids(self) -> list[int]:
        with unit_of_work(self.deps.db.factory) as session:
            return list(
                session.scalars(
                    select(Tier.id)
                    .where(Tier.run_id == self.run_id)
                    .order_by(Tier.tier_index, Tier.id)
                ).all()
            )

    def _run_tier(self, ctx: RunContext, tier_pk: int, baseline: Baseline | None) -> str:
        with unit_of_work(ctx.factory) as session:
            tier = session.get(Tier, tier_pk)
            assert tier is not None
            if tier.state in (TierState.COMPLETE.value, TierState.SKIPPED.value):
                return "done"
            if tier.state == TierState.PENDING.value:
                set_tier_state(session, tier, TierState.IN_PROGRESS, now=self.deps.clock())
            phases = [
                (p.phase_id, p.state)
                for p in sorted(tier.phases, key=lambda p: (p.phase_index, p.id))
            ]
            tier_id = tier.tier_id
        self.deps.progress("tier_started", tier_id=tier_id)
        optional = {p.phase_id for p in ctx.spec.phases if p.optional}
        for phase_id, state in phases:
            if state == PhaseState.SKIPPED.value and phase_id not in optional:
                self._required_phase_skipped(ctx, tier_pk, phase_id)
            if state in (PhaseState.COMPLETE.value, PhaseState.SKIPPED.value):
                continue
            self._count_phase(phase_id)
            outcome = PhaseExecution(ctx, phase_id, baseline).run()
            if outcome == "parked":
                self._summary()
                return "parked"
            if outcome == "skipped" and phase_id not in optional:
                self._required_phase_skipped(ctx, tier_pk, phase_id)
            if outcome == "failed":
                with unit_of_work(ctx.factory) as session:
                    tier = session.get(Tier, tier_pk)
                    assert tier is not None
                    set_tier_state(session, tier, TierState.FAILED, now=self.deps.clock())
                    phase = session.scalars(
                        select(Phase).where(Phase.run_id == self.run_id, Phase.phase_id == phase_id)
                    ).one()
                    reason = f"phase {phase_id} failed: {phase.last_failure or 'no reason'}"
                raise RunFailed(RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW.value, reason)
        with unit_of_work(ctx.factory) as session:
            tier = session.get(Tier, tier_pk)
            assert tier is not None
            set_tier_state(session, tier, TierState.COMPLETE, now=self.deps.clock())
        self.deps.progress("tier_complete", tier_id=tier_id)
        return "done"

    def _required_phase_skipped(self, ctx: RunContext, tier_pk: int, phase_id: str) -> None:
        """A skipped phase the plan does not mark ``optional`` ends the run for a person:
        the run did not do what the plan asked, so it cannot report success."""
        with unit_of_work(ctx.factory) as session:
            tier = session.get(Tier, tier_pk)
            assert tier is not None
            set_tier_state(session, tier, TierState.FAILED, now=self.deps.clock())
            phase = session.scalars(
                select(Phase).where(Phase.run_id == self.run_id, Phase.phase_id == phase_id)
            ).one()
            why = phase.last_failure or "no reason recorded"
        raise RunFailed(
            RunState.DONE_FAILED_REQUIRES_HUMAN_REVIEW.value,
            f"required phase {phase_id} was skipped ({why}); mark it optional in the plan "
            "if the run may succeed without it",
        )

    def _count_phase(self, phase_id: str) -> None:
        """Count phases started against ``max_phases`` (a resumed phase counts once)."""
        with unit_of_work(self.deps.db.factory) as session:
            run = session.get(Run, self.run_id, options=[defer(Run.spec)])
            phase = session.scalars(
                select(Phase).where(Phase.run_id == self.run_id, Phase.phase_id == phase_id)
            ).one()
            assert run is not None
            # A failed phase queued again on resume started before: it is counted already.
            if phase.state == PhaseState.QUEUED.value and phase.started_at is None:
                if run.phases_executed >= run.max_phases:
                    raise BudgetExhausted(
                        f"phase limit reached: {run.phases_executed} of {run.max_phases} "
                        "phases executed",
                        budget="max_phases",
                    )
                run.phases_executed += 1

    # -- the end ----------------------------------------------------------------------
    def _end(self, state: RunState, reason: str | None) -> None:
        with unit_of_work(self.deps.db.factory) as session:
            run = run_service.get_run(session, self.run_id, check_states=False)
            if RunState(run.state).is_terminal:
                return
            if state is not RunState.DONE_SUCCESS:
                for tier in run.tiers:
                    if tier.state == TierState.IN_PROGRESS.value:
                        set_tier_state(session, tier, TierState.FAILED, now=self.deps.clock())
                # No phase of a finished run is left mid-flight: the one that was running
                # when the run ended failed with it, for the run's reason.
                for phase in run.phases:
                    if phase.state in _IN_FLIGHT:
                        set_phase_state(
                            session,
                            phase,
                            PhaseState.FAILED,
                            reason=f"the run ended: {reason or state.value}",
                            now=self.deps.clock(),
                        )
            set_run_state(session, run, state, reason=reason, now=self.deps.clock())
            executor_memory.remember_run(session, run)
        self._summary()
        self.deps.progress("run_finished", run_id=self.run_id, state=state.value, reason=reason)

    def _summary(self) -> None:
        with unit_of_work(self.deps.db.factory) as session:
            run = run_service.get_run(session, self.run_id, check_states=False)
            run_service.write_layout(run, self.deps.settings.runs_dir)

    def outcome(self) -> RunOutcome:
        return run_outcome(self.deps, self.run_id)


def run_outcome(deps: ExecutorDeps, run_id: str) -> RunOutcome:
    """The run's current outcome, read from the database."""
    with unit_of_work(deps.db.factory) as session:
        run = run_service.get_run(session, run_id, check_states=False)
        phases = sorted(run.phases, key=lambda p: (p.tier.tier_index, p.phase_index))
        data: dict[str, Any] = {
            "run_id": run.id,
            "state": run.state,
            "failure_reason": run.failure_reason,
            "tokens_used": run.tokens_used,
            "token_cap": run.token_cap,
            "branch": run.branch,
            "worktree": run.worktree_path,
            "artifacts": str(deps.settings.runs_dir / run.id),
            "phase_counts": run_service.phase_counts(run),
            "awaiting_approval": [
                p.phase_id for p in phases if p.state == PhaseState.AWAITING_APPROVAL.value
            ],
            "phases": [
                PhaseResult(
                    phase_id=p.phase_id,
                    tier_id=p.tier.tier_id,
                    name=p.name,
                    state=p.state,
                    builder_attempts=p.builder_attempts,
                    auditor_attempts=p.auditor_attempts,
                    doctor_calls=p.doctor_calls,
                    tokens_used=p.tokens_used,
                    commit_sha=p.commit_sha,
                    last_failure=p.last_failure,
                )
                for p in phases
            ],
        }
    return RunOutcome.model_validate(data)


def build_deps(
    settings: Settings, db: Database, *, progress: ProgressListener = no_progress
) -> ExecutorDeps:
    """Executor dependencies for ``settings``: an LLM client per run whose every call is
    recorded (usage and estimation events, committed as they happen) and admitted against
    the provider limits all executors share (``provider_quotas``, services/quotas.py)."""
    config = effective_config(settings)
    usage_sink = make_usage_sink(db.factory, config.price_table())
    estimation_sink = make_estimation_sink(db.factory)
    gate = QuotaGate(db.factory, config.provider_quotas)

    def client_factory() -> LLMClient:
        return build_client(
            settings,
            usage_sink=usage_sink,
            estimation_sink=estimation_sink,
            config=config,
            gate=gate,
        )

    similarity, method = drift_similarity(drift_embedder())
    return ExecutorDeps(
        db=db,
        settings=settings,
        client_factory=client_factory,
        progress=progress,
        similarity=similarity,
        similarity_method=method,
    )


def drift_embedder() -> EmbedderStatus:
    """The embedder the drift check uses: the bundled model when the semantic extra is
    installed (loaded once per process), else none (the check is lexical)."""
    if not extra_installed():
        return EmbedderStatus(None, NO_EXTRA)
    return load_embedder()
