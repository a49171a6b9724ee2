"""What one run's execution carries around: dependencies, budgets and progress events."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Executable, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from autopack.db.database import Database
from autopack.db.orm import Approval, DecisionLog, Phase, Run, utcnow
from autopack.db.session import unit_of_work
from autopack.domain.plan import PhaseSpec, RunSpec
from autopack.environments.base import Environment, EnvironmentSpec
from autopack.errors import BudgetExhausted
from autopack.errors import LeaseLost as LeaseLost  # the executor's name for it, kept
from autopack.executor.artifacts import RunArtifacts
from autopack.llm.client import LLMClient
from autopack.memory.intention import Similarity
from autopack.services.leases import Fence, renew_lease
from autopack.settings import Settings
from autopack.workspace.git import GitWorkspace


class ProgressListener(Protocol):
    """Receives progress events (the CLI renders them live; tests collect them)."""

    def __call__(self, event: str, **data: Any) -> None: ...


def no_progress(event: str, **data: Any) -> None:
    """The default listener: ignore events."""


class Cancelled(Exception):
    """The run was asked to stop; it ends in DONE_CANCELLED at the next step."""


class ShuttingDown(Exception):
    """The process executing the run was asked to stop (a worker got SIGTERM): the step
    that just finished is saved, the lease is released, and another executor continues
    the run from there. The run's state is left as it is."""


def default_owner() -> str:
    """Lease owner id: host, process id and a random suffix (one per executor)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` names a process on this host that no longer exists, so its
    lease can be taken over at once instead of waiting for it to expire."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class ExecutorDeps:
    """Everything the executor needs, passed explicitly."""

    db: Database
    settings: Settings
    client_factory: Callable[[], LLMClient]
    progress: ProgressListener = no_progress
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=default_owner)
    #: Extra variables for the project's commands, over the run environment's own (tests
    #: use it to keep the sample projects fast). Never Autopack's PATH or settings.
    test_env: dict[str, str] = field(default_factory=dict)
    #: Scores a phase summary against the run's intention anchor (e.g. embedding cosine);
    #: None: lexical overlap. ``similarity_method`` names it in the drift decision.
    similarity: Similarity | None = None
    similarity_method: str = "semantic"
    #: Set when the executing process should stop (a worker's SIGTERM): the run stops at
    #: its next checkpoint with ShuttingDown, so no step is cut in half.
    stop_requested: threading.Event = field(default_factory=threading.Event)


@dataclass
class RunContext:
    """Per-run execution state shared by the loop and the phase attempts."""

    deps: ExecutorDeps
    run_id: str
    client: LLMClient
    artifacts: RunArtifacts
    worktree: Path
    workspace: GitWorkspace
    spec: RunSpec  # as created; read once per execution (phases may be replanned in the db)
    #: The environment the project's commands run in, and what it was asked for; set when
    #: the run starts (executor/environment.py), replaced when a phase changes a manifest.
    environment: Environment | None = None
    env_spec: EnvironmentSpec | None = None
    #: The run's intention anchor (stored with the run; rebuilt from the plan for a run
    #: created before anchors existed); given to every agent's prompt.
    intention: str = ""
    #: The lease this execution holds; every write it makes is fenced with it
    #: (services/leases.py), and git refs are moved only while it is current.
    fence: Fence | None = None
    #: The commit the repository's code memory was last indexed at by this execution:
    #: later phases re-index only the files changed since (executor/memory.py).
    memory_indexed_at: str | None = None
    _phase_specs: dict[str, PhaseSpec] | None = field(default=None, repr=False)

    @property
    def factory(self) -> sessionmaker[Session]:
        return self.deps.db.factory

    def phase_spec(self, phase_id: str) -> PhaseSpec | None:
        """The plan's phase ``phase_id`` (a lookup, not a walk of the plan's phases)."""
        if self._phase_specs is None:
            self._phase_specs = {}
            for phase in self.spec.phases:
                self._phase_specs.setdefault(phase.phase_id, phase)
        return self._phase_specs.get(phase_id)

    def approval_expiry(self) -> dict[str, Any]:
        """The expiry every approval this run requests gets (keywords of
        ``services.approvals.request_approval``): the plan's ``approvals`` policy, else
        the settings' defaults, timed by the executor's clock."""
        policy = self.spec.approvals
        settings = self.deps.settings
        return {
            "expire_after_minutes": policy.expire_after_minutes
            or settings.approval_expire_after_minutes,
            "on_expiry": policy.on_expiry or settings.approval_on_expiry,
            "now": self.deps.clock(),
        }

    def decide(
        self,
        session: Session,
        decision: str,
        rationale: str,
        *,
        phase_id: str | None = None,
        actor: str = "executor",
        **details: Any,
    ) -> None:
        """Record an executor decision in the database and the artifact log."""
        session.add(
            DecisionLog(
                run_id=self.run_id,
                phase_id=phase_id,
                actor=actor,
                decision=decision,
                rationale=rationale,
                details=details,
            )
        )
        self.artifacts.append_decision(
            {
                "phase_id": phase_id,
                "actor": actor,
                "decision": decision,
                "rationale": rationale,
                **details,
            }
        )

    def checkpoint(self, *, before: str, phase_id: str | None = None) -> None:
        """Between steps: renew the lease, honour a cancel request and a shutdown of the
        executing process (ShuttingDown), and check the run's
        budgets before an LLM call (``before="llm"``) or a test run (``before="ci"``).

        One read: the run's counters and lease, its approvals' waiting intervals (one row
        each, joined) and, before an LLM call, the phase's tokens against its incident
        cap. A checkpoint runs several times a phase; a write only when the lease needs
        renewing."""
        now = self.deps.clock()
        with unit_of_work(self.factory) as session:
            with_phase = before == "llm" and phase_id is not None
            statement = _checkpoint_read(with_phase=with_phase)
            params = {"cp_run": self.run_id, "cp_phase": phase_id}
            rows = session.execute(statement, params).mappings().all()
            assert rows, f"run {self.run_id!r} vanished while executing"
            first = rows[0]
            run = RunCounters(**{column.key: first[column.key] for column in _CHECKPOINT_COLUMNS})
            seconds = self.deps.settings.lease_seconds
            if self.fence is not None and not lease_is_fresh(run, self.fence, seconds, now):
                # Renewal is conditional on the token, so a lost lease is never taken back.
                renew_lease(session, self.fence, seconds=seconds, now=now)
            if run.cancel_requested:
                raise Cancelled("cancel requested")
            if self.deps.stop_requested.is_set():
                raise ShuttingDown(f"run {self.run_id!r}: this executor is shutting down")
            intervals = [
                (r["requested_at"], r["decided_at"]) for r in rows if r["requested_at"] is not None
            ]
            check_run_budgets(run, now, before=before, waited=waiting_time(intervals, now))
            if with_phase:
                tokens, cap = first["tokens"], first["incident_cap"]
                if cap and tokens is not None and tokens >= cap:
                    raise BudgetExhausted(
                        f"phase {phase_id} used {tokens:,} tokens, its incident "
                        f"token cap is {cap:,}",
                        budget="incident_token_cap",
                        phase_id=phase_id,
                    )


@dataclass(frozen=True)
class RunCounters:
    """What a checkpoint reads of the run's row: its lease and what its budgets count
    (the row's own names, so a :class:`Run` serves wherever these are read)."""

    lease_owner: str | None
    lease_token: int
    lease_expires_at: datetime | None
    cancel_requested: bool
    tokens_used: int
    token_cap: int
    started_at: datetime | None
    max_duration_minutes: int
    ci_runs_used: int
    ci_run_cap: int | None
    minor_issues_count: int
    max_minor_issues_total: int


#: The run's columns a checkpoint reads, in :class:`RunCounters`' order.
_CHECKPOINT_COLUMNS = (
    Run.lease_owner,
    Run.lease_token,
    Run.lease_expires_at,
    Run.cancel_requested,
    Run.tokens_used,
    Run.token_cap,
    Run.started_at,
    Run.max_duration_minutes,
    Run.ci_runs_used,
    Run.ci_run_cap,
    Run.minor_issues_count,
    Run.max_minor_issues_total,
)


@cache
def _checkpoint_read(*, with_phase: bool) -> Executable:
    """The checkpoint's one read (run ``cp_run``; with the phase ``cp_phase``'s tokens
    and incident cap), built once per shape."""
    statement = (
        select(*_CHECKPOINT_COLUMNS, Approval.requested_at, Approval.decided_at)
        .outerjoin(Approval, Approval.run_id == Run.id)
        .where(Run.id == bindparam("cp_run"))
    )
    if not with_phase:
        return statement
    of_phase = (Phase.run_id == bindparam("cp_run"), Phase.phase_id == bindparam("cp_phase"))
    return statement.add_columns(
        select(Phase.tokens_used).where(*of_phase).scalar_subquery().label("tokens"),
        select(Phase.incident_token_cap).where(*of_phase).scalar_subquery().label("incident_cap"),
    )


def lease_is_fresh(run: Run | RunCounters, fence: Fence, seconds: int, now: datetime) -> bool:
    """``fence`` holds the run's lease (of ``seconds``) with more than two thirds of it
    left: renewed moments ago (by the heartbeat or the last checkpoint), so no takeover
    can come before it runs out and a checkpoint reads instead of writing a renewal."""
    return (
        run.lease_owner == fence.owner
        and run.lease_token == fence.token
        and run.lease_expires_at is not None
        and run.lease_expires_at - now > timedelta(seconds=seconds * 2 / 3)
    )


def waiting_time(intervals: list[tuple[datetime, datetime | None]], now: datetime) -> timedelta:
    """How long a run waited for people: the union of its approvals' (requested, decided)
    intervals, an undecided one lasting until ``now``."""
    total = timedelta()
    end: datetime | None = None
    for start, stop in sorted((s, d or now) for s, d in intervals):
        if end is not None and start < end:
            start = end
        if stop > start:
            total += stop - start
            end = stop
    return total


def check_run_budgets(
    run: Run | RunCounters, now: datetime, *, before: str, waited: timedelta = timedelta()
) -> None:
    """Raise BudgetExhausted naming the first run budget that is spent. ``waited`` (time
    parked for a person's approval) does not count against the duration cap."""
    if run.tokens_used >= run.token_cap:
        raise BudgetExhausted(
            f"token cap reached: {run.tokens_used:,} of {run.token_cap:,} tokens used",
            budget="token_cap",
        )
    if run.started_at is not None:
        elapsed = (now - run.started_at - waited).total_seconds() / 60
        if elapsed >= run.max_duration_minutes:
            raise BudgetExhausted(
                f"duration cap reached: {elapsed:.1f} of {run.max_duration_minutes} minutes",
                budget="max_duration",
            )
    if before == "ci" and run.ci_run_cap is not None and run.ci_runs_used >= run.ci_run_cap:
        raise BudgetExhausted(
            f"CI run cap reached: {run.ci_runs_used} of {run.ci_run_cap} test runs",
            budget="ci_run_cap",
        )
    if run.minor_issues_count > run.max_minor_issues_total:
        raise BudgetExhausted(
            f"too many minor issues: {run.minor_issues_count} (cap {run.max_minor_issues_total})",
            budget="max_minor_issues",
        )
